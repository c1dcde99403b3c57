"""The component catalogue and per-component parameters through the API (in process, Temporal stubbed)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.temporal import TemporalGateway
from tests.integration.api_support import create_survey, import_json, report_count, response
from workbench.config import Settings
from workbench.reports.links import ReportLinks
from workbench.storage.models import Report
from workers.shared import ReportInput


class RecordingTemporalClient:
    """Accepts workflow starts and keeps their inputs (the workflow itself is tested on real servers)."""

    def __init__(self) -> None:
        self.inputs: list[ReportInput] = []

    async def start_workflow(self, run: Any, arg: ReportInput, **kwargs: Any) -> None:
        self.inputs.append(arg)


@pytest.fixture
def recorder(client: TestClient, offline_settings: Settings) -> Iterator[RecordingTemporalClient]:
    stub = RecordingTemporalClient()
    client.app.state.temporal = TemporalGateway(offline_settings, client=stub)  # type: ignore[attr-defined]
    yield stub


@pytest.fixture
def survey_id(client: TestClient) -> str:
    survey_id = create_survey(client)
    assert import_json(client, survey_id, [response("a", 9), response("b", 3)]).status_code == 201
    return survey_id


def test_the_catalogue_lists_needs_parameters_and_result_schemas(client: TestClient) -> None:
    body = client.get("/api/v1/components").json()
    specs = {c["name"]: c for c in body["data"]}
    assert list(specs) == ["basic_stats", "sentiment", "themes", "segments", "visualizations", "summary"]
    assert body["stages"] == [["basic_stats", "sentiment", "themes", "segments"], ["visualizations", "summary"]]
    assert specs["visualizations"]["needs"] == ["basic_stats"] and specs["themes"]["needs"] == []
    n_themes = next(p for p in specs["themes"]["parameters"] if p["name"] == "n_themes")
    assert n_themes == {"name": "n_themes", "type": "int", "default": 6, "description": (
        "at most this many themes per text question (fewer when the answers support fewer)")}
    schema = specs["themes"]["parameters_schema"]["properties"]["n_themes"]
    assert (schema["type"], schema["default"], schema["minimum"], schema["maximum"]) == ("integer", 6, 2, 30)
    # what the pipeline injects is not a parameter a request may set
    names = {p["name"] for c in specs.values() for p in c["parameters"]}
    assert "snapshot_path" not in names and "basic_stats_result_path" not in names
    assert {"survey_title", "response_count", "nps", "questions"} <= set(
        specs["basic_stats"]["result_schema"]["required"])
    segments = {p["name"]: p for p in specs["segments"]["parameters"]}
    assert segments["segment_by"]["default"] == [] and segments["correction"]["default"] == "bh"
    alpha = specs["segments"]["parameters_schema"]["properties"]["alpha"]
    assert (alpha["default"], alpha["exclusiveMinimum"], alpha["exclusiveMaximum"]) == (0.05, 0, 0.5)
    assert {"segment_by", "findings", "breakdowns"} <= set(specs["segments"]["result_schema"]["required"])


def test_parameters_are_stored_and_needs_reach_the_workflow(
    client: TestClient, recorder: RecordingTemporalClient, db: sessionmaker[Session], survey_id: str
) -> None:
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["visualizations", "themes"],
                                             "parameters": {"themes": {"n_themes": 8}}})
    assert r.status_code == 202, r.text
    # what visualizations needs is added; the order follows the graph
    assert r.json()["components"] == ["basic_stats", "themes", "visualizations"]
    [sent] = recorder.inputs
    assert [(p.name, p.needs) for p in sent.components] == [
        ("basic_stats", []), ("themes", []), ("visualizations", ["basic_stats"])]
    with db() as session:
        [report] = session.scalars(select(Report)).all()
        assert report.parameters == {"themes": {"n_themes": 8}}
    status = client.get(r.json()["status_url"]).json()
    assert status["parameters"] == {"themes": {"n_themes": 8}}


@pytest.mark.parametrize(("components", "parameters", "loc", "message"), [
    (None, {"astrology": {}}, ["parameters", "astrology"], "unknown component"),
    (None, {"themes": {"n_topics": 3}}, ["parameters", "themes", "n_topics"], "Extra inputs are not permitted"),
    (None, {"themes": {"n_themes": "8"}}, ["parameters", "themes", "n_themes"], "valid integer"),
    (None, {"themes": {"n_themes": 8.5}}, ["parameters", "themes", "n_themes"], "valid integer"),
    (None, {"themes": {"n_themes": 1}}, ["parameters", "themes", "n_themes"], "greater than or equal to 2"),
    (None, {"themes": {"n_themes": 10_000}}, ["parameters", "themes", "n_themes"], "less than or equal to 30"),
    (None, {"sentiment": {"top_n": True}}, ["parameters", "sentiment", "top_n"], "valid integer"),
    (None, {"themes": {"snapshot_path": "/etc/passwd"}}, ["parameters", "themes", "snapshot_path"], "Extra inputs"),
    (["themes"], {"sentiment": {"top_n": 2}}, ["parameters", "sentiment"], "does not run"),
    (None, {"segments": {"alpha": 0.5}}, ["parameters", "segments", "alpha"], "less than 0.5"),
    (None, {"segments": {"alpha": 0}}, ["parameters", "segments", "alpha"], "greater than 0"),
    (None, {"segments": {"correction": "bonferroni"}}, ["parameters", "segments", "correction"], "match pattern"),
    (None, {"segments": {"segment_by": "plan"}}, ["parameters", "segments", "segment_by"], "valid list"),
])
def test_bad_parameters_are_a_422_naming_component_and_parameter_before_anything_is_queued(
    client: TestClient, recorder: RecordingTemporalClient, db: sessionmaker[Session], survey_id: str,
    components: list[str] | None, parameters: dict[str, Any], loc: list[str], message: str,
) -> None:
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": components,
                                             "parameters": parameters})
    assert r.status_code == 422, r.text
    [detail] = r.json()["detail"]
    assert detail["loc"] == ["body", *loc] and message in detail["msg"]
    assert recorder.inputs == [] and report_count(db) == 0


def test_parameters_must_be_objects(client: TestClient, recorder: RecordingTemporalClient, survey_id: str) -> None:
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "parameters": {"themes": 8}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:3] == ["body", "parameters", "themes"]


def test_links_are_the_routes_the_app_serves(client: TestClient) -> None:
    report_id = uuid.uuid4()
    links = ReportLinks.of(report_id)
    app = client.app
    assert links.status == app.url_path_for("get_status", report_id=str(report_id))  # type: ignore[attr-defined]
    assert links.report == app.url_path_for("get_report", report_id=str(report_id))  # type: ignore[attr-defined]
    assert links.pdf == app.url_path_for("get_pdf", report_id=str(report_id))  # type: ignore[attr-defined]
    assert links.page == app.url_path_for("get_report_page", report_id=str(report_id))  # type: ignore[attr-defined]
    assert links.notebook("themes") == app.url_path_for(  # type: ignore[attr-defined]
        "get_notebook", report_id=str(report_id), component="themes")
    assert ReportLinks.of(report_id, "https://reports.example").page == f"https://reports.example/reports/{report_id}"


@pytest.mark.parametrize("path", ["/api/v1/reports/not-a-uuid", "/api/v1/reports/123/status", "/reports/x%27",
                                  "/api/v1/reports/zz/notebooks/themes.ipynb", "/api/v1/surveys/nope"])
def test_a_malformed_id_is_404_like_an_unknown_one(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404 and "not found" in r.json()["detail"]


def test_openapi_lists_the_status_values(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["ReportStatus"]["enum"] == ["queued", "running", "completed", "partial", "failed", "cancelled"]
    assert schemas["ComponentStatus"]["enum"] == ["pending", "running", "completed", "failed", "skipped",
                                                  "cancelled"]


def test_liveness_does_not_depend_on_temporal_but_readiness_does(client: TestClient) -> None:
    # Temporal is unreachable in these tests: the process is alive, but not ready for traffic
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["temporal"] is False
    assert client.get("/health").json() == ready.json()


def test_a_remote_engine_without_a_key_is_a_422_before_anything_is_queued(
    client: TestClient, recorder: RecordingTemporalClient, db: sessionmaker[Session], survey_id: str
) -> None:
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "parameters": {"sentiment": {"engine": "openai"}}})
    assert r.status_code == 422, r.text
    [detail] = r.json()["detail"]
    assert detail["loc"] == ["body", "parameters", "sentiment", "engine"]
    assert "WORKBENCH_OPENAI_API_KEY" in detail["msg"]
    assert recorder.inputs == [] and report_count(db) == 0


def test_a_remote_engine_sends_only_its_component_to_the_ai_queue(offline_settings: Settings) -> None:
    from workbench.reports.request import resolve_request
    from workers.starter import report_input

    names, checked = resolve_request(["sentiment", "themes"], {"sentiment": {"engine": "openai"}},
                                     offline_settings.notebooks_dir, remote_engines=True)
    plan = report_input(offline_settings, "r1", names, checked)
    queues = {p.name: p.task_queue for p in plan.components}
    prefix = offline_settings.task_queue
    assert queues == {"sentiment": f"{prefix}-ai", "themes": f"{prefix}-notebooks"}
    # the local engine keeps sentiment on the notebooks queue
    local = report_input(offline_settings, "r2", names, {"sentiment": {"engine": "minilm"}})
    assert {p.name: p.task_queue for p in local.components}["sentiment"] == f"{prefix}-notebooks"
