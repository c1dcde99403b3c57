"""Kernels forked from a warm template process, for the kernel pool.

Starting a kernel the ordinary way costs a new interpreter, ipykernel and then every heavy import again (about 2 s
of CPU here, 6 kernels per report). A *template* (one per pool) is a process started once, the way a kernel is
started (same interpreter, same environment as the pool's kernels), which imports ipykernel and the pool's warm-up
modules and then only waits on a Unix socket in its own private folder. Each kernel is a `fork()` of it: the child
takes the run's environment, applies the memory limit as the launcher does, starts its own session, reseeds the
random generators, and runs ipykernel with the connection file jupyter_client wrote, with everything already
imported and shared copy-on-write with the template. Forking is the whole start: a kernel is ready in well under 0.1 s.

Nothing passes from one run to the next: the template never runs notebook code, each child serves one run and is
then killed. The template holds no threads when it forks (it refuses to start when an import leaves one).

The worker holds the child through a pidfd (passed over the socket, so the pid cannot be reused under it) wrapped in
a `Popen`-like object; `ForkedKernelProvisioner`, jupyter_client's local provisioner with that launch, lets
nbclient and the kernel manager signal, poll and kill it as any kernel. A child's own `/proc/<pid>/environ` is the
template's (it never execs), so it carries the template's run marker, not its run's: the run kills the kernel by its
pidfd, and what the kernel starts carries the run's marker as before. The template exits when the process that
started it is gone, and the kernels exit when their template is gone (ipykernel's parent poller).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from workbench.kernels import (
    MEMORY_LIMIT_VARIABLE,
    RUN_VARIABLE,
    apply_memory_limit,
    new_kernel_folder,
    run_arguments,
)

log = logging.getLogger("workbench.kernel_forks")

SOCKET_NAME = "template.sock"
RETRY_SECONDS = 60.0  # after a template failed to start, kernels start as processes this long before another try
READY = b"ready\n"
THREADED = b"threads started by: "
# What every kernel imports while it starts (pdb and IPython's debugger: IPKernelApp.init_pdb).
KERNEL_MODULES = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger", "pdb",
                  "IPython.core.debugger")
# Arrow's bundled jemalloc starts a background thread when pandas imports pyarrow (Arrow allocates with mimalloc by
# default; this only keeps jemalloc from starting the thread); a template must hold no thread when it forks.
# debugpy's import warns on stderr (the worker's log) that frozen modules may hide breakpoints; the kernels, forked
# after that import, would never print it anyway.
TEMPLATE_ENV = {"JE_ARROW_MALLOC_CONF": "background_thread:false", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
_PER_KERNEL = (RUN_VARIABLE, MEMORY_LIMIT_VARIABLE, "JPY_PARENT_PID")  # what differs between a template's kernels
LAUNCHER = ["-m", "workbench.kernels", "-f"]  # the kernel spec's argv after the interpreter: what a template replaces


def supported() -> bool:
    """Linux with pidfds (5.3+): a forked kernel is held by a pidfd, since it is not this process's child."""
    if not hasattr(os, "pidfd_open") or not hasattr(socket, "recv_fds"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


# --- the template's side (runs in its own process) -----------------------------------------------------------


def serve(socket_path: str, warm_imports: Sequence[str]) -> None:
    """Import ipykernel and the warm-up modules, say ready on stdout, then fork one kernel per request."""
    # Kernels are reaped as they end (waited for, not ignored: their CPU time then counts in this process's
    # children's times, as a started kernel's counts in the worker's).
    signal.signal(signal.SIGCHLD, _reap)
    import importlib

    # What every kernel imports while it starts (the debugger support, debugpy, is most of a fork's start).
    for name in KERNEL_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    threaded = [] if _threads() == 1 else ["ipykernel"]
    for name in warm_imports:
        before = _threads()
        with contextlib.suppress(BaseException):
            importlib.import_module(name)
        if _threads() > before:
            threaded.append(name)
    # Work every kernel would repeat the same way: the package versions each result records (workbench.results).
    results = sys.modules.get("workbench.results")
    if results is not None:
        with contextlib.suppress(Exception):
            results.environment()
    if threaded:  # a fork copies only the forking thread: a lock another thread held would stay held in every kernel
        sys.stdout.buffer.write(THREADED + ",".join(threaded).encode() + b"\n")
        sys.stdout.flush()
        sys.exit(3)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(16)
    listener.settimeout(1.0)
    import gc

    gc.freeze()  # the imports' objects stay out of the collector's walks: fewer pages copied into each kernel
    parent = os.getppid()
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    while os.getppid() == parent:  # reparented: the worker that started this template is gone
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(10)
            try:
                _fork_one(listener, conn)
            except Exception as exc:  # a bad request or a failed fork: answer it, keep serving
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")


def _reap(signum: int, frame: Any) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _fork_one(listener: socket.socket, conn: socket.socket) -> None:
    request = json.loads(_read_line(conn))
    # Not reaped before its pidfd is open: a pid, once reaped, may name another process.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    pid = os.fork()
    if pid == 0:  # the kernel
        code = 1
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
            listener.close()
            conn.close()
            _become_kernel(request["argv"], request["env"], request.get("cwd"))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(BaseException):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)  # never the template's atexit handlers or its loop
    try:
        pidfd = os.pidfd_open(pid)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    try:
        socket.send_fds(conn, [json.dumps({"pid": pid}).encode() + b"\n"], [pidfd])
    finally:
        os.close(pidfd)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the request ended early")
        data += chunk
    return data


