"""CSV response imports: parsing, and errors that name the spreadsheet row (header = row 1) and the column."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.factories import feedback_survey
from workbench.surveys.imports import parse_responses, read_responses_file
from workbench.surveys.schema import ResponseRecord, SurveyDefinition
from workbench.surveys.validation import ImportValidationError

HEADER = "respondent_id,started_at,completed_at,nps,plan,features,improve\n"


@pytest.fixture
def definition() -> SurveyDefinition:
    return feedback_survey()


def parse_csv(
    definition: SurveyDefinition, text: str, existing: set[str] | None = None
) -> list[ResponseRecord]:
    return parse_responses(definition, text, fmt="csv", existing=existing or frozenset())


def issues_of(definition: SurveyDefinition, text: str, existing: set[str] | None = None) -> list[tuple]:
    with pytest.raises(ImportValidationError) as info:
        parse_csv(definition, text, existing)
    return [(i.row, i.field) for i in info.value.issues]


def message_of(definition: SurveyDefinition, text: str) -> str:
    with pytest.raises(ImportValidationError) as info:
        parse_csv(definition, text)
    return "; ".join(i.message for i in info.value.issues)


def test_happy_path(definition: SurveyDefinition) -> None:
    text = (
        HEADER
        + "r1,2026-03-02T07:06:14Z,2026-03-02T07:09:24Z,9,Pro,Dashboards|REST API,\"Faster, please\"\n"
        + "r2,2026-03-02T08:00:00+02:00,,,,,\n"
        + "\n"  # a blank line a spreadsheet left behind is not a response
        + ",2026-03-03 10:00:00,2026-03-03 10:02:00,0,Free, Alerts | Dashboards ,  \n"
    )
    records = parse_csv(definition, text)
    assert [r.respondent_id for r in records] == ["r1", "r2", None]

    r1, r2, r3 = records
    assert r1.started_at == datetime(2026, 3, 2, 7, 6, 14, tzinfo=UTC)
    assert r1.completed_at == datetime(2026, 3, 2, 7, 9, 24, tzinfo=UTC)
    assert r1.answers == {"nps": 9, "plan": "Pro", "features": ["Dashboards", "REST API"], "improve": "Faster, please"}

    assert r2.completed_at is None  # blank completed_at: an incomplete response
    assert r2.started_at == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert r2.answers == {}  # blank cells are "not answered"

    assert r3.started_at == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # naive: taken as UTC
    assert r3.answers == {"nps": 0, "plan": "Free", "features": ["Alerts", "Dashboards"]}


def test_columns_may_come_in_any_order_and_meta_columns_are_optional(definition: SurveyDefinition) -> None:
    [record] = parse_csv(definition, "improve,started_at\nMore charts,2026-01-01T00:00:00Z\n")
    assert record.respondent_id is None and record.completed_at is None
    assert record.answers == {"improve": "More charts"}


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_utf8_bom_and_line_endings(definition: SurveyDefinition, newline: str) -> None:
    text = "\ufeff" + newline.join(["respondent_id,started_at,improve", "r1,2026-01-01T00:00:00Z,Ünïcödé ✓", ""])
    [record] = parse_csv(definition, text)
    assert record.respondent_id == "r1"
    assert record.answers == {"improve": "Ünïcödé ✓"}


def test_file_with_bom_is_read(definition: SurveyDefinition, tmp_path: Path) -> None:
    path = tmp_path / "responses.csv"
    path.write_bytes("respondent_id,started_at,nps\nr1,2026-01-01T00:00:00Z,7\n".encode("utf-8-sig"))
    [record] = read_responses_file(definition, path)
    assert record.respondent_id == "r1" and record.answers == {"nps": 7}


def test_unknown_column_names_row_1_and_the_column(definition: SurveyDefinition) -> None:
    assert issues_of(definition, "started_at,nps,colour\n2026-01-01T00:00:00Z,5,blue\n") == [(1, "colour")]


def test_timestamp_columns_are_optional(definition: SurveyDefinition) -> None:
    # Exports without times are imported as they are: the times are unknown, not invented.
    [record] = parse_csv(definition, "respondent_id,nps\nr1,5\n")
    assert (record.started_at, record.completed_at, record.answers) == (None, None, {"nps": 5})
    [done] = parse_csv(definition, "completed_at,nps\n2026-01-01T00:05:00Z,5\n")
    assert done.started_at is None and done.completed_at == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def test_duplicate_column(definition: SurveyDefinition) -> None:
    text = "started_at,nps,nps\n2026-01-01T00:00:00Z,5,6\n"
    assert issues_of(definition, text) == [(1, "header")]
    assert "appears twice" in message_of(definition, text)


def test_all_header_issues_are_reported_together(definition: SurveyDefinition) -> None:
    assert issues_of(definition, "nps,foo,nps\n5,x,6\n") == [(1, "foo"), (1, "header")]


def test_bad_number_names_the_spreadsheet_row_and_field(definition: SurveyDefinition) -> None:
    text = HEADER + "r1,2026-01-01T00:00:00Z,,9,,,\nr2,2026-01-01T00:00:00Z,,nine,,,\n"
    assert issues_of(definition, text) == [(3, "nps")]
    assert "must be a whole number, got 'nine'" in message_of(definition, text)


def test_out_of_range_number_names_the_spreadsheet_row(definition: SurveyDefinition) -> None:
    text = HEADER + "r1,2026-01-01T00:00:00Z,,9,,,\n\nr2,2026-01-01T00:00:00Z,,12,,,\n"
    assert issues_of(definition, text) == [(4, "nps")]  # the blank line still counts as a spreadsheet row


def test_unknown_option_names_the_row(definition: SurveyDefinition) -> None:
    text = HEADER + "r1,2026-01-01T00:00:00Z,,9,Gold,Alerts|Charts,\n"
    assert issues_of(definition, text) == [(2, "plan"), (2, "features")]


def test_required_answer_missing_in_a_completed_row(definition: SurveyDefinition) -> None:
    text = HEADER + "r1,2026-01-01T00:00:00Z,2026-01-01T00:05:00Z,,,,fine\n"
    assert issues_of(definition, text) == [(2, "nps")]


def test_wrong_cell_count(definition: SurveyDefinition) -> None:
    text = HEADER + "r1,2026-01-01T00:00:00Z,,9,,,\nr2,2026-01-01T00:00:00Z,,9\n"
    assert issues_of(definition, text) == [(3, "row")]
    assert "has 4 cells, the header has 7" in message_of(definition, text)


@pytest.mark.parametrize("field", ["started_at", "completed_at"])
def test_bad_timestamp_is_reported_once(definition: SurveyDefinition, field: str) -> None:
    started, completed = ("yesterday", "") if field == "started_at" else ("2026-01-01T00:00:00Z", "31/12/2026")
    text = f"started_at,completed_at,nps\n{started},{completed},5\n"
    assert issues_of(definition, text) == [(2, field)]
    assert "must be an ISO 8601 timestamp" in message_of(definition, text)


def test_blank_started_at_is_unknown(definition: SurveyDefinition) -> None:
    [record] = parse_csv(definition, "respondent_id,started_at,nps\nr1,,5\n")
    assert record.started_at is None and record.answers == {"nps": 5}


def test_blank_started_at_and_a_bad_cell(definition: SurveyDefinition) -> None:
    text = "respondent_id,started_at,nps\nr1,,x\n"
    assert issues_of(definition, text) == [(2, "nps")]


def test_issues_of_several_rows_are_collected(definition: SurveyDefinition) -> None:
    text = HEADER + "r1,nope,,9,,,\nr2,2026-01-01T00:00:00Z,,9,,,\nr3,2026-01-01T00:00:00Z,,x,,,\n"
    assert issues_of(definition, text) == [(2, "started_at"), (4, "nps")]


def test_completed_before_started_names_the_row(definition: SurveyDefinition) -> None:
    text = HEADER + "r1,2026-01-02T00:00:00Z,2026-01-01T00:00:00Z,9,,,\n"
    assert issues_of(definition, text) == [(2, "completed_at")]


def test_duplicate_respondents(definition: SurveyDefinition) -> None:
    text = HEADER + "r1,2026-01-01T00:00:00Z,,9,,,\nr2,2026-01-01T00:00:00Z,,9,,,\nr1,2026-01-01T00:00:00Z,,9,,,\n"
    assert issues_of(definition, text) == [(4, "respondent_id")]
    assert issues_of(definition, HEADER + "r9,2026-01-01T00:00:00Z,,9,,,\n", {"r9"}) == [(2, "respondent_id")]


@pytest.mark.parametrize("text", ["", "  \n\n", "\ufeff"])
def test_empty_csv(definition: SurveyDefinition, text: str) -> None:
    assert issues_of(definition, text) == [(1, "body")]
    assert message_of(definition, text) == "the CSV is empty"


@pytest.mark.parametrize("text", [HEADER, HEADER + "\n,,,,,,\n"])
def test_header_only(definition: SurveyDefinition, text: str) -> None:
    assert issues_of(definition, text) == [(2, "body")]
    assert "header but no responses" in message_of(definition, text)
