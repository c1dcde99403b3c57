"""A pool of pre-started, warmed, single-use notebook kernels for one worker process.

A fresh kernel spends seconds importing pandas, matplotlib, SciPy and scikit-learn before a notebook's first cell
does anything. The pool keeps `size` kernels started beforehand, each exactly as `run_notebook` starts one (its own
private folder from `workbench.kernels`, Unix sockets, the `WBK_RUN` marker, the memory limit applied by the
kernel spec's launcher), with a list of modules already imported. `run_notebook` takes one when a ready kernel
fits the run (same kernel name, environment and memory limit), changes its working directory to the run's, runs
the notebook on it and then shuts it down and ends its processes as it does a fresh kernel's: a pool kernel serves
one run only, so nothing carries over from one run to the next. When none fits or none is ready, the run starts a
fresh kernel as before; it never waits for the pool.

A background thread keeps the pool full, one kernel at a time and only while fewer runs than cores are in
progress (warming is CPU work the running notebooks would lose), replaces kernels that die while waiting (liveness
is also checked before a kernel is handed out) or whose environment has gone stale, and backs off while kernels
fail to start. `shutdown()` ends every kernel the pool still holds. Pool kernels carry the same folder naming and
marker as run kernels, so `sweep_kernel_leftovers` removes those of a worker that was killed.

A worker installs its pool with `install()`; `run_notebook` uses the installed pool (none by default, so direct
callers such as JupyterLab, the CLI and tests behave as before).
"""

from __future__ import annotations

import ast
import asyncio
import atexit
import contextlib
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets.config import Config

from workbench import kernel_forks
from workbench.kernel_forks import KernelTemplates, template_env, use_templates
from workbench.kernels import (
    kernel_env,
    kernel_manager_config,
    new_kernel_folder,
    remove_kernel_folder,
    usable_cpus,
)

if TYPE_CHECKING:
    from workbench.config import Settings

log = logging.getLogger("workbench.kernel_pool")

T = TypeVar("T")
EnvSource = Mapping[str, str] | Callable[[], Mapping[str, str]] | None

# Imports run in the kernel without binding a name in the notebook's namespace; a module that fails to import is
# skipped (the notebook will meet the same error, if it imports it) and reported as missing.
_WARM_CODE = """\
def _wbk_warm(names):
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException:
            pass
_wbk_warm({names!r})
del _wbk_warm
"""
_MISSING_EXPRESSION = "[n for n in {names!r} if n not in __import__('sys').modules]"


def parse_imports(text: str) -> list[str]:
    """`"pandas, numpy,,matplotlib.pyplot"` -> `["pandas", "numpy", "matplotlib.pyplot"]`."""
    return [name.strip() for name in text.split(",") if name.strip()]


def chdir_code(path: Path) -> str:
    """Code that changes a Python kernel's working directory without binding a name."""
    return f"__import__('os').chdir({str(path)!r})"


def _run(coro_factory: Callable[[], Any]) -> Any:
    """Run the coroutine `coro_factory()` makes on a private event loop (in a helper thread if this thread already
    runs a loop, e.g. the worker's), in an empty context."""
    def run() -> Any:
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coro_factory())
        finally:
            loop.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return contextvars.Context().run(run)
    with ThreadPoolExecutor(1) as helper:
        return helper.submit(run).result()


def _release(km: AsyncKernelManager) -> None:
    """Close a kernel manager whose kernel was killed (its control socket, ZeroMQ context, connection files)."""
    if km.context.closed:  # shut down (and cleaned up) already
        return
    try:
        _run(km.cleanup_resources)
    except Exception:
        log.debug("kernel pool: releasing a kernel manager failed", exc_info=True)


@dataclass(eq=False)
class PooledKernel:
    """A started, warmed kernel waiting for one run."""

    km: AsyncKernelManager
    folder: Path  # its private folder; the folder's path is its WBK_RUN marker
    kernel_name: str
    env: dict[str, str]  # the environment it was started with, before the marker and the memory limit
    memory_limit_mb: int | None
    missing: list[str] = field(default_factory=list)  # warm-up imports that failed
    pid: int | None = None  # the kernel process (the launcher execs ipykernel in place)
    started: float = field(default_factory=time.monotonic)
    templates: KernelTemplates | None = None  # what it was forked from, if it was

    def alive(self) -> bool:
        process = getattr(self.km.provisioner, "process", None)
        return process is not None and process.poll() is None

    def fits(self, kernel_name: str, env: Mapping[str, str], memory_limit_mb: int | None) -> bool:
        return kernel_name == self.kernel_name and memory_limit_mb == self.memory_limit_mb and dict(env) == self.env

    def dispose(self) -> None:
        """End the kernel's processes (after a run nbclient has shut it down already), remove its folder, and
        release the manager's sockets if nobody shut it down."""
        try:
            if self.templates is not None:  # a fork carries its template's marker, not its own: by its pidfd
                self.templates.kill(str(self.folder))
            remove_kernel_folder(self.folder)  # SIGKILL to every process carrying its marker, the kernel included
        finally:
            _release(self.km)


