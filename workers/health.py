"""The worker's own HTTP endpoint (`WORKBENCH_WORKER_HEALTH_PORT`): `/health/live`, `/health/ready` and
Prometheus `/metrics`, served from a thread so a busy event loop or full activity slots cannot hide it.

* live: the worker's event loop has ticked within `STALE_AFTER` seconds (a wedged loop is restarted);
* ready: live, and Temporal answered its health check within `STALE_AFTER` seconds (no polling without it);
* metrics: what this process counts (`workers.metrics`) plus the Python process collectors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from temporalio.client import Client

log = logging.getLogger(__name__)
STALE_AFTER = 60.0
CHECK_EVERY = 10.0


class WorkerHealth:
    """Timestamps the worker's loop updates; the HTTP thread only reads them."""

    def __init__(self, queues: list[str]) -> None:
        self.queues = queues
        self.loop_tick = time.monotonic()
        self.temporal_ok_at: float | None = None
        self.temporal_error: str | None = None

    def live(self) -> bool:
        return time.monotonic() - self.loop_tick < STALE_AFTER

    def ready(self) -> bool:
        return self.live() and self.temporal_ok_at is not None and time.monotonic() - self.temporal_ok_at < STALE_AFTER

    def status(self) -> dict[str, Any]:
        return {"status": "ok" if self.ready() else "unavailable", "live": self.live(), "temporal": self.ready(),
                "queues": self.queues, "temporal_error": self.temporal_error}

    async def watch(self, client: Client, stop: asyncio.Event) -> None:
        """Tick and check Temporal every `CHECK_EVERY` seconds until `stop`."""
        while not stop.is_set():
            self.loop_tick = time.monotonic()
            try:
                await asyncio.wait_for(client.service_client.check_health(), timeout=5)
                self.temporal_ok_at, self.temporal_error = time.monotonic(), None
            except Exception as exc:  # any failure means "not ready"; the reason is shown
                self.temporal_error = f"{type(exc).__name__}: {exc}"
            try:
                await asyncio.wait_for(stop.wait(), timeout=CHECK_EVERY)
            except TimeoutError:
                pass


def serve(health: WorkerHealth, host: str, port: int) -> ThreadingHTTPServer:
    """Start the endpoint in a daemon thread; the caller shuts the server down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif self.path == "/health/live":
                ok = health.live()
                self._send(200 if ok else 503, json.dumps({"status": "ok" if ok else "stale"}).encode())
            elif self.path in ("/health/ready", "/health"):
                self._send(200 if health.ready() else 503, json.dumps(health.status()).encode())
            else:
                self._send(404, b'{"detail": "not found"}')

        def _send(self, code: int, body: bytes, media: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("content-type", media)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="worker-health").start()
    log.info("worker health and metrics on http://%s:%d", host, server.server_address[1])
    return server