def _become_kernel(argv: list[str], env: dict[str, str], cwd: str | None) -> None:
    os.setsid()  # its own session and process group, as jupyter_client starts kernels: signals reach its children
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    env = dict(env)
    apply_memory_limit(env)  # as the launcher does
    env["JPY_PARENT_PID"] = str(os.getppid())  # ipykernel exits when its template is gone
    os.environ.clear()
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    _reseed()
    # ipykernel read JPY_PARENT_PID when the template imported it: name the parent (the template) on the command line.
    argv = [*argv, *run_arguments(env), f"--IPKernelApp.parent_handle={os.getppid()}"]
    sys.argv = ["ipykernel_launcher", *argv]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=argv)


def _reseed() -> None:
    """Give the kernel its own random state: forks of one template would otherwise draw the same numbers
    (Python's `random` reseeds itself after a fork; NumPy's global generator does not)."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


# --- the worker's side ---------------------------------------------------------------------------------------


def template_env(env: Mapping[str, str]) -> dict[str, str]:
    """The part of a kernel's environment its template is started with: not what differs per kernel (marker,
    memory limit) nor the `WORKBENCH_*` settings and secrets a component is given, which Workbench's code reads when
    it runs, never at import (so a template never holds a secret, and one template serves every component)."""
    return {k: v for k, v in env.items() if k not in _PER_KERNEL and not k.startswith("WORKBENCH_")}


class ForkedProcess:
    """The part of `subprocess.Popen` jupyter_client uses, for a kernel forked by a template (not our child)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid, self._pidfd = pid, pidfd
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self._pidfd >= 0:
            readable, _, _ = select.select([self._pidfd], [], [], 0)
            if readable:
                self._exited()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            readable, _, _ = select.select([self._pidfd], [], [], timeout)
            if not readable:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            self._exited()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def _exited(self) -> None:
        # The exit status belongs to the template, which reaps its children; a kernel that exited is just gone.
        self.returncode = -signal.SIGKILL
        self.close()

    def close(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class TemplateUnavailable(RuntimeError):
    """No template to fork from (the last one failed to start): start the kernel as a new process."""


class TemplateUnusable(TemplateUnavailable):
    """Kernels cannot be forked from a template with these warm-up imports: start them as new processes."""


class _Template:
    def __init__(self, python: str, env: dict[str, str], warm_imports: Sequence[str], root: Path | None) -> None:
        self.python, self.env = python, env
        self.folder = new_kernel_folder(root)
        self.socket_path = str(self.folder / SOCKET_NAME)
        self.process = subprocess.Popen(
            [python, "-m", "workbench.kernel_forks", self.socket_path, ",".join(warm_imports)],
            env={**TEMPLATE_ENV, **env, RUN_VARIABLE: str(self.folder)}, cwd=self.folder, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, start_new_session=True,
        )

    def wait_ready(self, start_timeout: float) -> None:
        """Wait for the template's imports; raises (and ends it) if it exits, times out or cannot fork."""
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], start_timeout)
        line = self.process.stdout.readline() if readable else b""
        if line != READY:
            self.close()
            if line.startswith(THREADED):
                raise TemplateUnusable(f"warm-up imports start threads, which a fork cannot carry: "
                                       f"{line[len(THREADED):].decode(errors='replace').strip()}")
            raise RuntimeError(f"the kernel template did not start (exit code {self.process.poll()})")

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, argv: list[str], env: Mapping[str, str], cwd: str | None, timeout: float) -> ForkedProcess:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(self.socket_path)
            conn.sendall(json.dumps({"argv": argv, "env": dict(env), "cwd": cwd}).encode() + b"\n")
            message, fds, _, _ = socket.recv_fds(conn, 65536, 1)
        reply = json.loads(message or b"{}")
        if not fds:
            raise RuntimeError(f"the kernel template could not fork: {reply.get('error', 'no answer')}")
        return ForkedProcess(int(reply["pid"]), fds[0])

    def close(self) -> None:
        """End the template only: its kernels belong to their runs (and exit on their own once it is gone)."""
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class KernelTemplates:
    """The template a pool forks its kernels from: started on first use, replaced when the kernels' environment
    (less what differs per kernel) or interpreter changes or it has died, ended by `close()`."""

    def __init__(self, warm_imports: Sequence[str] = (), root: Path | None = None, start_timeout: float = 120) -> None:
        self.warm_imports, self.root, self.start_timeout = list(warm_imports), root, start_timeout
        self._template: _Template | None = None
        self._lock = threading.Lock()  # one launch at a time (and the template they share)
        self._state = threading.Lock()  # what close() and kill() need while a launch holds _lock
        self._pending: _Template | None = None
        self._closed = False
        self._children: dict[str, ForkedProcess] = {}  # by run marker
        self.broken: str | None = None  # why the last template failed to start (None: it did not fail)
        self._permanent = False  # the failure will not go away (threads from the warm-up imports)
        self._retry_at = 0.0

    def launch(self, cmd: Sequence[str], env: Mapping[str, str], cwd: str | None, timeout: float = 30
               ) -> ForkedProcess:
        """Fork a kernel for `cmd` (the kernel spec's `python -m workbench.kernels -f CONNECTION_FILE`); `env`
        carries its run marker, by which `kill()` finds it."""
        process = self._launch(cmd, env, cwd, timeout)
        marker = env.get(RUN_VARIABLE)
        if marker:
            with self._state:
                self._children = {k: p for k, p in self._children.items() if p.poll() is None}
                self._children[marker] = process
        return process

    def kill(self, marker: str) -> None:
        """Kill the kernel forked with this run marker, if it is still alive (its own environment shows the
        template's marker, so `workbench.kernels.end_run_processes` cannot find it)."""
        with self._state:
            process = self._children.pop(marker, None)
        if process is not None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)

    def _launch(self, cmd: Sequence[str], env: Mapping[str, str], cwd: str | None, timeout: float
                ) -> ForkedProcess:
        if list(cmd[1:4]) != LAUNCHER or len(cmd) != 5:
            raise ValueError(f"not the Workbench kernel launcher: {list(cmd)}")
        base = template_env(env)
        with self._lock:
            if self._closed:
                raise RuntimeError("the kernel templates are closed")
            template = self._template
            if template is None or not template.alive() or template.env != base or template.python != cmd[0]:
                if template is not None:
                    template.close()
                self._template = None
                if self.broken is not None and (self._permanent or time.monotonic() < self._retry_at):
                    raise TemplateUnavailable(self.broken)
                template = _Template(cmd[0], base, self.warm_imports, self.root)
                with self._state:
                    self._pending = template  # close() ends it without waiting for its imports
                try:
                    if self._closed:
                        raise RuntimeError("the kernel templates are closed")
                    template.wait_ready(self.start_timeout)
                except Exception as exc:
                    template.close()
                    self.broken = str(exc)
                    self._permanent = isinstance(exc, TemplateUnusable)
                    self._retry_at = time.monotonic() + RETRY_SECONDS
                    log.warning("kernel templates: %s; kernels start as new processes%s", exc,
                                "" if self._permanent else f" (trying again in {RETRY_SECONDS:g} s)")
                    raise
                finally:
                    with self._state:
                        self._pending = None
                self._template, self.broken = template, None
            return template.fork(["-f", cmd[4]], env, cwd, timeout)

    def abort_start(self) -> None:
        """No more templates; end one still importing now (its launch then fails at once, and the kernel starts
        as a process)."""
        with self._state:
            self._closed = True
            pending = self._pending
        if pending is not None:
            pending.close()

    def close(self) -> None:
        """End the template (a kernel it forked that is still running exits within a second: see the module)."""
        self.abort_start()
        with self._lock:
            if self._template is not None:
                self._template.close()
                self._template = None

    @property
    def template_pid(self) -> int | None:
        with self._lock:
            return self._template.process.pid if self._template is not None and self._template.alive() else None


