"""The HTTP API in process: large imports as background jobs, hostile bodies and parameters, a lost database."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.conftest import AUTH
from tests.integration.api_support import CSV_HEADER, SURVEY, count, create_survey, import_csv, import_json, response
from workbench.config import Settings
from workbench.storage import imports as job_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID


@pytest.fixture
def background_settings(offline_settings: Settings) -> Settings:
    """Every non-empty upload is imported in the background."""
    return offline_settings.model_copy(update={"background_import_bytes": 0})


def wait_for_job(client: TestClient, status_url: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(status_url)
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("completed", "failed"):
            return r.json()
        time.sleep(0.05)
    raise AssertionError(f"the import job at {status_url} did not finish in {timeout} s")


def csv_rows(n: int, start: int = 0) -> str:
    return CSV_HEADER + "".join(f"r{i},2026-03-02T07:00:00Z,2026-03-02T07:04:00Z,{i % 11},Pro,API,\n"
                                for i in range(start, start + n))


def test_large_upload_is_a_background_job(background_settings: Settings) -> None:
    with TestClient(create_app(background_settings), headers=AUTH) as client:
        survey_id = create_survey(client)
        r = import_csv(client, survey_id, csv_rows(300))
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert accepted["status"] == "queued" and accepted["survey_id"] == survey_id
        assert r.headers["location"] == accepted["status_url"] == f"/api/v1/imports/{accepted['job_id']}"

        job = wait_for_job(client, accepted["status_url"])
        assert (job["status"], job["imported"], job["response_count"], job["issues"]) == ("completed", 300, 300, [])
        assert job["format"] == "csv" and job["error"] is None and job["completed_at"] is not None
        assert count(client, survey_id) == 300
    assert list((background_settings.data_dir / "imports").glob("*")) == []  # the upload is removed


def test_rejected_background_import_reports_the_synchronous_issues(
    background_settings: Settings, offline_settings: Settings
) -> None:
    bad = [response("a"), response("b", 11), response("c", plan="Gold")]
    with TestClient(create_app(offline_settings), headers=AUTH) as client:
        expected = import_json(client, create_survey(client), bad).json()["detail"]
    with TestClient(create_app(background_settings), headers=AUTH) as client:
        survey_id = create_survey(client)
        r = import_json(client, survey_id, bad)
        assert r.status_code == 202
        job = wait_for_job(client, r.json()["status_url"])
        assert job["status"] == "failed" and job["imported"] == 0
        assert job["issues"] == expected and [(d["row"], d["field"]) for d in expected] == [(1, "nps"), (2, "plan")]
        assert count(client, survey_id) == 0


def test_small_uploads_stay_synchronous(offline_settings: Settings) -> None:
    settings = offline_settings.model_copy(update={"background_import_bytes": 2000})
    with TestClient(create_app(settings), headers=AUTH) as client:
        survey_id = create_survey(client)
        assert import_csv(client, survey_id, csv_rows(3)).status_code == 201
        assert import_csv(client, survey_id, csv_rows(60, start=3)).status_code == 202


def test_unknown_import_job_is_404(client: TestClient) -> None:
    assert client.get(f"/api/v1/imports/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/v1/imports/not-a-uuid").status_code == 404


def test_jobs_left_by_a_dead_api_are_resumed_or_failed(offline_settings: Settings) -> None:
    with TestClient(create_app(offline_settings), headers=AUTH) as client:
        survey_id = uuid.UUID(create_survey(client))
    engine = make_engine(offline_settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    ids = {}
    for name, status, with_file in [("queued", "queued", True), ("running", "running", True),
                                    ("gone", "running", False)]:
        job_id = uuid.uuid4()
        data = csv_rows(5, start=len(ids) * 10).encode()
        if with_file:
            path = job_store.upload_path(offline_settings.data_dir, job_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        with transaction(sessions) as session:
            job = job_store.create_job(session, job_id=job_id, organization_id=DEFAULT_ORGANIZATION_ID,
                                       survey_id=survey_id, fmt="csv", size_bytes=len(data))
            job.status = status
            job.created_at = datetime.now(UTC) - timedelta(minutes=5)  # before the next API starts
        ids[name] = job_id
    orphan = job_store.upload_path(offline_settings.data_dir, uuid.uuid4())
    orphan.write_bytes(b"no job reads this")
    engine.dispose()

    with TestClient(create_app(offline_settings), headers=AUTH) as client:
        jobs = {name: wait_for_job(client, f"/api/v1/imports/{job_id}") for name, job_id in ids.items()}
        assert jobs["queued"]["status"] == jobs["running"]["status"] == "completed"
        assert jobs["gone"]["status"] == "failed" and "upload it again" in jobs["gone"]["error"]
        assert count(client, str(survey_id)) == 10
    assert not orphan.exists()


# --- hostile bodies and parameters --------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    '{"title": NaN, "questions": [{"key": "a", "type": "text", "text": "A?"}]}',
    '{"title": "T", "questions": [{"key": "a", "type": "text", "text": "A?", "required": Infinity}]}',
    '{"title": "T", "questions": [{"key": "a", "type": "single_choice", "text": "A?", "options": [-Infinity]}]}',
    '{"title": 1e400, "questions": []}',
])
def test_non_finite_numbers_in_a_survey_are_422(client: TestClient, body: str) -> None:
    r = client.post("/api/v1/surveys", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert all(isinstance(d["loc"], list) for d in r.json()["detail"])


@pytest.mark.parametrize("parameters", ['{"themes": {"n_themes": NaN}}', '{"themes": {"n_themes": Infinity}}',
                                        '{"basic_stats": {"x": [1, -Infinity]}}', '{"themes": {"n_themes": 1e999}}'])
def test_non_finite_numbers_in_a_report_request_are_422(client: TestClient, parameters: str) -> None:
    survey_id = create_survey(client)
    assert import_json(client, survey_id, [response("a")]).status_code == 201
    body = f'{{"survey_id": "{survey_id}", "parameters": {parameters}}}'
    r = client.post("/api/v1/reports", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:2] == ["body", "parameters"]
    r = client.post("/api/v1/reports", content='{"survey_id": NaN}', headers={"content-type": "application/json"})
    assert r.status_code == 422


@pytest.mark.parametrize("path", ["/api/v1/surveys", "/api/v1/reports"])
@pytest.mark.parametrize("query", ["limit=-1", "limit=0", "offset=-1", "limit=501", "limit=99999999999999999999",
                                   "offset=99999999999999999999", "offset=9223372036854775808", "limit=1.5",
                                   "offset=NaN"])
def test_bad_paging_is_422(offline_settings: Settings, database_url: str, path: str, query: str) -> None:
    settings = offline_settings.model_copy(update={"database_url": database_url})
    with TestClient(create_app(settings), headers=AUTH) as client:
        r = client.get(f"{path}?{query}")
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][0] == "query"
        assert client.get(f"{path}?limit=500&offset=2147483647").status_code == 200


# --- a lost database ----------------------------------------------------------------------------------------


def test_unreachable_database_is_503_with_retry_after(offline_settings: Settings) -> None:
    # Nothing listens on port 1: every connection is refused at once.
    settings = offline_settings.model_copy(update={"database_url": "postgresql+psycopg://postgres@127.0.0.1:1/x"})
    with TestClient(create_app(settings), headers=AUTH) as client:
        for method, path, body in [("GET", "/api/v1/surveys", None), ("POST", "/api/v1/surveys", SURVEY),
                                   ("GET", f"/api/v1/surveys/{uuid.uuid4()}", None),
                                   ("GET", f"/api/v1/imports/{uuid.uuid4()}", None),
                                   ("GET", "/api/v1/reports", None),
                                   ("POST", "/api/v1/reports", {"survey_id": str(uuid.uuid4())}),
                                   ("GET", f"/reports/{uuid.uuid4()}", None)]:
            r = client.request(method, path, json=body)
            assert r.status_code == 503, (path, r.text)
            assert r.json()["detail"].startswith("the database is unavailable: "), r.text
            assert r.headers["retry-after"].isdigit()
        assert client.get("/health").status_code == 503
        # The catalogue needs no database, but checking the caller's key does.
        assert client.get("/api/v1/components").status_code == 503



def test_a_background_job_keeps_and_applies_the_import_options(background_settings: Settings) -> None:
    """A large raw export: the job stores its mapping and options, so it imports as the request declared."""
    header = '"Response","Recommend us?","Plan","Used","Comment","Comment","When"\n'
    rows = "".join(f"x{i},{i % 11},{'pro' if i % 2 else 'FREE'},alerts;API,ok,,03/0{i % 9 + 1}/2026 07:00\n"
                   for i in range(200))
    mapping = {"columns": {"Response": "respondent_id", "Recommend us?": "nps", "Plan": "plan", "Used": "features",
                           "#5": "improve", "#6": None, "When": "completed_at"},
               "date_format": "%m/%d/%Y %H:%M"}
    with TestClient(create_app(background_settings), headers=AUTH) as client:
        survey_id = create_survey(client)
        files = {"file": ("export.csv", (header + rows + "x0,1,Pro,,,,\n").encode(), "text/csv"),
                 "mapping": (None, json.dumps(mapping))}
        r = client.post(f"/api/v1/surveys/{survey_id}/responses?separator=%3B&on_duplicate=keep-last", files=files)
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        engine = make_engine(background_settings.effective_database_url)
        with make_sessionmaker(engine)() as session:
            job = job_store.get_job(session, job_id=uuid.UUID(job_id), organization_id=DEFAULT_ORGANIZATION_ID)
            assert job is not None and job.options is not None
            assert (job.options["separator"], job.options["on_duplicate"]) == (";", "keep-last")
            assert job.options["columns"]["#6"] is None and job.options["date_format"] == "%m/%d/%Y %H:%M"
        engine.dispose()
        done = wait_for_job(client, r.json()["status_url"])
        assert (done["status"], done["imported"], done["issues"]) == ("completed", 200, [])  # x0 kept last
        assert count(client, survey_id) == 200

        # the same upload without keep-last: the job fails naming both rows of the duplicate
        files["file"] = ("export.csv", (header + rows + "x0,1,Pro,,,,\n").encode(), "text/csv")
        r = client.post(f"/api/v1/surveys/{create_survey(client)}/responses?separator=%3B", files=files)
        failed = wait_for_job(client, r.json()["status_url"])
        assert failed["status"] == "failed"
        assert any("'x0' appears on rows 2 and 202" in i["msg"] for i in failed["issues"])
