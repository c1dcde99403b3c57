"""Run one parameterised notebook with Papermill, reporting progress per cell.

Papermill's own `cwd` argument changes the *process* working directory, which parallel components in one
worker cannot share; the kernel's directory is set through nbclient's `resources` instead. The kernel is
started and shut down by nbclient for every run, whatever happens (success, error, timeout, cancel); its sockets
and connection file live in a private folder, and every process it started is killed after the run
(`workbench.kernels`). When the process has a kernel pool installed (`workbench.kernel_pool`, in workers), a run
whose kernel would be started the same way takes a pre-started, warmed kernel from it instead; that kernel is then
shut down and ended after the run just the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill
import zmq
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_hook, run_sync
from nbformat import NotebookNode
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.exceptions import PapermillExecutionError
from papermill.log import logger as papermill_logger
from papermill.utils import merge_kwargs, remove_args
from traitlets.config import Config

from workbench import kernel_pool
from workbench.kernel_forks import KernelTemplates, use_templates
from workbench.kernel_pool import KernelPool, chdir_code
from workbench.kernels import kernel_env, kernel_folder, kernel_manager_config

ENGINE_NAME = "workbench"
RECONNECT_MS = 5  # how soon a client retries connecting to a kernel socket not bound yet
CellCallback = Callable[[int, int], None]  # (cells done, cells total)
TIMED_OUT, KERNEL_DIED = "CellTimeoutError", "DeadKernelError"  # the error outputs of cells that stopped a run


class NotebookError(Exception):
    """The notebook itself failed (a cell raised, timed out, or no valid result): retrying will not help."""

    def __init__(self, message: str, *, cell_index: int | None = None, ename: str = "", evalue: str = "") -> None:
        super().__init__(message)
        self.cell_index, self.ename, self.evalue = cell_index, ename, evalue

    def as_dict(self) -> dict[str, Any]:
        return {"cell_index": self.cell_index, "ename": self.ename, "evalue": self.evalue, "message": str(self)}


class KernelDiedError(Exception):
    """The kernel process died mid-run (killed, out of memory, the code ended the process): worth one retry."""

    def __init__(self, message: str, *, cell_index: int | None = None, cause: str = "") -> None:
        super().__init__(message)
        self.cell_index, self.cause = cell_index, cause

    def as_dict(self) -> dict[str, Any]:
        return {"cell_index": self.cell_index, "ename": "KernelDiedError", "evalue": self.cause, "message": str(self)}


class _ProgressManager(NotebookExecutionManager):
    def __init__(self, nb: NotebookNode, on_cell: CellCallback | None, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self._on_cell = on_cell
        self._done = 0
        self._total = sum(1 for c in nb.cells if c.cell_type == "code")
        self.running: int | None = None  # the index of the cell started last
        self.stopped = False  # a timeout or dead kernel was recorded as that cell's error

    def notebook_start(self, **kwargs: Any) -> None:
        super().notebook_start(**kwargs)
        if self._on_cell:
            self._on_cell(0, self._total)

    def cell_start(self, cell: NotebookNode, cell_index: int | None = None, **kwargs: Any) -> None:
        super().cell_start(cell, cell_index=cell_index, **kwargs)
        self.running = cell_index

    def cell_complete(self, cell: NotebookNode, cell_index: int | None = None, **kwargs: Any) -> None:
        super().cell_complete(cell, cell_index=cell_index, **kwargs)
        if cell.cell_type == "code" and self._on_cell:
            self._done += 1
            self._on_cell(self._done, self._total)

    def save(self, **kwargs: Any) -> None:
        """Papermill writes the whole notebook (figures included) at every cell's start and end: some thirty
        writes and validations per component, a tenth of a component's time in the worker. Only a stopped run is
        written here; papermill writes every other outcome once, when it ends (`execute_notebook`)."""
        if self.stopped:
            super().save(**kwargs)

    def stop_at_running_cell(self, ename: str, evalue: str) -> None:
        """Make a timeout or dead kernel the running cell's error output; papermill would mark that cell completed."""
        assert self.running is not None
        cell = self.nb.cells[self.running]
        error = nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])
        cell.outputs.append(error)
        self.cell_exception(cell, cell_index=self.running)
        self.stopped = True
        self.save()


