"""The HTTP API in process (FastAPI TestClient, SQLite): surveys, imports, and report endpoints without Temporal."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from api.temporal import TemporalGateway
from workbench.config import Settings
from workbench.report_runs import create_report_run
from workbench.storage import reports as report_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID, ComponentStatus, Report, ReportStatus

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


class FailingTemporalClient:
    """Stands in for a Temporal client whose workflow start fails (the server went away after connecting)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        raise RuntimeError("temporal went away")


@pytest.fixture
def offline_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"temporal_address": UNREACHABLE_TEMPORAL})


@pytest.fixture
def client(offline_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(offline_settings)) as client:
        yield client


@pytest.fixture
def temporal_stub(client: TestClient, offline_settings: Settings) -> FailingTemporalClient:
    """Route the app's Temporal gateway to a stub, so request validation is tested apart from Temporal."""
    stub = FailingTemporalClient()
    client.app.state.temporal = TemporalGateway(offline_settings, client=stub)  # type: ignore[attr-defined]
    return stub


@pytest.fixture
def db(offline_settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The app's database, for arranging and checking rows directly."""
    engine = make_engine(offline_settings.effective_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


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


def test_create_and_get_survey(client: TestClient) -> None:
    r = client.post("/api/v1/surveys", json=SURVEY)
    assert r.status_code == 201
    created = r.json()
    assert created["title"] == "Acme feedback"
    assert created["organization_id"] == str(DEFAULT_ORGANIZATION_ID)
    assert (created["response_count"], created["completed_count"]) == (0, 0)

    r = client.get(f"/api/v1/surveys/{created['id']}")
    assert r.status_code == 200
    got = r.json()
    assert got == created
    assert [q["key"] for q in got["questions"]] == ["nps", "plan", "features", "improve"]
    assert got["questions"][1]["options"] == ["Free", "Pro"]
    assert got["questions"][0]["required"] is True

    listing = client.get("/api/v1/surveys").json()
    assert listing["count"] == 1 and listing["data"][0]["id"] == created["id"]


@pytest.mark.parametrize(
    ("question", "loc"),
    [
        ({"key": "plan", "type": "single_choice", "text": "Plan?"}, ["body", "questions", 0, "options"]),
        ({"key": "nps", "type": "nps", "text": "N?", "options": ["1"]}, ["body", "questions", 0, "options"]),
        ({"key": "f", "type": "multi_choice", "text": "F?", "options": ["a|b"]}, ["body", "questions", 0, "options"]),
        ({"key": "Bad Key", "type": "text", "text": "T?"}, ["body", "questions", 0, "key"]),
        ({"key": "t", "type": "slider", "text": "T?"}, ["body", "questions", 0, "type"]),
    ],
)
def test_bad_survey_definition_names_the_field(client: TestClient, question: dict[str, Any], loc: list[Any]) -> None:
    r = client.post("/api/v1/surveys", json={"title": "T", "questions": [question]})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [loc]
    assert client.get("/api/v1/surveys").json()["count"] == 0


def test_duplicate_question_keys_are_refused(client: TestClient) -> None:
    questions = [{"key": "a", "type": "text", "text": "A?"}, {"key": "a", "type": "text", "text": "B?"}]
    r = client.post("/api/v1/surveys", json={"title": "T", "questions": questions})
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "questions"] and "duplicate question key 'a'" in error["msg"]


def test_unknown_survey_is_404(client: TestClient) -> None:
    unknown = uuid.uuid4()
    assert client.get(f"/api/v1/surveys/{unknown}").status_code == 404
    assert import_json(client, str(unknown), [response("a")]).status_code == 404
    assert client.get("/api/v1/surveys/not-a-uuid").status_code == 422


# --- response imports ---------------------------------------------------------------------------------------


def test_import_json_responses(client: TestClient) -> None:
    survey_id = create_survey(client)
    incomplete = {**response("c", plan="Free"), "completed_at": None}
    r = import_json(client, survey_id, [response("a", 9, features=["API"]), response(None, 7.0), incomplete])
    assert r.status_code == 201
    assert r.json() == {"survey_id": survey_id, "imported": 3, "response_count": 3}
    got = client.get(f"/api/v1/surveys/{survey_id}").json()
    assert (got["response_count"], got["completed_count"]) == (3, 2)

    r = import_json(client, survey_id, [response("d")])
    assert r.status_code == 201 and r.json()["response_count"] == 4 and r.json()["imported"] == 1


def test_import_csv_responses(client: TestClient) -> None:
    survey_id = create_survey(client)
    text = (CSV_HEADER + "r1,2026-03-02T07:00:00Z,2026-03-02T07:04:00Z,9,Pro,Alerts|API,\"Faster, please\"\n"
            + "r2,2026-03-02T07:00:00Z,,,,,\n")
    r = import_csv(client, survey_id, text, "text/csv; charset=utf-8")
    assert r.status_code == 201, r.text
    assert r.json() == {"survey_id": survey_id, "imported": 2, "response_count": 2}
    assert client.get(f"/api/v1/surveys/{survey_id}").json()["completed_count"] == 1


def test_import_csv_with_bom(client: TestClient) -> None:
    survey_id = create_survey(client)
    body = (CSV_HEADER + "r1,2026-03-02T07:00:00Z,,5,,,\n").encode("utf-8-sig")
    r = client.post(f"/api/v1/surveys/{survey_id}/responses", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 201, r.text
    assert count(client, survey_id) == 1


def test_multipart_upload_of_a_csv_file(client: TestClient) -> None:
    survey_id = create_survey(client)
    csv_bytes = (CSV_HEADER + "r1,2026-03-02T07:00:00Z,2026-03-02T07:04:00Z,3,Free,,\n").encode()
    r = client.post(f"/api/v1/surveys/{survey_id}/responses",
                    files={"file": ("export.csv", csv_bytes, "application/octet-stream")})
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 1 and count(client, survey_id) == 1


def test_multipart_upload_of_a_json_file(client: TestClient) -> None:
    survey_id = create_survey(client)
    data = json.dumps({"responses": [response("j1"), response("j2")]}).encode()
    r = client.post(f"/api/v1/surveys/{survey_id}/responses", files={"file": ("batch.json", data, "text/plain")})
    assert r.status_code == 201, r.text
    assert count(client, survey_id) == 2


def test_multipart_without_a_file_field(client: TestClient) -> None:
    survey_id = create_survey(client)
    r = client.post(f"/api/v1/surveys/{survey_id}/responses",
                    files={"upload": ("export.csv", CSV_HEADER.encode(), "text/csv")})
    assert r.status_code == 422
    assert "'file' field" in r.json()["detail"]


def test_invalid_json_answer_names_row_and_field_and_writes_nothing(client: TestClient) -> None:
    survey_id = create_survey(client)
    assert import_json(client, survey_id, [response("seed")]).status_code == 201

    r = import_json(client, survey_id, [response("a"), response("b", 11), response("c", plan="Gold")])
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert [(d["row"], d["field"]) for d in detail] == [(1, "nps"), (2, "plan")]
    assert [d["loc"] for d in detail] == [["body", "responses", 1, "nps"], ["body", "responses", 2, "plan"]]
    assert "from 0 to 10" in detail[0]["msg"]
    assert count(client, survey_id) == 1  # the valid row "a" was not written either


def test_invalid_json_record_names_row_and_field(client: TestClient) -> None:
    survey_id = create_survey(client)
    bad = {**response("b"), "started_at": "last tuesday"}
    r = import_json(client, survey_id, [response("a"), bad])
    assert r.status_code == 422
    [d] = r.json()["detail"]
    assert (d["row"], d["field"]) == (1, "started_at")  # the row is a number, as for answer errors
    assert d["loc"] == ["body", "responses", 1, "started_at"]
    assert count(client, survey_id) == 0


def test_non_finite_number_is_a_422_not_a_crash(client: TestClient) -> None:
    survey_id = create_survey(client)
    body = '{"responses": [{"started_at": "2026-03-02T07:00:00Z", "answers": {"nps": 1e400}}]}'
    r = client.post(f"/api/v1/surveys/{survey_id}/responses", content=body,
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert [(d["row"], d["field"]) for d in r.json()["detail"]] == [(0, "nps")]


def test_invalid_csv_row_names_spreadsheet_row_and_field_and_writes_nothing(client: TestClient) -> None:
    survey_id = create_survey(client)
    text = (CSV_HEADER + "r1,2026-03-02T07:00:00Z,,9,,,\n"
            + "r2,2026-03-02T07:00:00Z,,ten,,,\n"
            + "r3,2026-03-02T07:00:00Z,,5,,Alerts|Billing,\n")
    r = import_csv(client, survey_id, text)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert [(d["row"], d["field"]) for d in detail] == [(3, "nps")]
    assert "must be a whole number" in detail[0]["msg"]
    assert count(client, survey_id) == 0

    text = CSV_HEADER + "r1,2026-03-02T07:00:00Z,,9,,,\nr3,2026-03-02T07:00:00Z,,5,,Alerts|Billing,\n"
    r = import_csv(client, survey_id, text)
    assert r.status_code == 422
    assert [(d["row"], d["field"]) for d in r.json()["detail"]] == [(3, "features")]
    assert count(client, survey_id) == 0


def test_csv_with_an_unknown_column(client: TestClient) -> None:
    survey_id = create_survey(client)
    r = import_csv(client, survey_id, "started_at,colour\n2026-03-02T07:00:00Z,blue\n")
    assert r.status_code == 422
    assert [(d["row"], d["field"]) for d in r.json()["detail"]] == [(1, "colour")]


@pytest.mark.parametrize("content_type", ["application/json", "text/csv"])
@pytest.mark.parametrize("body", [b"", b"  \n "])
def test_empty_body(client: TestClient, content_type: str, body: bytes) -> None:
    survey_id = create_survey(client)
    r = client.post(f"/api/v1/surveys/{survey_id}/responses", content=body, headers={"content-type": content_type})
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["detail"]] == ["body"]


def test_empty_response_list(client: TestClient) -> None:
    survey_id = create_survey(client)
    r = import_json(client, survey_id, [])
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["detail"]] == ["responses"]


def test_malformed_json(client: TestClient) -> None:
    survey_id = create_survey(client)
    r = client.post(f"/api/v1/surveys/{survey_id}/responses", content=b'{"responses": [',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["detail"]] == ["body"]


@pytest.mark.parametrize("content_type", ["application/xml", "application/vnd.ms-excel", "image/png"])
def test_unsupported_content_type(client: TestClient, content_type: str) -> None:
    survey_id = create_survey(client)
    r = client.post(f"/api/v1/surveys/{survey_id}/responses", content=b"<responses/>",
                    headers={"content-type": content_type})
    assert r.status_code == 415
    assert count(client, survey_id) == 0


def test_upload_too_large(offline_settings: Settings) -> None:
    small = offline_settings.model_copy(update={"max_upload_bytes": 1024})
    with TestClient(create_app(small)) as client:
        survey_id = create_survey(client)
        body = CSV_HEADER + "".join(f"r{i},2026-03-02T07:00:00Z,,5,,,\n" for i in range(100))
        assert import_csv(client, survey_id, body).status_code == 413
        assert count(client, survey_id) == 0


def test_duplicate_respondent_across_two_imports(client: TestClient) -> None:
    survey_id = create_survey(client)
    assert import_json(client, survey_id, [response("r1"), response("r2")]).status_code == 201
    r = import_csv(client, survey_id, CSV_HEADER + "r3,2026-03-02T07:00:00Z,,5,,,\nr2,2026-03-02T07:00:00Z,,5,,,\n")
    assert r.status_code == 422
    [d] = r.json()["detail"]
    assert (d["row"], d["field"]) == (3, "respondent_id")
    assert "already imported" in d["msg"]
    r = import_json(client, survey_id, [response("r1")])
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "respondent_id"
    assert count(client, survey_id) == 2


def test_duplicate_respondent_within_one_import(client: TestClient) -> None:
    survey_id = create_survey(client)
    r = import_json(client, survey_id, [response("r1"), response("r1")])
    assert r.status_code == 422
    assert [(d["row"], d["field"]) for d in r.json()["detail"]] == [(1, "respondent_id")]
    assert count(client, survey_id) == 0


# --- report requests (no Temporal) --------------------------------------------------------------------------


def survey_with_responses(client: TestClient) -> str:
    survey_id = create_survey(client)
    assert import_json(client, survey_id, [response("a", 9), response("b", 3)]).status_code == 201
    return survey_id


def test_report_with_unknown_component(
    client: TestClient, temporal_stub: FailingTemporalClient, db: sessionmaker[Session]
) -> None:
    survey_id = survey_with_responses(client)
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["basic_stats", "astrology"]})
    assert r.status_code == 422
    [d] = r.json()["detail"]
    assert d["loc"] == ["body", "components"] and "astrology" in d["msg"]
    assert temporal_stub.calls == [] and report_count(db) == 0