class KernelPool:
    """Up to `size` started and warmed kernels, refilled by a background thread; see the module docstring.

    `env` is the kernels' environment (before the marker and memory limit): a mapping, a function called before
    each start (so a changed environment replaces waiting kernels), or None for this process's environment.
    """

    def __init__(
        self,
        *,
        kernel_name: str,
        size: int,
        env: EnvSource = None,
        memory_limit_mb: int | None = None,
        warm_imports: Sequence[str] = (),
        start_timeout: float = 60,
        warm_timeout: float = 120,
        root: Path | None = None,
        check_interval: float = 1.0,
        busy_runs: int | None = None,
        fork: bool = False,
    ) -> None:
        self.kernel_name, self.size, self.memory_limit_mb = kernel_name, size, memory_limit_mb
        self.warm_imports = list(warm_imports)
        # Kernels forked from a warm template (kernel_forks): a start costs a fork, not an interpreter and imports.
        self.templates = KernelTemplates(self.warm_imports, root, start_timeout=warm_timeout) \
            if fork and kernel_forks.supported() else None
        self.start_timeout, self.warm_timeout, self.check_interval = start_timeout, warm_timeout, check_interval
        self.root = root
        # Refill only while fewer runs than this are in progress: warming a kernel is CPU work that would slow the
        # running notebooks; it uses spare cores (default: as many as this process may use).
        self.busy_runs = busy_runs if busy_runs is not None else usable_cpus()
        self._env = env
        self._running = 0  # runs between take() and run_ended()
        self._ready: list[PooledKernel] = []
        self._starting: set[Path] = set()
        self._retired: list[PooledKernel] = []  # found dead or stale by take(); the filler disposes of them
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.hits = self.misses = self.started = self.failed = 0

    # --- the worker's side

    def start(self) -> KernelPool:
        """Start filling in the background; with size 0, only start the template (no-op without forks, or when
        already started)."""
        with self._changed:
            if (self.size <= 0 and self.templates is None) or self._thread is not None or self._stopping:
                return self
            target = self._fill if self.size > 0 else self._warm_template
            self._thread = threading.Thread(target=target, name="kernel-pool", daemon=True)
            self._thread.start()
        atexit.register(self.shutdown)
        return self

    def _end_starting(self, folder: Path) -> None:
        if self.templates is not None:
            self.templates.kill(str(folder))
        remove_kernel_folder(folder)

    def templates_for(self, kernel_name: str, env: Mapping[str, str]) -> KernelTemplates | None:
        """The template a run may fork a new kernel from when the pool has none ready for it: only for the
        pool's kernel name and environment, give or take `WORKBENCH_*` settings and secrets (another environment
        would replace the template)."""
        if self.templates is None or self.templates.broken or kernel_name != self.kernel_name or self._stopping:
            return None
        try:
            return self.templates if template_env(env) == template_env(self._current_env()) else None
        except Exception:
            return None

    def shutdown(self, timeout: float = 15) -> None:
        """Stop refilling and end every kernel the pool holds (kernels already handed out belong to their runs)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            starting = list(self._starting)
        if self.templates is not None:  # a template still importing: end it instead of waiting for it
            self.templates.abort_start()
        for folder in starting:  # end a warm-up in progress instead of waiting for it
            self._end_starting(folder)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._changed:
            leftovers, self._ready, self._retired = [*self._ready, *self._retired], [], []
            starting = list(self._starting)
        for kernel in leftovers:
            kernel.dispose()
        for folder in starting:  # only if the filler is stuck past the timeout
            self._end_starting(folder)
        if self.templates is not None:  # after its kernels, which it reaps (orphans may not be reaped here)
            self.templates.close()
        atexit.unregister(self.shutdown)

    def __enter__(self) -> KernelPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # --- the runs' side

    def take(self, kernel_name: str, env: Mapping[str, str], memory_limit_mb: int | None) -> PooledKernel | None:
        """A live ready kernel started for this kernel name, environment and memory limit, or None at once.

        Counts a run in progress until `run_ended()`, whatever it returns.
        """
        with self._changed:
            self._running += 1
            chosen = None
            for kernel in list(self._ready):
                if not kernel.alive():
                    self._ready.remove(kernel)
                    self._retired.append(kernel)
                elif chosen is None and kernel.fits(kernel_name, env, memory_limit_mb):
                    self._ready.remove(kernel)
                    chosen = kernel
            if chosen is None:
                self.misses += 1
            else:
                self.hits += 1
            ready, running = len(self._ready), self._running
            self._changed.notify_all()
        log.info("kernel pool: %s (%d ready, %d runs in progress)",
                 f"run on pool kernel {chosen.pid}" if chosen is not None else "fresh kernel", ready, running)
        return chosen

    def run_ended(self) -> None:
        """A run that called take() has ended (the pool refills while few runs are in progress)."""
        with self._changed:
            self._running = max(0, self._running - 1)
            self._changed.notify_all()

    @property
    def ready(self) -> int:
        with self._changed:
            return len(self._ready)

    def wait_ready(self, count: int | None = None, timeout: float = 60) -> bool:
        """Wait until `count` (default: size) kernels are ready; False on timeout. For tests and benchmarks."""
        count = self.size if count is None else count
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._ready) < count:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping:
                    return False
                self._changed.wait(min(left, 0.2))
            return True

    def kernels(self) -> list[PooledKernel]:
        """The ready kernels (a copy), oldest first."""
        with self._changed:
            return list(self._ready)

    # --- the filler thread

    def _current_env(self) -> dict[str, str]:
        source = self._env() if callable(self._env) else self._env
        return dict(os.environ if source is None else source)

    def _fill(self) -> None:
        failures, retry_at = 0, 0.0
        while True:
            with self._changed:
                if self._stopping:
                    return
                retired, self._retired = self._retired, []
            try:
                env: dict[str, str] | None = self._current_env()
            except Exception:
                log.exception("kernel pool: could not compute the kernels' environment")
                env = None
            retired += self._sweep(env)
            for old in retired:
                old.dispose()
            with self._changed:
                wanted = (not self._stopping and env is not None and len(self._ready) < self.size
                          and self._running < self.busy_runs)
            if wanted and env is not None and time.monotonic() >= retry_at:
                kernel = self._start_one(env)
                if kernel is None:  # back off while kernels fail to start
                    failures += 1
                    retry_at = time.monotonic() + min(60.0, 2.0 ** failures)
                else:
                    failures = 0
                    with self._changed:
                        if not self._stopping:
                            self._ready.append(kernel)
                            self._changed.notify_all()
                            continue
                    kernel.dispose()
                    return
            pause = self.check_interval
            if wanted:
                pause = max(0.05, min(pause, retry_at - time.monotonic()))
            with self._changed:
                if not self._stopping:
                    self._changed.wait(pause)

    def _warm_template(self) -> None:
        """With no kernels to keep ready, still start the template (through one kernel, discarded), so that the
        first run forks instead of waiting for the template's imports."""
        try:
            kernel = self._start_one(self._current_env())
        except Exception:
            log.exception("kernel pool: could not compute the kernels' environment")
            return
        if kernel is not None:
            kernel.dispose()

    def _sweep(self, env: dict[str, str] | None) -> list[PooledKernel]:
        """Take dead kernels, and those started with another environment, out of the ready list."""
        with self._changed:
            gone = [k for k in self._ready if not k.alive() or (env is not None and k.env != env)]
            for kernel in gone:
                self._ready.remove(kernel)
        for kernel in gone:
            log.info("kernel pool: replacing kernel %s (%s)", kernel.pid, "stale" if kernel.alive() else "dead")
        return gone

    def _start_one(self, env: dict[str, str]) -> PooledKernel | None:
        folder = new_kernel_folder(self.root)
        with self._changed:
            if self._stopping:
                self._end_starting(folder)
                return None
            self._starting.add(folder)
        kernel = None
        began = time.monotonic()
        try:
            kernel = _run(lambda: self._start_async(folder, env))
            self.started += 1
            log.info("kernel pool: kernel %s ready in %.1f s%s", kernel.pid, time.monotonic() - began,
                     f" (not imported: {', '.join(kernel.missing)})" if kernel.missing else "")
            return kernel
        except Exception as exc:
            self.failed += 1
            if not self._stopping:
                log.warning("kernel pool: a kernel failed to start: %s", exc)
            self._end_starting(folder)
            return None
        finally:
            with self._changed:
                self._starting.discard(folder)

    async def _start_async(self, folder: Path, env: dict[str, str]) -> PooledKernel:
        # nbclient's own start path (kernel manager class, arguments), with the settings run_notebook gives it.
        client = NotebookClient(
            nbformat.v4.new_notebook(), kernel_name=self.kernel_name,
            config=Config({"KernelManager": kernel_manager_config(folder)}),
            startup_timeout=int(self.start_timeout), resources={"metadata": {"path": str(folder)}},
        )
        km = client.create_kernel_manager()
        assert isinstance(km, AsyncKernelManager)
        if self.templates is not None:
            use_templates(km, self.templates)
        kernel = PooledKernel(km, folder, self.kernel_name, env, self.memory_limit_mb, templates=self.templates)
        try:
            await client.async_start_new_kernel(env=kernel_env(env, folder, self.memory_limit_mb))
            kernel.pid = getattr(getattr(km.provisioner, "process", None), "pid", None)
            kc = km.client()
            kc.start_channels()
            try:
                await kc.wait_for_ready(timeout=self.start_timeout)
                if self.warm_imports:
                    kernel.missing = await self._warm(kernel, kc)
            finally:
                kc.stop_channels()
        except BaseException:
            self._end_starting(folder)
            _release(km)
            raise
        return kernel

    async def _warm(self, kernel: PooledKernel, kc: Any) -> list[str]:
        """Import the warm-up list (silently: no history, no output, no names); returns what failed to import."""
        names = self.warm_imports
        msg_id = kc.execute(
            _WARM_CODE.format(names=names), silent=True, store_history=False, allow_stdin=False,
            user_expressions={"missing": _MISSING_EXPRESSION.format(names=names)},
        )
        deadline = time.monotonic() + self.warm_timeout
        while True:  # short waits, so that a kernel that dies or a pool shutting down ends the wait
            if self._stopping:
                raise RuntimeError("the pool is shutting down")
            if not kernel.alive():
                raise RuntimeError("the kernel died while importing the warm-up modules")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the warm-up imports took longer than {self.warm_timeout} s")
            try:
                reply = await kc.get_shell_msg(timeout=0.5)
            except Exception:  # queue.Empty
                continue
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        expression = reply["content"].get("user_expressions", {}).get("missing", {})
        try:
            missing = ast.literal_eval(expression["data"]["text/plain"])
        except (KeyError, ValueError, SyntaxError):
            return list(names)
        return [str(name) for name in missing]