class ForkedKernelProvisioner(LocalProvisioner):  # type: ignore[misc]
    """jupyter_client's local provisioner, launching by a fork of the pool's template instead of a new process."""

    templates: KernelTemplates | None = None  # set before the kernel manager starts the kernel

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        assert self.templates is not None
        cwd = kwargs.get("cwd")
        env = kwargs.get("env") or dict(os.environ)
        try:
            process = self.templates.launch(cmd, env, str(cwd) if cwd is not None else None)
        except Exception as exc:  # no template, or it failed to fork: the kernel starts as it would without one
            if not isinstance(exc, TemplateUnavailable):
                log.warning("kernel templates: forking a kernel failed (%s); starting it as a new process", exc)
            return await super().launch_kernel(cmd, **kwargs)
        self.process = process  # type: ignore[assignment]  # Popen's interface, as far as the provisioner uses it
        self.pid = self.pgid = process.pid  # the child started its own session
        self.cwd = cwd
        return self.connection_info

    async def kill(self, restart: bool = False) -> None:
        """SIGKILL, then wait (a few ms) until it is gone: the kernel manager would otherwise find it alive and
        wait 100 ms before looking again, at the end of every run."""
        await super().kill(restart=restart)
        process = self.process
        if isinstance(process, ForkedProcess):
            deadline = time.monotonic() + 1.0
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.005)


def use_templates(km: Any, templates: KernelTemplates) -> None:
    """Make the kernel manager `km` (not started yet) fork its kernel from `templates`."""
    provisioner = ForkedKernelProvisioner(kernel_id=km.kernel_id or str(uuid.uuid4()), kernel_spec=km.kernel_spec,
                                          parent=km)
    provisioner.templates = templates
    km.kernel_id = provisioner.kernel_id
    km.provisioner = provisioner


if __name__ == "__main__":
    serve(sys.argv[1], [name for name in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if name])
