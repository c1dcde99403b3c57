"""Faults on a real API server (uvicorn on loopback): a big import, hostile bodies, the database going away."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from api.main import create_app
from tests.conftest import AUTH
from tests.integration.api_support import (
    CSV_HEADER,
    SURVEY,
    UNREACHABLE_TEMPORAL,
    LiveServer,
    TcpProxy,
    response,
)
from workbench.config import Settings

pytestmark = pytest.mark.faults

IMPORT_ROWS = 40_000
POLL_INTERVAL = 0.05
WORST_POLL_SECONDS = 1.0


@pytest.fixture
def offline(settings: Settings) -> Settings:
    return settings.model_copy(update={"temporal_address": UNREACHABLE_TEMPORAL})


def create_survey(http: httpx.Client) -> str:
    r = http.post("/api/v1/surveys", json=SURVEY)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def big_csv(rows: int) -> bytes:
    return (CSV_HEADER + "".join(
        f"r{i},2026-03-02T07:00:00Z,2026-03-02T07:04:00Z,{i % 11},Pro,Alerts|API,\"Faster exports, please ({i})\"\n"
        for i in range(rows))).encode()


# --- a big import must not hold up other requests ------------------------------------------------------------


class Poller:
    """GETs `path` every POLL_INTERVAL from its own client and records how long each answer took."""

    def __init__(self, base_url: str, path: str) -> None:
        self.latencies: list[float] = []
        self.statuses: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base_url, path), daemon=True)

    def _run(self, base_url: str, path: str) -> None:
        with httpx.Client(base_url=base_url, timeout=60, headers=AUTH) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                self.statuses.add(http.get(path).status_code)
                self.latencies.append(time.monotonic() - started)
                self._stop.wait(POLL_INTERVAL)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_big_import_runs_in_the_background_while_others_are_served(offline: Settings) -> None:
    data = big_csv(IMPORT_ROWS)
    assert len(data) > offline.background_import_bytes
    with LiveServer(create_app(offline)) as server, \
            httpx.Client(base_url=server.url, timeout=120, headers=AUTH) as http:
        survey_id = create_survey(http)
        with Poller(server.url, f"/api/v1/surveys/{survey_id}") as poller, Poller(server.url, "/health") as health:
            time.sleep(0.3)  # a baseline before the upload
            started = time.monotonic()
            r = http.post(f"/api/v1/surveys/{survey_id}/responses", content=data,
                          headers={"content-type": "text/csv"})
            accepted_after = time.monotonic() - started
            assert r.status_code == 202, r.text
            status_url = r.json()["status_url"]
            seen = set()
            while (job := http.get(status_url).json())["status"] not in ("completed", "failed"):
                seen.add(job["status"])
                assert time.monotonic() - started < 120, job
                time.sleep(0.1)
            import_seconds = time.monotonic() - started
        assert job["status"] == "completed", job
        assert job["imported"] == job["response_count"] == IMPORT_ROWS
        assert http.get(f"/api/v1/surveys/{survey_id}").json()["response_count"] == IMPORT_ROWS

    worst, worst_health = max(poller.latencies), max(health.latencies)
    print(f"\n{IMPORT_ROWS} rows ({len(data) / 1e6:.1f} MB): 202 after {accepted_after:.2f} s, imported in "
          f"{import_seconds:.1f} s; {len(poller.latencies)} survey polls, worst {worst * 1000:.0f} ms; "
          f"{len(health.latencies)} health polls, worst {worst_health * 1000:.0f} ms; job states seen {seen}")
    assert "running" in seen or "queued" in seen  # the polls overlapped the import
    assert poller.statuses == {200} and health.statuses == {503}  # 503: Temporal is unreachable on purpose
    assert worst < WORST_POLL_SECONDS and worst_health < WORST_POLL_SECONDS
    assert accepted_after < 5


# --- hostile bodies and parameters, on SQLite and PostgreSQL -------------------------------------------------

HOSTILE_SURVEYS = [
    '{"title": NaN, "questions": [{"key": "a", "type": "text", "text": "A?"}]}',
    '{"title": "T", "questions": [{"key": "a", "type": "text", "text": "A?", "required": Infinity}]}',
    '{"title": "T", "questions": [{"key": "a", "type": "single_choice", "text": "A?", "options": [-Infinity]}]}',
    '{"title": -1e999, "questions": [{"key": "a", "type": "text", "text": "A?"}]}',
    '{"title": "T", "questions": [{"key": "a", "type": "text", "text": "A?", "required": 1' + "0" * 5000 + "}]}",
    '{"title": "T", "questions": [{"key": 123456789012345678901234567890, "type": "text", "text": "A?"}]}',
]
HOSTILE_PARAMETERS = [
    '{"themes": {"n_themes": NaN}}', '{"themes": {"n_themes": Infinity}}', '{"themes": {"n_themes": -Infinity}}',
    '{"themes": {"n_themes": 1e999}}', '{"themes": {"n_themes": 1' + "0" * 400 + "}}",
    '{"themes": {"n_themes": -1' + "0" * 30 + "}}", '{"basic_stats": {"x": [NaN]}}',
]
BAD_PAGING = ["limit=-1", "offset=-1", "limit=0", "limit=501", "limit=1e3", "limit=99999999999999999999",
              "offset=99999999999999999999", "offset=9223372036854775808", "offset=-9223372036854775809",
              "limit=NaN", "offset=Infinity"]


@pytest.fixture
def live(offline: Settings, database_url: str) -> Iterator[httpx.Client]:
    with LiveServer(create_app(offline.model_copy(update={"database_url": database_url}))) as server, \
            httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as http:
        yield http


def test_hostile_bodies_are_422(live: httpx.Client) -> None:
    json = {"content-type": "application/json"}
    for body in HOSTILE_SURVEYS:
        r = live.post("/api/v1/surveys", content=body, headers=json)
        assert r.status_code == 422, (body[:80], r.text[:300])
        assert isinstance(r.json()["detail"], list)
    assert live.get("/api/v1/surveys").json()["count"] == 0

    survey_id = create_survey(live)
    assert live.post(f"/api/v1/surveys/{survey_id}/responses", json={"responses": [response("a")]}).status_code == 201
    for parameters in HOSTILE_PARAMETERS:
        body = f'{{"survey_id": "{survey_id}", "components": ["themes"], "parameters": {parameters}}}'
        r = live.post("/api/v1/reports", content=body, headers=json)
        assert r.status_code == 422, (parameters[:80], r.text[:300])
        assert r.json()["detail"][0]["loc"][:2] == ["body", "parameters"], r.text[:300]
    for body in ['{"survey_id": NaN}', '{"survey_id": Infinity}', '{"survey_id": 1e999}']:
        assert live.post("/api/v1/reports", content=body, headers=json).status_code == 422
    assert live.get("/api/v1/reports").json()["count"] == 0


@pytest.mark.parametrize("path", ["/api/v1/surveys", "/api/v1/reports"])
def test_bad_paging_is_422(live: httpx.Client, path: str) -> None:
    for query in BAD_PAGING:
        r = live.get(f"{path}?{query}")
        assert r.status_code == 422, (query, r.text)
        assert r.json()["detail"][0]["loc"][0] == "query"
    assert live.get(f"{path}?limit=500&offset=2147483647").json()["count"] == 0


# --- the database goes away and comes back --------------------------------------------------------------------


def every_route(survey_id: str, report_id: str, job_id: str) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body) of every route that reads or writes the database."""
    return [
        ("GET", "/api/v1/surveys", None),
        ("POST", "/api/v1/surveys", SURVEY),
        ("GET", f"/api/v1/surveys/{survey_id}", None),
        ("POST", f"/api/v1/surveys/{survey_id}/responses", {"responses": [response(f"x{uuid.uuid4().hex}")]}),
        ("GET", f"/api/v1/imports/{job_id}", None),
        ("GET", "/api/v1/reports", None),
        ("POST", "/api/v1/reports", {"survey_id": survey_id, "components": ["basic_stats"]}),
        ("GET", f"/api/v1/reports/{report_id}", None),
        ("GET", f"/api/v1/reports/{report_id}/status", None),
        ("GET", f"/api/v1/reports/{report_id}/components/basic_stats", None),
        ("GET", f"/api/v1/reports/{report_id}/notebooks/basic_stats.ipynb", None),
        ("GET", f"/api/v1/reports/{report_id}/pdf", None),
        ("GET", f"/reports/{report_id}", None),
    ]


