"""Container health checks for the Workbench image (stdlib only, so it costs one short Python start).

    healthcheck.py api      the API answers GET /health with 200 (database and Temporal reachable)
    healthcheck.py live     the API accepts TCP connections (liveness: a slow dependency must not restart it)
    healthcheck.py worker   the worker's own /health/ready answers 200 (WORKBENCH_WORKER_HEALTH_PORT set: its
                            loop ticks and Temporal answers); without that port, this container holds an
                            established connection to the Temporal frontend (a worker long-polls its queues)
    healthcheck.py auto     whichever of the above fits the `workbench api|worker` process running here
                            (anything else, e.g. `workbench db upgrade`, counts as healthy)

Exit status 0: healthy; 1: not. Settings come from the same WORKBENCH_* variables as the app.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

ESTABLISHED = "01"  # TCP state in /proc/net/tcp{,6}


def api_port() -> int:
    return int(os.environ.get("WORKBENCH_API_PORT", "8000"))


def temporal_port() -> int:
    address = os.environ.get("WORKBENCH_TEMPORAL_ADDRESS", "127.0.0.1:7233")
    return int(address.rpartition(":")[2])


def worker_health_port() -> int | None:
    value = os.environ.get("WORKBENCH_WORKER_HEALTH_PORT", "")
    return int(value) if value.isdigit() else None


def check_api(port: int, timeout: float = 8.0, path: str = "/health") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def check_listening(port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def established_to(port: int, tables: Iterable[str]) -> bool:
    """Whether any row of /proc/net/tcp-style `tables` is an established connection to remote `port`."""
    wanted = f"{port:04X}"
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[2].rpartition(":")[2].upper() == wanted and fields[3] == ESTABLISHED:
                return True
    return False


def check_worker(port: int, proc: Path = Path("/proc")) -> bool:
    tables = []
    for name in ("tcp", "tcp6"):
        try:
            tables.append((proc / "net" / name).read_text())
        except OSError:
            continue
    return established_to(port, tables)


def role(cmdlines: Iterable[list[str]]) -> str | None:
    """`api` or `worker` if one of the command lines runs `workbench api` / `workbench worker`."""
    for argv in cmdlines:
        for i, arg in enumerate(argv[:-1]):
            if os.path.basename(arg) == "workbench" and argv[i + 1] in ("api", "worker"):
                return argv[i + 1]
    return None


def running_cmdlines(proc: Path = Path("/proc")) -> Iterable[list[str]]:
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            yield [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "auto"
    if mode == "auto":
        mode = role(running_cmdlines()) or "none"
    if mode == "api":
        healthy = check_api(api_port())
    elif mode == "live":
        healthy = check_listening(api_port())
    elif mode == "worker":
        own = worker_health_port()
        healthy = check_api(own, path="/health/ready") if own else check_worker(temporal_port())
    elif mode == "none":
        healthy = True
    else:
        print(f"unknown mode {mode!r}; use api, live, worker or auto", file=sys.stderr)
        return 2
    if not healthy:
        print(f"{mode}: unhealthy", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