def test_report_for_unknown_survey(
    client: TestClient, temporal_stub: FailingTemporalClient, db: sessionmaker[Session]
) -> None:
    r = client.post("/api/v1/reports", json={"survey_id": str(uuid.uuid4())})
    assert r.status_code == 404
    assert temporal_stub.calls == [] and report_count(db) == 0


def test_report_for_survey_without_responses(
    client: TestClient, temporal_stub: FailingTemporalClient, db: sessionmaker[Session]
) -> None:
    survey_id = create_survey(client)
    r = client.post("/api/v1/reports", json={"survey_id": survey_id})
    assert r.status_code == 422
    [d] = r.json()["detail"]
    assert d["loc"] == ["body", "survey_id"] and "no responses" in d["msg"]
    assert temporal_stub.calls == [] and report_count(db) == 0


def test_report_request_body_is_validated(client: TestClient, temporal_stub: FailingTemporalClient) -> None:
    r = client.post("/api/v1/reports", json={"survey_id": "nope"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "survey_id"]


def test_workflow_start_failure_is_503_and_marks_the_report_failed(
    client: TestClient, temporal_stub: FailingTemporalClient, db: sessionmaker[Session]
) -> None:
    survey_id = survey_with_responses(client)
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["basic_stats"]})
    assert r.status_code == 503
    assert len(temporal_stub.calls) == 1
    with db() as session:
        [report] = session.scalars(select(Report)).all()
        assert report.status == ReportStatus.FAILED
        assert report.error is not None and "temporal went away" in report.error
    status = client.get(f"/api/v1/reports/{report.id}/status").json()
    assert status["status"] == "failed"


