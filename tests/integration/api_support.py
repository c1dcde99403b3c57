"""Helpers for the in-process API tests: a survey, responses, and calls that create them."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from workbench.storage.models import Report

UNREACHABLE_TEMPORAL = "127.0.0.1:1"  # nothing listens on port 1: connecting fails at once

SURVEY: dict[str, Any] = {
    "title": "Acme feedback",
    "description": "Quarterly relationship survey",
    "questions": [
        {"key": "nps", "type": "nps", "text": "Recommend?", "required": True},
        {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro"]},
        {"key": "features", "type": "multi_choice", "text": "Features?", "options": ["Alerts", "API"]},
        {"key": "improve", "type": "text", "text": "Improve?"},
    ],
}
CSV_HEADER = "respondent_id,started_at,completed_at,nps,plan,features,improve\n"


def response(rid: str | None, nps: Any = 8, **answers: Any) -> dict[str, Any]:
    return {"respondent_id": rid, "started_at": "2026-03-02T07:00:00Z", "completed_at": "2026-03-02T07:04:00Z",
            "answers": {"nps": nps, **answers}}


def create_survey(client: TestClient, **changes: Any) -> str:
    r = client.post("/api/v1/surveys", json={**SURVEY, **changes})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def import_json(client: TestClient, survey_id: str, responses: list[dict[str, Any]]) -> Any:
    return client.post(f"/api/v1/surveys/{survey_id}/responses", json={"responses": responses})


def import_csv(client: TestClient, survey_id: str, text: str, content_type: str = "text/csv") -> Any:
    return client.post(f"/api/v1/surveys/{survey_id}/responses", content=text.encode("utf-8"),
                       headers={"content-type": content_type})


def count(client: TestClient, survey_id: str) -> int:
    r = client.get(f"/api/v1/surveys/{survey_id}")
    assert r.status_code == 200
    return r.json()["response_count"]


def report_count(db: sessionmaker[Session]) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Report)) or 0


# --- surveys ------------------------------------------------------------------------------------------------


# --- the API on a real server, and a database that can be cut off (fault tests) ------------------------------


class LiveServer:
    """The app under uvicorn in a thread, on a free loopback port: concurrent requests really overlap.

    (TestClient runs one request at a time, so it cannot show one request holding up another.)
    """

    def __init__(self, app: Any) -> None:
        import socket

        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=60)
        self._socket.close()


class TcpProxy:
    """Forwards a loopback port to `target`; `stop()` cuts every connection and refuses new ones (an outage).

    `start()` again listens on the same port, so an app configured with `url_for` finds the database back.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket

        self._target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: Any = None
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    def url_for(self, url: str) -> str:
        """`url` (a SQLAlchemy URL of the target) pointed at the proxy instead."""
        from sqlalchemy.engine import make_url

        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def start(self) -> None:
        import socket

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        import socket

        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: Any) -> None:
        import socket

        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._connections += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: Any, dst: Any) -> None:
        import socket

        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
