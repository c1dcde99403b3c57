"""The one response-import entry point: format resolution, the format registry, one error mapping for all callers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from tests.factories import feedback_survey
from workbench.surveys import imports
from workbench.surveys.imports import (
    ResponseFormat,
    UnsupportedFormatError,
    formats,
    issues_from_validation_error,
    parse_responses,
    read_responses_file,
    read_survey_file,
    register_format,
    resolve_format,
)
from workbench.surveys.kinds import ImportOptions
from workbench.surveys.schema import ResponseRecord, SurveyDefinition
from workbench.surveys.validation import ImportIssue, ImportValidationError

T0 = "2026-03-02T07:00:00Z"


@pytest.fixture
def definition() -> SurveyDefinition:
    return feedback_survey()


def issues(call: Any) -> list[ImportIssue]:
    with pytest.raises(ImportValidationError) as info:
        call()
    return info.value.issues


def response(rid: str | None, **answers: Any) -> dict[str, Any]:
    return {"respondent_id": rid, "started_at": T0, "answers": answers}


# --- format resolution ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("media_type", "fmt"), [
    ("application/json", "json"),
    ("application/json; charset=utf-8", "json"),
    ("text/csv", "csv"),
    ("Text/CSV; charset=utf-8", "csv"),
    ("application/csv", "csv"),
    ("text/plain", "csv"),
])
def test_format_from_media_type(media_type: str, fmt: str) -> None:
    assert resolve_format(media_type=media_type) == fmt


@pytest.mark.parametrize(("filename", "fmt"), [
    ("responses.csv", "csv"), ("EXPORT.CSV", "csv"), ("batch.json", "json"), (Path("/tmp/a.b/x.json"), "json"),
])
def test_format_from_file_suffix(filename: str | Path, fmt: str) -> None:
    assert resolve_format(filename=filename) == fmt


def test_a_known_suffix_wins_over_a_loose_media_type() -> None:
    assert resolve_format(media_type="text/plain", filename="batch.json") == "json"
    assert resolve_format(media_type="application/octet-stream", filename="export.csv") == "csv"
    # an unknown suffix leaves the decision to the media type
    assert resolve_format(media_type="text/csv", filename="export.txt") == "csv"


@pytest.mark.parametrize("media_type", ["application/xml", "application/vnd.ms-excel", "image/png", ""])
def test_unsupported_media_type_names_what_to_send(media_type: str) -> None:
    with pytest.raises(UnsupportedFormatError, match="send application/json or text/csv, not"):
        resolve_format(media_type=media_type)


def test_unsupported_file_suffix_names_the_file_and_the_suffixes() -> None:
    with pytest.raises(UnsupportedFormatError, match=r"cannot import 'answers.xlsx': use a \.json or \.csv file"):
        resolve_format(filename="data/answers.xlsx")


# --- the registry -----------------------------------------------------------------------------------------------


def test_json_and_csv_are_registered() -> None:
    assert formats() == ["json", "csv"]


def test_an_overlapping_format_is_refused() -> None:
    def parse(definition: SurveyDefinition, data: Any) -> tuple[list[ResponseRecord], None]:
        return [], None

    with pytest.raises(ValueError, match="overlaps the registered format 'csv'"):
        register_format(ResponseFormat("tsv", "TSV", ("text/tab-separated-values",), (".csv",), parse))
    assert formats() == ["json", "csv"]


def test_a_new_format_is_one_registration(monkeypatch: pytest.MonkeyPatch, definition: SurveyDefinition) -> None:
    monkeypatch.setattr(imports, "_FORMATS", dict(imports._FORMATS))  # keep the real registry untouched

    def parse_lines(
        definition: SurveyDefinition, data: Any, options: ImportOptions
    ) -> tuple[list[ResponseRecord], list[int | str]]:
        lines = data.splitlines()
        records = [ResponseRecord.model_validate({"started_at": T0, "answers": {"nps": int(n)}}) for n in lines]
        return records, list(range(1, len(lines) + 1))

    register_format(ResponseFormat("nps-lines", "NPS list", ("text/x-nps",), (".nps",), parse_lines))
    assert resolve_format(media_type="text/x-nps") == resolve_format(filename="scores.nps") == "nps-lines"
    assert [r.answers for r in parse_responses(definition, b"9\n7\n", fmt="nps-lines")] == [{"nps": 9}, {"nps": 7}]
    # the entry point validates what any parser returns, with the parser's row numbers
    assert [(i.row, i.field) for i in issues(lambda: parse_responses(definition, "9\n12\n", fmt="nps-lines"))] == [
        (2, "nps")
    ]


def test_unknown_format_name(definition: SurveyDefinition) -> None:
    with pytest.raises(UnsupportedFormatError, match="unknown import format 'xlsx'"):
        parse_responses(definition, b"", fmt="xlsx")


# --- the one ValidationError mapping ---------------------------------------------------------------------------


class _Batch(BaseModel):
    records: list[ResponseRecord]


def _error(data: Any, model: Any = list[ResponseRecord]) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(model).validate_python(data)
    return info.value


def test_mapping_reads_the_row_from_a_list_loc() -> None:
    exc = _error([response("a"), {"started_at": "last tuesday"}, "not an object"])
    assert [(i.row, i.field) for i in issues_from_validation_error(exc, whole="response")] == [
        (1, "started_at"), (2, "response"),
    ]


def test_mapping_with_a_given_row_keeps_the_whole_loc_as_field() -> None:
    exc = _error({"records": [{"started_at": T0, "colour": "blue"}]}, _Batch)
    assert [(i.row, i.field) for i in issues_from_validation_error(exc, row=7)] == [(7, "records.0.colour")]
    assert [(i.row, i.field) for i in issues_from_validation_error(exc, row="-")] == [("-", "records.0.colour")]


def test_api_and_cli_callers_get_the_same_issues(definition: SurveyDefinition, tmp_path: Path) -> None:
    """The API passes the body and its media type, the CLI a file: both land on one parser and one mapping."""
    body = {"responses": [response("a", nps=5), {**response("b"), "started_at": "soon"}, response("c", nps=11)]}
    data = json.dumps(body).encode()
    path = tmp_path / "responses.json"
    path.write_bytes(data)
    api_style = issues(lambda: parse_responses(definition, data, fmt=resolve_format(media_type="application/json"),
                                               existing={"x"}))
    cli_style = issues(lambda: read_responses_file(definition, path, {"x"}))
    assert api_style == cli_style
    # one pass: the malformed response and the bad answer of a well-formed one, in row order
    assert [(i.row, i.field) for i in api_style] == [(1, "started_at"), (2, "nps")]

    csv_text = "respondent_id,started_at,nps\nr1,2026-01-01T00:00:00Z,9\nr2,2026-01-01T00:00:00Z,11\n"
    (tmp_path / "responses.csv").write_text(csv_text)
    fmt = resolve_format(media_type="text/csv")
    api_style = issues(lambda: parse_responses(definition, csv_text.encode(), fmt=fmt))
    assert api_style == issues(lambda: read_responses_file(definition, tmp_path / "responses.csv"))
    assert [(i.row, i.field) for i in api_style] == [(3, "nps")]


def test_every_caller_goes_through_the_one_mapping(
    monkeypatch: pytest.MonkeyPatch, definition: SurveyDefinition, tmp_path: Path
) -> None:
    calls: list[Any] = []
    real = imports.issues_from_validation_error

    def spy(exc: ValidationError, **kw: Any) -> list[ImportIssue]:
        calls.append(kw)
        return real(exc, **kw)

    monkeypatch.setattr(imports, "issues_from_validation_error", spy)
    issues(lambda: parse_responses(definition, [{"started_at": "soon"}], fmt="json"))
    # a CSV row that parses cell by cell but fails as a record: a respondent id over the length limit
    issues(lambda: parse_responses(definition, f"respondent_id,started_at\n{'x' * 201},{T0}\n", fmt="csv"))
    survey = tmp_path / "survey.json"
    survey.write_text(json.dumps({"title": "", "questions": [{"key": "a", "type": "text", "text": "?"}]}))
    issues(lambda: read_survey_file(survey))
    assert calls == [{"row": 0, "whole": "response"}, {"row": 2}, {"row": "-", "whole": "survey"}]


# --- JSON -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("wrap", [lambda rs: rs, lambda rs: {"responses": rs}])
def test_json_is_a_list_or_an_object_with_responses(definition: SurveyDefinition, wrap: Any) -> None:
    data = json.dumps(wrap([response("a", nps=9.0), response(None, improve="  ")]))
    records = parse_responses(definition, data, fmt="json")
    assert [(r.respondent_id, r.answers) for r in records] == [("a", {"nps": 9}), (None, {})]
    assert records[0].started_at.tzinfo is not None


def test_json_with_a_bom_as_bytes(definition: SurveyDefinition) -> None:
    [record] = parse_responses(definition, json.dumps([response("a")]).encode("utf-8-sig"), fmt="json")
    assert record.respondent_id == "a"


def test_already_decoded_json(definition: SurveyDefinition) -> None:
    [record] = parse_responses(definition, [response("a", plan="Pro")], fmt="json")
    assert record.answers == {"plan": "Pro"}


@pytest.mark.parametrize(("data", "field", "message"), [
    (b'{"responses": [', "body", "not valid JSON: Expecting value (line 1, column 16)"),
    (b"  \n", "body", "the JSON is empty"),
    (b"\xff\xfe{}", "body", "the JSON is not UTF-8"),
    (b'{"answers": []}', "responses", "expected a list of responses"),
    (b'"text"', "responses", "expected a list of responses"),
    (b"[]", "responses", "no responses in the import"),
])
def test_json_whole_body_problems(definition: SurveyDefinition, data: bytes, field: str, message: str) -> None:
    assert issues(lambda: parse_responses(definition, data, fmt="json")) == [ImportIssue("-", field, message)]


def test_json_answer_problems_name_the_list_index(definition: SurveyDefinition) -> None:
    data = [response("a", nps=1), response("b", nps=11), response("a", colour="blue")]
    assert [(i.row, i.field) for i in issues(lambda: parse_responses(definition, data, fmt="json"))] == [
        (1, "nps"), (2, "colour"), (2, "respondent_id"),
    ]


def test_json_respondent_already_imported(definition: SurveyDefinition) -> None:
    [issue] = issues(lambda: parse_responses(definition, [response("old")], fmt="json", existing=frozenset({"old"})))
    assert (issue.row, issue.field) == (0, "respondent_id") and "already imported" in issue.message


def test_csv_needs_text_or_bytes(definition: SurveyDefinition) -> None:
    with pytest.raises(TypeError, match="a CSV import is text"):
        parse_responses(definition, [response("a")], fmt="csv")


def test_csv_that_is_not_utf8(definition: SurveyDefinition) -> None:
    data = "started_at,improve\n2026-01-01T00:00:00Z,Très bien\n".encode("latin-1")
    assert issues(lambda: parse_responses(definition, data, fmt="csv")) == [
        ImportIssue("-", "body", "the CSV is not UTF-8")
    ]


# --- files (the CLI) ---------------------------------------------------------------------------------------------


def test_responses_file_with_an_unknown_suffix(definition: SurveyDefinition, tmp_path: Path) -> None:
    path = tmp_path / "responses.txt"
    path.write_text(json.dumps([response("a")]))
    with pytest.raises(UnsupportedFormatError, match="responses.txt"):
        read_responses_file(definition, path)


def test_survey_file_and_snapshot_file(tmp_path: Path) -> None:
    survey = {"title": "T", "questions": [{"key": "nps", "type": "nps", "text": "?"}]}
    path = tmp_path / "survey.json"
    path.write_text(json.dumps(survey))
    definition, responses = read_survey_file(path)
    assert definition.title == "T" and responses is None

    path.write_text(json.dumps({"survey": {"id": "elsewhere", **survey}, "responses": [response("a", nps=3)]}))
    definition, responses = read_survey_file(path)
    assert definition.title == "T" and responses == [response("a", nps=3)]
    assert [r.answers for r in parse_responses(definition, responses, fmt="json")] == [{"nps": 3}]


def test_bad_survey_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "survey.json"
    path.write_text(json.dumps({"title": "T", "questions": [{"key": "plan", "type": "single_choice", "text": "?"}]}))
    [issue] = issues(lambda: read_survey_file(path))
    assert (issue.row, issue.field) == ("-", "questions.0.options")
    path.write_text("{")
    [issue] = issues(lambda: read_survey_file(path))
    assert (issue.row, issue.field) == ("-", "body") and issue.message.startswith("not valid JSON")