def test_request_errors_are_reported_while_temporal_is_down(client: TestClient) -> None:
    survey_id = survey_with_responses(client)
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["astrology"]})
    assert r.status_code == 422


def test_unreachable_temporal_is_503_and_marks_the_report_failed(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    survey_id = survey_with_responses(client)
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["basic_stats"]})
    assert r.status_code == 503
    with db() as session:
        [report] = session.scalars(select(Report)).all()
        assert report.status == ReportStatus.FAILED and report.error


@pytest.mark.parametrize("path", ["/api/v1/reports/{id}", "/api/v1/reports/{id}/status", "/api/v1/reports/{id}/pdf",
                                  "/api/v1/reports/{id}/components/basic_stats",
                                  "/api/v1/reports/{id}/notebooks/basic_stats.ipynb", "/reports/{id}"])
def test_unknown_report_is_404(client: TestClient, path: str) -> None:
    assert client.get(path.format(id=uuid.uuid4())).status_code == 404


# --- stored reports -----------------------------------------------------------------------------------------


def queued_report(db: sessionmaker[Session], survey_id: str) -> uuid.UUID:
    with transaction(db) as session:
        report = create_report_run(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                   survey_id=uuid.UUID(survey_id), component_names=["basic_stats"])
        return report.id


def complete(db: sessionmaker[Session], report_id: uuid.UUID, result: dict[str, Any], notebook: str) -> None:
    with transaction(db) as session:
        report_store.start_component(session, report_id=report_id, name="basic_stats", cells_total=3)
        report_store.finish_component(
            session, report_id=report_id, name="basic_stats", status=ComponentStatus.COMPLETED, result=result,
            html="<section><p>Component body: 42 responses</p></section>", notebook=notebook, error=None,
            cells_done=3,
        )
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.COMPLETED)


