"""Issue 6's hostile inputs through the API in process, on SQLite and on PostgreSQL, and the largest allowed choice
question through the real notebooks: refused with a small 422 naming the field or the limit, never a 500; what
is allowed renders in seconds as a small page.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.integration.api_support import CSV_HEADER, SURVEY, create_survey, import_json, response
from tests.integration.conftest import offline_settings  # noqa: F401  (a fixture used below)
from workbench.analysis.stats import basic_stats
from workbench.components import components
from workbench.config import REPO_ROOT, Settings
from workbench.notebook import load_snapshot
from workbench.rendering.html import render_component_html
from workbench.results import extract_result
from workbench.surveys.schema import MAX_OPTION_LENGTH, MAX_OPTIONS

pytestmark = pytest.mark.faults

NOTEBOOKS = REPO_ROOT / "notebooks"
SMALL_BODY = 20_000  # bytes: a 422 is a few short issues, whatever the survey holds


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, offline_settings: Settings) -> Iterator[TestClient]:  # noqa: F811
    """The app on SQLite, or on the session's PostgreSQL database (where NUL once gave a 500)."""
    settings = offline_settings
    if request.param == "postgresql":
        settings = settings.model_copy(update={"database_url": request.getfixturevalue("postgres_url")})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _options(count: int) -> list[str]:
    return [f"option {i:04d}" for i in range(count)]


# --- the amplification probe ---------------------------------------------------------------------------------

def test_a_10000_option_survey_is_refused_naming_the_limit(api: TestClient) -> None:
    question = {"key": "c", "type": "single_choice", "text": "Pick", "options": _options(10_000)}
    r = api.post("/api/v1/surveys", json={**SURVEY, "questions": [question]})
    assert r.status_code == 422, r.text[:500]
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "questions", 0, "options"]
    assert f"at most {MAX_OPTIONS} options" in error["msg"]
    # the refused list is quoted back cut short: the error stays small whatever the request's size
    assert len(r.content) < 3_000 < len(r.request.content)


def test_a_body_with_thousands_of_errors_gets_a_bounded_422(api: TestClient) -> None:
    questions = [{"key": f"q{i}", "type": "astrology", "text": "x" * 1_000} for i in range(150)]
    r = api.post("/api/v1/surveys", json={**SURVEY, "questions": questions, **{f"junk{i}": i for i in range(500)}})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert len(detail) == 51 and detail[-1]["msg"].endswith("more errors not shown")
    assert len(r.content) < 30_000 < len(r.request.content)


def test_a_5kb_import_against_the_largest_question_gets_a_small_422(api: TestClient) -> None:
    options = [o.ljust(MAX_OPTION_LENGTH, "x") for o in _options(MAX_OPTIONS)]
    question = {"key": "c", "type": "single_choice", "text": "Pick", "options": options}
    survey_id = create_survey(api, questions=[question])
    records = [{"started_at": "2026-03-02T07:00:00Z", "answers": {"c": f"wrong {i}"}} for i in range(75)]
    r = import_json(api, survey_id, records)
    assert 4_000 < len(r.request.content) < 6_000
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert len(detail) == 51 and detail[-1]["msg"] == "25 more issues not shown"
    assert all(len(d["msg"]) < 500 and f"the {MAX_OPTIONS} options" in d["msg"] for d in detail[:-1])
    assert len(r.content) < SMALL_BODY, len(r.content)  # it was 50 MB


# --- NUL in every field: a 422 naming it on both databases, nothing stored -----------------------------------

def _with(place: str, value: str) -> dict[str, Any]:
    survey = json.loads(json.dumps(SURVEY))
    questions = survey["questions"]
    match place:
        case "title" | "description":
            survey[place] = value
        case "key":
            questions[3]["key"] = value
        case "text":
            questions[3]["text"] = value
        case "option":
            questions[1]["options"] = ["Free", value]
    return survey


SURVEY_PLACES = {"title": ["title"], "description": ["description"], "key": ["questions", 3, "key"],
                 "text": ["questions", 3, "text"], "option": ["questions", 1, "options"]}


@pytest.mark.parametrize("place", SURVEY_PLACES)
def test_nul_in_a_survey_is_a_422_naming_the_field(api: TestClient, place: str) -> None:
    r = api.post("/api/v1/surveys", json=_with(place, "bad\u0000value"))
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", *SURVEY_PLACES[place]] and "U+0000" in error["msg"]


@pytest.mark.parametrize(("record", "field"), [
    (response("r\u00001"), "respondent_id"),
    (response("r1", improve="slow\u0000"), "improve"),
    (response("r1", plan="Pro\u0000"), "plan"),
    (response("r1", features=["API\u0000"]), "features"),
    (response("r1", **{"improve\u0000": "x"}), "improve\\x00"),
], ids=["respondent_id", "text", "single_choice", "multi_choice", "answer_key"])
def test_nul_in_a_json_import_is_a_422_naming_row_and_field(api: TestClient, record: dict[str, Any],
                                                            field: str) -> None:
    survey_id = create_survey(api)
    r = import_json(api, survey_id, [response("ok"), record])
    assert r.status_code == 422, r.text
    assert [(d["row"], d["field"]) for d in r.json()["detail"]] == [(1, field)]
    assert api.get(f"/api/v1/surveys/{survey_id}").json()["response_count"] == 0