class _Client(PapermillNotebookClient):
    nb_man: _ProgressManager
    kernel_setup: str | None = None  # run silently before the first cell (a pool kernel: the run's folder)
    templates: KernelTemplates | None = None  # fork the kernel from this template instead of starting a process
    before_cells: Callable[[], object] | None = None  # waited for once the kernel is ready (on a thread)

    def create_kernel_manager(self) -> Any:
        km = super().create_kernel_manager()
        if self.templates is not None:
            use_templates(km, self.templates)
        return km

    async def async_start_new_kernel_client(self) -> Any:
        # nbclient's, with `_wait_ready` for jupyter_client's wait_for_ready, which ends by waiting 0.2 s for IOPub
        # to fall silent: a fifth of a warm kernel's start, for messages every reader here filters out anyway.
        assert self.km is not None
        try:
            self.kc = kc = self.km.client()
            # A forked kernel binds its sockets some 50 ms after the client connects; ZeroMQ retries a connection
            # to a socket not yet there after RECONNECT_IVL, 100 ms by default: most of a fork's start.
            kc.context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
            await ensure_async(kc.start_channels())
            await _wait_ready(kc, self.startup_timeout)
        except Exception:
            await self._async_cleanup_kernel()
            raise
        kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        try:
            if self.kernel_setup:
                msg_id = kc.execute(self.kernel_setup, silent=True, store_history=False, allow_stdin=False)
                reply = await self.async_wait_for_reply(msg_id)
                if reply is None or reply["content"]["status"] != "ok":
                    content = reply["content"] if reply is not None else {}
                    raise RuntimeError(f"preparing the pool kernel failed: {content.get('ename', 'no reply')}: "
                                       f"{content.get('evalue', '')}")
            if self.before_cells is not None:
                await asyncio.to_thread(self.before_cells)
        except BaseException:
            await self._async_cleanup_kernel()
            raise
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # papermill calls the synchronous one

    def papermill_execute_cells(self) -> None:
        try:
            super().papermill_execute_cells()
        except CellTimeoutError:
            self.nb_man.stop_at_running_cell(TIMED_OUT, f"the cell ran longer than {self.timeout} s")
            raise  # on, so that nbclient shuts the kernel down
        except DeadKernelError:
            self.nb_man.stop_at_running_cell(KERNEL_DIED, "the kernel died while running this cell")
            raise


async def _wait_ready(kc: Any, timeout: float) -> None:
    """Wait until the kernel answers on the shell channel and its IOPub messages reach this client.

    A subscriber receives only what is published after its subscription has reached the kernel, which is often
    just after the kernel's first reply: kernel_info requests are repeated, 50 ms apart, until the IOPub status
    message the kernel publishes for one of them has come.
    """
    deadline = time.monotonic() + timeout

    async def check() -> None:
        if not await ensure_async(kc.is_alive()):
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    while True:
        msg_id = kc.kernel_info()
        reply = await _reply_to(kc.shell_channel, msg_id, 1.0)
        if reply is not None:
            break
        await check()
    kc._handle_kernel_info_reply(reply)  # adapts the protocol version, as wait_for_ready does
    while await _reply_to(kc.iopub_channel, msg_id, 0.05) is None:
        await check()
        msg_id = kc.kernel_info()