# --- the process's pool

_installed: KernelPool | None = None


def install(pool: KernelPool | None) -> KernelPool | None:
    """Make `pool` the one `run_notebook` uses (None: none); returns it."""
    global _installed
    _installed = pool
    return pool


def installed() -> KernelPool | None:
    return _installed


def from_settings(settings: Settings) -> KernelPool | None:
    """The pool a worker running notebook components keeps (None when `kernel_pool_size` is 0 and kernels are not
    forked): kernels with the environment of a component that declares no secrets; a component given secrets
    forks a fresh kernel (or starts one, without forks)."""
    if settings.kernel_pool_size <= 0 and not (settings.kernel_pool_fork and kernel_forks.supported()):
        return None
    from pydantic import BaseModel

    from workbench.components import ComponentSpec
    from workbench.reports.steps import kernel_environment

    plain = ComponentSpec(name="", title="", notebook="", result_model=BaseModel)
    return KernelPool(
        kernel_name=settings.kernel_name, size=settings.kernel_pool_size,
        env=lambda: kernel_environment(settings, plain), memory_limit_mb=settings.kernel_memory_limit_mb,
        warm_imports=parse_imports(settings.kernel_warm_imports), fork=settings.kernel_pool_fork,
    )


@contextlib.contextmanager
def serving(settings: Settings, enabled: bool = True) -> Iterator[KernelPool | None]:
    """Start, install, and on exit uninstall and shut down the settings' pool (nothing when not `enabled`)."""
    pool = from_settings(settings) if enabled else None
    if pool is None:
        yield None
        return
    install(pool.start())
    try:
        yield pool
    finally:
        if installed() is pool:
            install(None)
        pool.shutdown()