@pytest.mark.parametrize(("row", "field"), [
    ("r\x001,2026-03-02T07:00:00Z,,8,,,", "respondent_id"),
    ("r1,2026-03-02T07:00:00Z,,8,,,slow\x00", "improve"),
    ("r1,2026-03-02T07:00:00Z,,8,Pro\x00,,", "plan"),
    ("r1,2026-03-02T07:00:00Z,,8,,API|\x00,", "features"),
], ids=["respondent_id", "text", "single_choice", "multi_choice"])
def test_nul_in_a_csv_import_is_a_422_naming_row_and_field(api: TestClient, row: str, field: str) -> None:
    survey_id = create_survey(api)
    body = (CSV_HEADER + row + "\n").encode()
    r = api.post(f"/api/v1/surveys/{survey_id}/responses", content=body, headers={"content-type": "text/csv"})
    assert r.status_code == 422, r.text
    assert [(d["row"], d["field"]) for d in r.json()["detail"]] == [(2, field)]
    assert api.get(f"/api/v1/surveys/{survey_id}").json()["response_count"] == 0


def test_a_lone_surrogate_in_a_survey_is_a_422_not_a_500(api: TestClient) -> None:
    # JSON may spell an unpaired surrogate (\ud800); no UTF-8 column can store it.
    body = json.dumps({**SURVEY, "title": "x\ud800"}).encode()
    r = api.post("/api/v1/surveys", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "title"]


@pytest.mark.parametrize(("record", "field"), [
    (response("r\ud800"), "respondent_id"),
    (response("r1", improve="slow\ud800"), "improve"),
    (response("r1", plan="Pro\ud800"), "plan"),
], ids=["respondent_id", "text", "single_choice"])
def test_a_lone_surrogate_in_an_import_is_a_422(api: TestClient, record: dict[str, Any], field: str) -> None:
    survey_id = create_survey(api)
    body = json.dumps({"responses": [record]}).encode()  # ASCII: the surrogate travels as a \ud800 escape
    r = api.post(f"/api/v1/surveys/{survey_id}/responses", content=body,
                 headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert [(d["row"], d["field"]) for d in r.json()["detail"]] == [(0, field)]


# --- the largest allowed choice question through the real notebooks ------------------------------------------

@pytest.fixture(scope="module")
def largest_choice_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 options of the longest allowed length, single and multiple choice, 3,000 responses."""
    options = [o.ljust(MAX_OPTION_LENGTH, "~") for o in _options(MAX_OPTIONS)]
    responses = [
        {"started_at": "2026-03-02T10:00:00Z", "completed_at": "2026-03-02T10:03:00Z",
         "answers": {"one": options[(i * 37) % MAX_OPTIONS], "many": options[i % 11:: 97]}}
        for i in range(3000)
    ]
    path = tmp_path_factory.mktemp("largest") / "snapshot.json"
    path.write_text(json.dumps({
        "survey": {"id": "largest", "title": "Largest choice questions", "questions": [
            {"key": "one", "type": "single_choice", "text": "Pick one", "options": options},
            {"key": "many", "type": "multi_choice", "text": "Pick some", "options": options},
        ]},
        "responses": responses,
    }))
    return path


def _run(name: str, snapshot: Path, out_dir: Path) -> tuple[Any, float]:
    parameters = {"snapshot_path": str(snapshot)}
    for need in components.get(name).needs:
        upstream = out_dir / f"{need}.result.json"
        upstream.write_text(json.dumps(basic_stats(load_snapshot(snapshot))))
        parameters[f"{need}_result_path"] = str(upstream)
    out = out_dir / f"{name}.out.ipynb"
    start = time.perf_counter()
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=parameters,
                               kernel_name="workbench", cwd=str(NOTEBOOKS), progress_bar=False)
    return nbformat.read(out, as_version=4), time.perf_counter() - start


def test_visualizations_of_the_largest_choice_question_are_quick_and_small(
    largest_choice_snapshot: Path, tmp_path: Path
) -> None:
    nb, seconds = _run("visualizations", largest_choice_snapshot, tmp_path)
    html = render_component_html(nb)
    print(f"visualizations: {seconds:.1f} s, {len(html)} bytes of HTML")
    assert seconds < 60, seconds  # kernel start included; it took 5 min 43 s for one 10,000-option question
    assert len(html) < 1_000_000, len(html)  # it was 35 MB
    assert extract_result(nb, components.get("visualizations").result_model)["chart_count"] == 2


def test_basic_stats_of_the_largest_choice_question_is_exact_with_a_short_table(
    largest_choice_snapshot: Path, tmp_path: Path
) -> None:
    nb, seconds = _run("basic_stats", largest_choice_snapshot, tmp_path)
    result = extract_result(nb, components.get("basic_stats").result_model)
    assert result == json.loads(json.dumps(basic_stats(load_snapshot(largest_choice_snapshot))))
    assert len(result["questions"]["one"]["options"]) == MAX_OPTIONS  # every option's count is kept
    html = render_component_html(nb)
    print(f"basic_stats: {seconds:.1f} s, {len(html)} bytes of HTML")
    assert html.count("other (985 options)") == 2 and len(html) < 1_000_000