def test_queued_report_answers_202_with_its_status(client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = survey_with_responses(client)
    report_id = queued_report(db, survey_id)
    for path in ("", "/pdf", "/components/basic_stats", "/notebooks/basic_stats.ipynb"):
        r = client.get(f"/api/v1/reports/{report_id}{path}")
        assert r.status_code == 202, path
        body = r.json()
        assert body["report_id"] == str(report_id) and body["status"] == "queued"
        assert body["survey_id"] == survey_id
        assert [c["name"] for c in body["components"]] == ["basic_stats"]
        assert body["components"][0]["status"] == "pending"
        assert body["progress"] == 0.0
        assert body["links"]["status"] == f"/api/v1/reports/{report_id}/status"
    r = client.get(f"/api/v1/reports/{report_id}/status")
    assert r.status_code == 200 and r.json()["status"] == "queued"
    assert client.get(f"/api/v1/reports/{report_id}/components/themes").status_code == 404
    listed = client.get("/api/v1/reports", params={"survey_id": survey_id}).json()
    assert [d["report_id"] for d in listed["data"]] == [str(report_id)]


def test_queued_report_page_shows_progress(client: TestClient, db: sessionmaker[Session]) -> None:
    report_id = queued_report(db, survey_with_responses(client))
    r = client.get(f"/reports/{report_id}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Acme feedback" in r.text and "<script" not in r.text.lower()


def test_completed_report(client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = survey_with_responses(client)
    report_id = queued_report(db, survey_id)
    result = {"response_count": 2, "completed_count": 2, "completion_rate": 1.0, "nps": 0.0,
              "questions": [{"key": "nps", "mean": 6.0, "label": "Empfehlung ✓"}]}
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')")])
    notebook_text = nbformat.writes(notebook)
    complete(db, report_id, result, notebook_text)

    r = client.get(f"/api/v1/reports/{report_id}")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "completed" and body["progress"] == 1.0
    assert body["survey_title"] == "Acme feedback"
    assert [(c["name"], c["status"], c["result"]) for c in body["components"]] == [
        ("basic_stats", "completed", result)]
    assert body["components"][0]["attempts"] == 1

    r = client.get(f"/api/v1/reports/{report_id}/components/basic_stats")
    assert r.status_code == 200
    assert r.json()["result"] == result and r.json()["cells_done"] == 3

    r = client.get(f"/api/v1/reports/{report_id}/notebooks/basic_stats.ipynb")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ipynb+json")
    assert f'filename="{report_id}-basic_stats.ipynb"' in r.headers["content-disposition"]
    downloaded = nbformat.reads(r.text, as_version=4)
    assert downloaded.cells[0].source == "print('hi')"

    r = client.get(f"/reports/{report_id}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # no scripts allowed at all
    assert "<script" not in r.text.lower()
    assert "Component body: 42 responses" in r.text
    assert "Acme feedback" in r.text


def test_report_page_escapes_the_survey_title(client: TestClient, db: sessionmaker[Session]) -> None:
    title = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    survey_id = create_survey(client, title=title)
    assert client.get(f"/api/v1/surveys/{survey_id}").json()["title"] == title  # stored as given
    assert import_json(client, survey_id, [response("a")]).status_code == 201
    report_id = queued_report(db, survey_id)
    complete(db, report_id, {"response_count": 1}, nbformat.writes(nbformat.v4.new_notebook()))

    r = client.get(f"/reports/{report_id}")
    assert r.status_code == 200
    assert "content-security-policy" in r.headers
    assert "<script" not in r.text.lower()
    assert "<img" not in r.text.lower()
    assert "&lt;script&gt;" in r.text
    assert client.get(f"/api/v1/reports/{report_id}").json()["survey_title"] == title


def test_failed_component_without_notebook_is_404_not_202(client: TestClient, db: sessionmaker[Session]) -> None:
    report_id = queued_report(db, survey_with_responses(client))
    with transaction(db) as session:
        report_store.finish_component(session, report_id=report_id, name="basic_stats",
                                      status=ComponentStatus.FAILED, result=None, html=None, notebook=None,
                                      error={"message": "kernel died"})
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.FAILED, error="all failed")
    assert client.get(f"/api/v1/reports/{report_id}/notebooks/basic_stats.ipynb").status_code == 404
    r = client.get(f"/api/v1/reports/{report_id}/components/basic_stats")
    assert r.status_code == 200 and r.json()["error"] == {"message": "kernel died"}
    body = client.get(f"/api/v1/reports/{report_id}").json()
    assert body["status"] == "failed" and body["failed_components"] == ["basic_stats"]


def test_pdf_without_a_browser_is_503_naming_the_fix(offline_settings: Settings) -> None:
    settings = offline_settings.model_copy(update={"chromium_path": "/nonexistent/chromium"})
    with TestClient(create_app(settings)) as client:
        engine = make_engine(settings.effective_database_url)
        db = make_sessionmaker(engine)
        report_id = queued_report(db, survey_with_responses(client))
        notebook = nbformat.writes(nbformat.v4.new_notebook(metadata={"kernelspec": {
            "name": "workbench", "display_name": "Workbench", "language": "python"}}))
        complete(db, report_id, {"response_count": 1, "completed_count": 1, "completion_rate": 1.0,
                                 "questions": {}}, notebook)
        r = client.get(f"/api/v1/reports/{report_id}/pdf")
        engine.dispose()
    assert r.status_code == 503
    assert "apt-get install chromium" in r.json()["detail"] and "/nonexistent/chromium" in r.json()["detail"]
