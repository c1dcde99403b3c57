"""The whole stack as processes (Temporal dev server, worker, API) on free ports in a temporary folder."""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cli.stack import Stack
from tests.conftest import AUTH, TEST_ADMIN_KEY, share_embedding_cache
from workbench.config import Settings


def free_port() -> int:
    """A free port below Linux's ephemeral range (32768+), so no outgoing connection or server's "random free
    port" (Temporal's HTTP and metrics ports) can take it between this check and the server binding it."""
    while True:
        port = random.randint(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


StackFactory = Callable[..., tuple[Stack, httpx.Client]]


@pytest.fixture
def start_stack(tmp_path: Path) -> Iterator[StackFactory]:
    stacks: list[Stack] = []
    clients: list[httpx.Client] = []
    share_embedding_cache(tmp_path / "data")  # the worker's kernels embed the sample's answers once per machine

    def start(start_worker: bool = True, **overrides: str) -> tuple[Stack, httpx.Client]:
        api_port, temporal_port, ui_port = free_ports(3)
        env = {
            "WORKBENCH_DATA_DIR": str(tmp_path / "data"),
            "WORKBENCH_API_PORT": str(api_port),
            "WORKBENCH_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
            "WORKBENCH_TEMPORAL_UI_PORT": str(ui_port),
            "WORKBENCH_BOOTSTRAP_ADMIN_KEY": TEST_ADMIN_KEY,
            **{f"WORKBENCH_{k.upper()}": v for k, v in overrides.items()},
        }
        settings = Settings(**{k.removeprefix("WORKBENCH_").lower(): v for k, v in env.items()})
        stack = Stack(settings, env=env)
        stacks.append(stack)
        stack.prepare()
        stack.start_temporal()
        if start_worker:
            stack.start_worker()
        stack.start_api()
        client = httpx.Client(base_url=f"http://127.0.0.1:{settings.api_port}", timeout=120, headers=AUTH)
        clients.append(client)
        return stack, client

    yield start
    for client in clients:
        client.close()
    for stack in stacks:
        stack.stop()