async def _reply_to(channel: Any, msg_id: str, timeout: float) -> dict[str, Any] | None:
    """The next message on `channel` whose parent is `msg_id` (others are dropped), or None after `timeout` s."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ensure_async(channel.get_msg(timeout=left))
        except queue.Empty:
            return None
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg
    return None


class ProgressEngine(NBClientEngine):
    """Papermill's nbclient engine, plus a callback after every code cell (heartbeats, progress rows), the
    kernel's environment (how secrets reach a notebook without becoming parameters), and a timeout or dead kernel
    recorded as its cell's error, so papermill reports it like any failed cell."""

    @classmethod
    def execute_managed_notebook(  # type: ignore[override]
        cls,
        nb_man: _ProgressManager,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        kernel_env: dict[str, str] | None = None,
        km: Any = None,
        kernel_setup: str | None = None,
        templates: KernelTemplates | None = None,
        before_cells: Callable[[], object] | None = None,
        **kwargs: Any,
    ) -> NotebookNode:
        # Papermill's own body, except that the kernel is started with `kernel_env` when one is given, or `km`'s
        # kernel (already started) runs the notebook after `kernel_setup`, and is shut down after it like a fresh one.
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs, timeout=execution_timeout or kwargs.get("timeout"), startup_timeout=start_timeout,
            kernel_name=kernel_name, log=papermill_logger, log_output=log_output, stdout_file=stdout_file,
            stderr_file=stderr_file,
            # Every kernel serves one run and is ended with its processes after it: a graceful shutdown (the
            # kernel's atexit hooks, then waiting for it to exit) only made each component half a second longer.
            shutdown_kernel="immediate",
        )
        client = _Client(nb_man, km=km, **final_kwargs)
        client.kernel_setup, client.templates, client.before_cells = kernel_setup, templates, before_cells
        try:
            return client.execute(**({"env": kernel_env} if kernel_env is not None else {}),
                                  **({"cleanup_kc": True} if km is not None else {}))
        except (CellTimeoutError, DeadKernelError):
            if not nb_man.stopped:
                raise
            return nb_man.nb  # papermill now raises the cell's error output, with its index

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
    """The executed notebook (None if it never ran), the failure, if any, and the notebook's JSON text when it is
    the file papermill wrote for it (so that storing it needs no second serialisation)."""

    notebook: NotebookNode | None
    error: Exception | None
    text: str | None = None

    def notebook_text(self) -> str | None:
        if self.text is not None:
            return self.text
        return nbformat.writes(self.notebook) if self.notebook is not None else None


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
    memory_limit_mb: int | None = None,
    pool: KernelPool | None = None,
    before_cells: Callable[[], object] | None = None,
) -> NotebookRun:
    """Execute `input_path` into `output_path`; never raises for notebook failures, returns them.

    Errors come back classified: `NotebookError` (deterministic, don't retry) or `KernelDiedError`, both with the
    index of the failed cell in the returned notebook, where that cell is marked failed; anything else (e.g.
    missing file) propagates. The executed notebook is returned even on failure. `env`, when given, is the
    kernel's whole environment (otherwise it inherits this process's). `memory_limit_mb` limits the address space
    of the kernel and of each process it starts. `pool` (default: the installed one, if any) may provide a
    pre-started kernel started with the same kernel name, environment and memory limit; otherwise, or when it has
    none ready, a fresh kernel is started. `before_cells`, when given, is called (on a thread) once the kernel is
    ready and before the first cell: whatever the cells need that can be made while the kernel starts (the
    caller's input files). What it raises ends the run, kernel shut down, and propagates.
    """
    caller = contextvars.copy_context()

    def cell_done(done: int, total: int) -> None:
        if on_cell is not None:
            caller.run(on_cell, done, total)  # the caller's context (e.g. Temporal's activity context)

    failure: PapermillExecutionError | DeadKernelError
    base_env = dict(os.environ) if env is None else env
    pool = pool if pool is not None else kernel_pool.installed()
    with contextlib.ExitStack() as stack:
        pooled = pool.take(kernel_name, base_env, memory_limit_mb) if pool is not None else None
        if pool is not None:
            stack.callback(pool.run_ended)
        if pooled is None:
            folder = stack.enter_context(kernel_folder())
            start: dict[str, Any] = {"kernel_env": kernel_env(base_env, folder, memory_limit_mb)}
            templates = pool.templates_for(kernel_name, base_env) if pool is not None else None
            if templates is not None:  # none ready: fork one from the pool's template rather than start one
                start["templates"] = templates
                # A fork carries its template's run marker, not this run's: ended by its pidfd, before the folder.
                stack.callback(templates.kill, str(folder))
        else:  # started in its own folder; shut down (by nbclient) and ended (here) after the run all the same
            folder = pooled.folder
            stack.callback(pooled.dispose)
            start = {"km": pooled.km, "kernel_setup": chdir_code(cwd)}

        def execute() -> NotebookNode:
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
                config=Config({"KernelManager": kernel_manager_config(folder)}),
                on_cell=cell_done,
                before_cells=before_cells,
                **start,
            )

        try:
            executed = _in_fresh_context(execute)
            # papermill's last act was writing `executed` there (nbformat.writes): the same text.
            return NotebookRun(executed, None, output_path.read_text(encoding="utf-8"))
        except (PapermillExecutionError, DeadKernelError) as exc:
            failure = exc
        except RuntimeError as exc:
            if "Kernel died" not in str(exc):  # jupyter_client's words for a kernel that died while starting
                raise
            failure = DeadKernelError(str(exc))
    saved = nbformat.read(str(output_path), as_version=4) if output_path.exists() else None
    return NotebookRun(saved, _classify(failure, saved, cell_timeout, memory_limit_mb))


def _classify(
    failure: PapermillExecutionError | DeadKernelError,
    saved: NotebookNode | None,
    cell_timeout: int,
    memory_limit_mb: int | None,
) -> NotebookError | KernelDiedError:
    # Papermill puts an error banner cell on top of the saved notebook: index into what is stored.
    index = _failed_cell(saved) if saved is not None else None
    if isinstance(failure, DeadKernelError) or failure.ename == KERNEL_DIED:
        cause = (f"out of memory: limit {memory_limit_mb} MB, or the code ended the process" if memory_limit_mb
                 else "the code ended the process, or the machine ran out of memory")
        where = f" at cell {index}" if index is not None else ""
        return KernelDiedError(f"the kernel died{where} (likely {cause})", cell_index=index, cause=cause)
    index = failure.cell_index if index is None else index
    if failure.ename == TIMED_OUT:
        message = f"cell {index} ran longer than {cell_timeout} s"
    elif failure.ename == "MemoryError" and memory_limit_mb:
        message = f"cell {index} raised MemoryError: the notebook ran out of memory: limit {memory_limit_mb} MB"
    else:
        message = f"cell {index} raised {failure.ename}: {failure.evalue}"
    return NotebookError(message, cell_index=index, ename=failure.ename, evalue=failure.evalue)


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
