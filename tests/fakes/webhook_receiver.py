"""A real HTTP server on loopback that receives webhooks, for tests: it records every request (path, headers,
body) and answers with scripted statuses (200 once the script is used up)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """`with WebhookReceiver() as hooks: hooks.url`, `hooks.script(500, 500)`, `hooks.received`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: deque[Any] = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body))
                    step = receiver._script.popleft() if receiver._script else 200
                if isinstance(step, tuple) and step[0] == "slow":
                    time.sleep(step[1])
                    step = 200
                if isinstance(step, tuple) and step[0] == "redirect":
                    self.send_response(302)
                    self.send_header("location", step[1])
                    self.end_headers()
                    return
                payload = b"x" * step[1] if isinstance(step, tuple) and step[0] == "big" else b"ok"
                self.send_response(200 if isinstance(step, tuple) else int(step))
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/report"

    def script(self, *steps: Any) -> None:
        """Statuses (int) or ("slow", seconds), ("redirect", url), ("big", bytes) for the next requests."""
        with self._lock:
            self._script.extend(steps)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