@pytest.mark.postgres
def test_database_outage_is_503_everywhere_and_the_api_recovers(offline: Settings, postgres_url: str) -> None:
    target = make_url(postgres_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    proxy.start()
    # Every upload is a background job, so the outage also meets a job status.
    settings = offline.model_copy(update={"database_url": proxy.url_for(postgres_url), "background_import_bytes": 0})
    try:
        with LiveServer(create_app(settings)) as server, \
                httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as http:
            survey_id = create_survey(http)
            r = http.post(f"/api/v1/surveys/{survey_id}/responses", json={"responses": [response("a")]})
            assert r.status_code == 202
            job_id = r.json()["job_id"]
            while http.get(f"/api/v1/imports/{job_id}").json()["status"] != "completed":
                time.sleep(0.05)
            r = http.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["basic_stats"]})
            assert r.status_code == 503  # Temporal is unreachable: the report is stored, failed
            report_id = http.get("/api/v1/reports").json()["data"][0]["report_id"]
            routes = every_route(survey_id, report_id, job_id)

            proxy.stop()
            started = time.monotonic()
            for method, path, body in routes:
                r = http.request(method, path, json=body)
                assert r.status_code == 503, (method, path, r.text)
                assert r.json()["detail"].startswith("the database is unavailable: "), (path, r.text)
                assert int(r.headers["retry-after"]) > 0
            health = http.get("/health")
            assert health.status_code == 503 and health.json()["database"] is False
            print(f"\n{len(routes)} routes answered 503 during the outage in {time.monotonic() - started:.2f} s")

            proxy.start()
            deadline = time.monotonic() + 30
            while http.get("/api/v1/surveys").status_code != 200:
                assert time.monotonic() < deadline, "the API did not recover"
                time.sleep(0.1)
            for method, path, body in routes:
                r = http.request(method, path, json=body)
                assert r.status_code < 500 or (path == "/api/v1/reports" and method == "POST") or path.endswith(
                    "/pdf"), (method, path, r.status_code, r.text)
                if "detail" in r.text and r.status_code >= 500:
                    assert "database" not in r.json()["detail"]
            assert http.get("/health").json()["database"] is True
    finally:
        proxy.stop()
