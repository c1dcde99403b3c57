"""The HTTP API in process: surveys and response imports."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.conftest import AUTH
from tests.integration.api_support import (
    CSV_HEADER,
    SURVEY,
    count,
    create_survey,
    import_csv,
    import_json,
    response,
)
from workbench.config import Settings
from workbench.storage.models import DEFAULT_ORGANIZATION_ID


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
    assert client.get("/api/v1/surveys/not-a-uuid").status_code == 404  # a malformed id names nothing either


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
    [d] = r.json()["detail"]  # the declared 422 shape: a list, like every other import error
    assert d["loc"] == ["body", "file"] and "'file' field" in d["msg"]


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
    # one pass: the cell that does not parse and the answer that is not an option are reported together
    assert [(d["row"], d["field"]) for d in detail] == [(3, "nps"), (4, "features")]
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
    with TestClient(create_app(small), headers=AUTH) as client:
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


# --- one request: survey and responses, all or nothing (issue 7) -------------------------------------------------

RAW_EXPORT = ('"ID","How likely are you to recommend us?","Your plan ","Tools you use","Why?","Why?","Sent"\n'
              'a1,9,pro,Alerts;API,fast,x,03/02/2026 07:09\n'
              'a2,4.0,Free,,slow,,03/03/2026 10:00\n')
RAW_MAPPING: dict[str, Any] = {
    "survey": SURVEY,
    "columns": {"ID": "respondent_id", "How likely are you to recommend us?": "nps", "Your plan": "plan",
                "Tools you use": "features", "#5": "improve", "#6": None, "Sent": "completed_at"},
    "separator": ";", "date_format": "%m/%d/%Y %H:%M",
}


def survey_titles(client: TestClient) -> list[str]:
    return [s["title"] for s in client.get("/api/v1/surveys").json()["data"]]


def test_a_survey_and_its_responses_in_one_request(client: TestClient) -> None:
    body = {**SURVEY, "responses": [response("r1", nps=9, plan="Pro"), response("r2", nps=3)]}
    r = client.post("/api/v1/surveys", json=body)
    assert r.status_code == 201, r.text
    assert (r.json()["response_count"], r.json()["completed_count"]) == (2, 2)


def test_a_rejected_response_leaves_no_survey_behind(client: TestClient) -> None:
    body = {**SURVEY, "responses": [response("r1", nps=9), response("r2", nps=11), response("r1", plan="Gold")]}
    r = client.post("/api/v1/surveys", json=body)
    assert r.status_code == 422
    assert [(d["row"], d["field"]) for d in r.json()["detail"]] == [(1, "nps"), (2, "plan"), (2, "respondent_id")]
    assert "appears on rows 0 and 2" in r.json()["detail"][2]["msg"]
    assert survey_titles(client) == []
    # keep-last: the duplicate is not an issue, the last occurrence is kept
    body = {**SURVEY, "on_duplicate": "keep-last", "responses": [response("r1", nps=9), response("r1", nps=2)]}
    r = client.post("/api/v1/surveys", json=body)
    assert r.status_code == 201 and r.json()["response_count"] == 1


def test_import_endpoint_creates_survey_and_responses_from_a_raw_export(client: TestClient) -> None:
    files = {"file": ("export.csv", RAW_EXPORT.encode(), "text/csv"), "mapping": (None, json.dumps(RAW_MAPPING))}
    r = client.post("/api/v1/surveys/import", files=files)
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["title"], created["response_count"], created["completed_count"]) == (SURVEY["title"], 2, 2)


def test_a_rejected_raw_import_leaves_nothing(client: TestClient) -> None:
    bad = RAW_EXPORT + "a1,12,Gold,,,,yesterday\n"
    files = {"file": ("export.csv", bad.encode(), "text/csv"), "mapping": (None, json.dumps(RAW_MAPPING))}
    r = client.post("/api/v1/surveys/import", files=files)
    assert r.status_code == 422
    assert [(d["row"], d["field"]) for d in r.json()["detail"]] == [
        (4, "completed_at"), (4, "nps"), (4, "plan"), (4, "respondent_id")]
    assert survey_titles(client) == []
    # the mapping must carry the survey to create
    files["mapping"] = (None, json.dumps({k: v for k, v in RAW_MAPPING.items() if k != "survey"}))
    r = client.post("/api/v1/surveys/import", files=files)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "mapping.survey"
    files["mapping"] = (None, "{not json")
    assert client.post("/api/v1/surveys/import", files=files).status_code == 422
    assert survey_titles(client) == []


def test_responses_import_takes_a_mapping_part_and_query_options(client: TestClient) -> None:
    survey_id = create_survey(client)
    mapping = {k: v for k, v in RAW_MAPPING.items() if k not in ("survey", "separator")}
    files = {"file": ("export.csv", RAW_EXPORT.encode(), "text/csv"), "mapping": (None, json.dumps(mapping))}
    r = client.post(f"/api/v1/surveys/{survey_id}/responses?separator=%3B", files=files)
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2
    # a raw CSV body with options in the query: a duplicate kept last
    text = "respondent_id,nps\nz1,3\nz1,4\n"
    r = client.post(f"/api/v1/surveys/{survey_id}/responses?on_duplicate=keep-last", content=text.encode(),
                    headers={"content-type": "text/csv"})
    assert r.status_code == 201 and r.json()["imported"] == 1
    r = client.post(f"/api/v1/surveys/{survey_id}/responses?on_duplicate=first", content=text.encode(),
                    headers={"content-type": "text/csv"})
    assert r.status_code == 422


def test_declared_segments_are_stored_and_shown(client: TestClient) -> None:
    survey_id = create_survey(client, segments=["plan"])
    assert client.get(f"/api/v1/surveys/{survey_id}").json()["segments"] == ["plan"]
    r = client.post("/api/v1/surveys", json={**SURVEY, "segments": ["improve"]})  # a text question cannot segment
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "segments"]
