"""Run one parameterised notebook with Papermill, reporting progress per cell.

Papermill's own `cwd` argument changes the *process* working directory, which parallel components in one
worker cannot share; the kernel's directory is set through nbclient's `resources` instead. The kernel is
started and shut down by nbclient for every run, whatever happens (success, error, timeout, cancel).
"""

from __future__ import annotations

import asyncio
import contextvars
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.exceptions import PapermillExecutionError
from papermill.log import logger as papermill_logger
from papermill.utils import merge_kwargs, remove_args
from traitlets.config import Config

ENGINE_NAME = "workbench"
CellCallback = Callable[[int, int], None]  # (cells done, cells total)


class NotebookError(Exception):
    """The notebook itself failed (a cell raised, timed out, or no valid result): retrying will not help."""

    def __init__(self, message: str, *, cell_index: int | None = None, ename: str = "", evalue: str = "") -> None:
        super().__init__(message)
        self.cell_index, self.ename, self.evalue = cell_index, ename, evalue

    def as_dict(self) -> dict[str, Any]:
        return {"cell_index": self.cell_index, "ename": self.ename, "evalue": self.evalue, "message": str(self)}


class KernelDiedError(Exception):
    """The kernel process died mid-run (killed, out of memory): worth a retry."""


class _ProgressManager(NotebookExecutionManager):
    def __init__(self, nb: NotebookNode, on_cell: CellCallback | None, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self._on_cell = on_cell
        self._done = 0
        self._total = sum(1 for c in nb.cells if c.cell_type == "code")

    def notebook_start(self, **kwargs: Any) -> None:
        super().notebook_start(**kwargs)
        if self._on_cell:
            self._on_cell(0, self._total)

    def cell_complete(self, cell: NotebookNode, cell_index: int | None = None, **kwargs: Any) -> None:
        super().cell_complete(cell, cell_index=cell_index, **kwargs)
        if cell.cell_type == "code" and self._on_cell:
            self._done += 1
            self._on_cell(self._done, self._total)


class ProgressEngine(NBClientEngine):
    """Papermill's nbclient engine, plus a callback after every code cell (heartbeats, progress rows) and the
    kernel's environment (how secrets reach a notebook without becoming parameters)."""

    @classmethod
    def execute_managed_notebook(  # type: ignore[override]
        cls,
        nb_man: NotebookExecutionManager,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        kernel_env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> NotebookNode:
        # Papermill's own body, except that the kernel is started with `kernel_env` when one is given.
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs, timeout=execution_timeout or kwargs.get("timeout"), startup_timeout=start_timeout,
            kernel_name=kernel_name, log=papermill_logger, log_output=log_output, stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        client = PapermillNotebookClient(nb_man, **final_kwargs)
        return client.execute(**({"env": kernel_env} if kernel_env is not None else {}))

    @classmethod
    def execute_notebook(  # type: ignore[override]
        cls,
        nb: NotebookNode,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = False,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        on_cell: CellCallback | None = None,
        **kwargs: Any,
    ) -> NotebookNode:
        nb_man = _ProgressManager(
            nb, on_cell, output_path=output_path, progress_bar=progress_bar,
            log_output=log_output, autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


papermill_engines.register(ENGINE_NAME, ProgressEngine)


@dataclass
class NotebookRun:
    """The executed notebook (None if it never ran) and the failure, if any."""

    notebook: NotebookNode | None
    error: Exception | None


def run_notebook(
    input_path: Path,
    output_path: Path,
    parameters: dict[str, Any],
    *,
    kernel_name: str,
    cwd: Path,
    cell_timeout: int,
    on_cell: CellCallback | None = None,
    start_timeout: int = 60,
    env: dict[str, str] | None = None,
) -> NotebookRun:
    """Execute `input_path` into `output_path`; never raises for notebook failures, returns them.

    Errors come back classified: `NotebookError` (deterministic, don't retry) or `KernelDiedError`;
    anything else (e.g. missing file) propagates. The executed notebook is returned even on failure.
    `env`, when given, is the kernel's whole environment (otherwise it inherits this process's).
    """
    error: Exception | None = None
    caller = contextvars.copy_context()

    def cell_done(done: int, total: int) -> None:
        if on_cell is not None:
            caller.run(on_cell, done, total)  # the caller's context (e.g. Temporal's activity context)

    def execute(sockets: str) -> NotebookNode:
        return papermill.execute_notebook(
            str(input_path),
            str(output_path),
            parameters=parameters,
            engine_name=ENGINE_NAME,
            kernel_name=kernel_name,
            progress_bar=False,
            start_timeout=start_timeout,
            execution_timeout=cell_timeout,
            resources={"metadata": {"path": str(cwd)}},
            # Unix sockets in a private folder instead of loopback TCP: no other local user can connect.
            config=Config({"KernelManager": {"transport": "ipc", "ip": f"{sockets}/kernel"}}),
            on_cell=cell_done,
            kernel_env=env,
        )

    try:
        # A short absolute path: socket paths are limited to about 100 bytes.
        with tempfile.TemporaryDirectory(prefix="wbk-") as sockets:
            return NotebookRun(_in_fresh_context(lambda: execute(sockets)), None)
    except PapermillExecutionError as exc:
        error = NotebookError(
            f"cell {exc.cell_index} raised {exc.ename}: {exc.evalue}",
            cell_index=exc.cell_index, ename=exc.ename, evalue=exc.evalue,
        )
    except CellTimeoutError as exc:
        error = NotebookError(
            f"a cell ran longer than {cell_timeout} s", ename="CellTimeoutError", evalue=str(exc).strip()[:2000]
        )
    except DeadKernelError as exc:
        error = KernelDiedError(f"the kernel died: {exc}")
    saved = nbformat.read(str(output_path), as_version=4) if output_path.exists() else None
    if isinstance(error, NotebookError) and saved is not None:
        # Papermill puts an error banner cell on top of the saved notebook; index into what we store.
        marked = _failed_cell(saved)
        if marked is not None and marked != error.cell_index:
            error.cell_index = marked
            if error.ename != "CellTimeoutError":
                error.args = (f"cell {marked} raised {error.ename}: {error.evalue}",)
    return NotebookRun(saved, error)


def _in_fresh_context(func: Callable[[], NotebookNode]) -> NotebookNode:
    """Run `func` in an empty context and close the event loops it left there.

    jupyter_core keeps "this thread's" event loop in a context variable; threads that inherit a copied context
    (Temporal runs sync activities that way) would otherwise share one loop and collide when they run at once.
    """
    context = contextvars.Context()
    try:
        return context.run(func)
    finally:
        for value in context.values():
            if isinstance(value, asyncio.AbstractEventLoop) and not value.is_running() and not value.is_closed():
                value.close()
        asyncio.set_event_loop(None)


def _failed_cell(nb: NotebookNode) -> int | None:
    # Papermill marks the cell that was running when execution stopped.
    for index, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            return index
    return None
