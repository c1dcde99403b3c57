"""What surrounds one notebook kernel: its private folder, its memory limit, and ending what it started.

Each run gets a folder `wbk-<pid>-<start>-<random>` in the temp folder for the kernel's Unix sockets and
connection file. `<pid>` and `<start>` (the start time in clock ticks since boot, from /proc) name the process
that owns the run, so `sweep_kernel_leftovers` can tell the folders of a dead worker from those of a live one
even after the pid is reused. The folder's path is also the run's marker: the kernel's environment carries it
(`WBK_RUN`), every process the kernel starts inherits it, and after the run every process carrying it is killed:
that catches children in their own session and double-forked daemons reparented to init.

Run as `python -m workbench.kernels -f CONNECTION_FILE` (the kernel spec's argv), this module is the kernel's
launcher: it applies the address-space limit given in `WBK_MEMORY_LIMIT_MB`, then execs ipykernel in place.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import psutil

PREFIX = "wbk-"
RUN_VARIABLE = "WBK_RUN"  # not WORKBENCH_*: kernels get no worker configuration, and notebooks may list those
MEMORY_LIMIT_VARIABLE = "WBK_MEMORY_LIMIT_MB"  # read and dropped by the launcher
CONNECTION_FILE = "connection.json"
LEGACY_AGE_SECONDS = 24 * 3600  # folders named before owners were recorded: surely dead after a day
_NAME = re.compile(rf"^{PREFIX}(\d+)-(\d+)-\w+$")


def kernel_root() -> Path:
    # A short absolute path: socket paths are limited to about 100 bytes.
    return Path(tempfile.gettempdir())


@contextlib.contextmanager
def kernel_folder(root: Path | None = None) -> Iterator[Path]:
    """A private folder (mode 0700) for one kernel run; on exit, the run's processes are ended and it is removed."""
    folder = new_kernel_folder(root)
    try:
        yield folder
    finally:
        remove_kernel_folder(folder)


def new_kernel_folder(root: Path | None = None) -> Path:
    """A private folder (mode 0700) for one kernel, named after this process; `remove_kernel_folder` ends it."""
    me = os.getpid()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{me}-{_start_ticks(me) or 0}-", dir=root or kernel_root()))


def remove_kernel_folder(folder: Path) -> None:
    """End every process carrying the folder's marker, then remove the folder."""
    end_run_processes(str(folder))
    shutil.rmtree(folder, ignore_errors=True)


def kernel_manager_config(folder: Path) -> dict[str, str]:
    """jupyter_client `KernelManager` settings for a kernel in `folder`: Unix sockets instead of loopback TCP (no
    other local user can connect) and the connection file, all inside the private folder."""
    return {"transport": "ipc", "ip": f"{folder}/kernel", "connection_file": str(folder / CONNECTION_FILE)}


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS has one), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


# scikit-learn's OpenMP and numpy's OpenBLAS size their thread pools to every core of the machine, and a worker runs
# up to `max_concurrent_activities` kernels at once. Their threads spin while waiting: on 2 cores `extract_themes`
# took 2.5-3 s of CPU with two threads against 1.2 s with one, in the same wall time (four at once: 6-9 s against
# 1.3 s each). A kernel gets its share of the cores.
NATIVE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def kernel_threads(setting: int | None, slots: int) -> int:
    """Threads of a kernel's native pools: the `kernel_threads` setting, else the usable cores over the notebook
    slots (`max_concurrent_activities`), at least 1."""
    if setting is not None:
        return setting
    return max(1, usable_cpus() // slots)


def kernel_env(base: dict[str, str], folder: Path, memory_limit_mb: int | None) -> dict[str, str]:
    """The kernel's environment: `base` plus the run's marker and, when set, the memory limit for the launcher."""
    env = {**base, RUN_VARIABLE: str(folder)}
    env.pop(MEMORY_LIMIT_VARIABLE, None)
    if memory_limit_mb is not None:
        env[MEMORY_LIMIT_VARIABLE] = str(memory_limit_mb)
    return env


def end_run_processes(marker: str, rounds: int = 5) -> int:
    """Kill every process whose environment carries `marker`; returns how many were killed.

    Several rounds, because a process may fork between the scan and the kill.
    """
    ended = 0
    for _ in range(rounds):
        found = [proc for proc, value in marked_processes() if value == marker]
        if not found:
            break
        ended += _kill(found)
    return ended


def marked_processes() -> Iterator[tuple[psutil.Process, str]]:
    """Every readable process that carries a run marker, with the marker (this process excluded)."""
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            value = proc.environ().get(RUN_VARIABLE)
        except psutil.Error:  # gone, a zombie, or another user's
            continue
        if value:
            yield proc, value


def sweep_kernel_leftovers(root: Path | None = None) -> int:
    """Remove the kernel folders under `root` (default: the temp folder) whose owning process is gone, and kill
    the processes still carrying their marker; returns how many folders and processes were removed.

    Safe to call at any time from any process: the runs of live owners are not touched.
    """
    root = root or kernel_root()
    removed = 0
    for proc, marker in list(marked_processes()):
        folder = Path(marker)
        if folder.parent == root and _owner_gone(folder.name):
            removed += _kill([proc])
    for folder in root.glob(f"{PREFIX}*"):
        if folder.is_dir() and _owner_gone(folder.name, folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed += not folder.exists()
    return removed


def _owner_gone(name: str, folder: Path | None = None) -> bool:
    match = _NAME.match(name)
    if match is None:  # a folder from before owners were named: judge by age
        return folder is not None and _age(folder) > LEGACY_AGE_SECONDS
    pid, ticks = int(match[1]), int(match[2])
    if ticks == 0:  # the owner's start time was unknown (no /proc): never guess
        return False
    return _start_ticks(pid) != ticks


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot; None if it is gone or a zombie (or there is no /proc).

    Exact and stable, unlike a wall-clock start time, which moves with the boot time's estimate.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name, in parentheses, may contain spaces
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _kill(procs: list[psutil.Process]) -> int:
    killed = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
            killed += 1
    psutil.wait_procs(procs, timeout=5)
    return killed


def apply_memory_limit(env: dict[str, str]) -> None:
    """Take `WBK_MEMORY_LIMIT_MB` out of `env` and, when it was set, limit this process's address space to it
    (hard too: the notebook cannot raise it; inherited by what the kernel starts)."""
    limit = env.pop(MEMORY_LIMIT_VARIABLE, "")
    if limit:
        size = int(limit) * 2**20
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            size = min(size, hard)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))


# A report's kernel runs one notebook and is discarded: IPython's command history (an SQLite file in the user's
# profile that every kernel shares, committed after each cell by a background thread) is written for nobody.
RUN_ARGUMENTS = ("--HistoryManager.enabled=False",)


def run_arguments(env: Mapping[str, str]) -> list[str]:
    """ipykernel's arguments for a kernel started for a run (its environment carries the run's marker); none for
    an analyst's kernel in JupyterLab, which keeps its history."""
    return list(RUN_ARGUMENTS) if RUN_VARIABLE in env else []


def launch(argv: list[str]) -> None:
    """Exec ipykernel with `argv`, under the address-space limit from the environment (kernel and its children)."""
    env = dict(os.environ)
    apply_memory_limit(env)
    os.execve(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv, *run_arguments(env)], env)


if __name__ == "__main__":
    launch(sys.argv[1:])
