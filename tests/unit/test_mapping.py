"""Raw exports through a column mapping: by header, by position, ignored and unmapped columns, import options,
every problem in one pass, duplicate respondents both ways, declared timestamp formats."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.factories import feedback_survey
from workbench.surveys.imports import parse_responses, read_responses_file
from workbench.surveys.mapping import ImportMapping, parse_mapping, read_mapping_file
from workbench.surveys.schema import ResponseRecord, SurveyDefinition
from workbench.surveys.validation import MAX_REPORTED_ISSUES, ImportValidationError

RAW_HEADER = '"Response ID","How likely are you to recommend us?","Plan chosen ","Why?","Why?","Submitted"\n'
COLUMNS: dict[str, str | None] = {
    "Response ID": "respondent_id",
    "How likely are you to recommend us?": "nps",
    "Plan chosen": "plan",  # the header has a trailing space: matched stripped
    "#4": "improve",
    "#5": None,  # the second "Why?": ignored
    "Submitted": "completed_at",
}


@pytest.fixture
def definition() -> SurveyDefinition:
    return feedback_survey()


def mapping(**changes: Any) -> ImportMapping:
    return parse_mapping({"columns": COLUMNS, **changes})


def parse(definition: SurveyDefinition, text: str, **options: Any) -> list[ResponseRecord]:
    return parse_responses(definition, text, fmt="csv", **options)


def issues(definition: SurveyDefinition, text: str, **options: Any) -> list[tuple[Any, str]]:
    with pytest.raises(ImportValidationError) as info:
        parse(definition, text, **options)
    return [(i.row, i.field) for i in info.value.issues]


def messages(definition: SurveyDefinition, text: str, **options: Any) -> str:
    with pytest.raises(ImportValidationError) as info:
        parse(definition, text, **options)
    return " | ".join(i.message for i in info.value.issues)


def test_columns_by_header_text_and_by_position(definition: SurveyDefinition) -> None:
    text = RAW_HEADER + 'r1,9,pro,"Faster, please",ignored,2026-03-02T07:09:24Z\nr2,3,Free,,,\n'
    first, second = parse(definition, text, mapping=mapping())
    assert first.respondent_id == "r1" and first.completed_at == datetime(2026, 3, 2, 7, 9, 24, tzinfo=UTC)
    assert first.answers == {"nps": 9, "plan": "Pro", "improve": "Faster, please"}  # "pro": the canonical option
    assert (second.respondent_id, second.completed_at, second.answers) == ("r2", None, {"nps": 3, "plan": "Free"})


def test_a_duplicated_header_mapped_by_its_text_is_an_issue_naming_both_columns(
    definition: SurveyDefinition,
) -> None:
    columns = {**{k: v for k, v in COLUMNS.items() if not k.startswith("#")}, "Why?": "improve"}
    text = RAW_HEADER + "r1,9,Pro,a,b,\n"
    assert issues(definition, text, mapping=mapping(columns=columns)) == [(1, "Why?")]
    assert "appears in columns 4 and 5: map each by position ('#4', '#5')" in messages(
        definition, text, mapping=mapping(columns=columns))
    # one of them by position: the text names the other one unambiguously
    [record] = parse(definition, text, mapping=mapping(columns={**columns, "#5": None}))
    assert record.answers["improve"] == "a"


def test_unmapped_columns_are_named_unless_ignored(definition: SurveyDefinition) -> None:
    columns = {k: v for k, v in COLUMNS.items() if k not in ("#5", "Submitted")}
    text = RAW_HEADER + "r1,9,Pro,a,b,\n"
    assert issues(definition, text, mapping=mapping(columns=columns)) == [(1, "Why?"), (1, "Submitted")]
    assert "column 5 is not in the mapping" in messages(definition, text, mapping=mapping(columns=columns))
    [record] = parse(definition, text, mapping=mapping(columns=columns, ignore_unmapped=True))
    assert record.answers == {"nps": 9, "plan": "Pro", "improve": "a"}


def test_mapping_problems_are_named_all_at_once(definition: SurveyDefinition) -> None:
    columns = {**COLUMNS, "Colour": "plan_colour", "#9": None, "Plan chosen": "budget"}
    got = issues(definition, RAW_HEADER + "r1,9,Pro,a,b,\n", mapping=mapping(columns=columns))
    assert sorted(got) == [(1, "#9"), (1, "Colour"), (1, "Plan chosen")]
    text = messages(definition, RAW_HEADER + "r1,9,Pro,a,b,\n", mapping=mapping(columns=columns))
    assert "maps to 'budget', which is not a question of the survey" in text
    assert "the CSV has no such header" in text and "the CSV has 6" in text


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"columns": {"A": "Not A Key"}}, "mapping.columns", "a target is a question key"),
    ({"columns": {"A": "nps", "B": "nps"}}, "mapping.columns", "'A' and 'B' both map to 'nps'"),
    ({"separator": '"'}, "mapping.separator", "separator must be 1-5 visible characters"),
    ({"date_format": "%H:%M"}, "mapping.date_format", "naming the year, month and day"),
    ({"on_duplicate": "first"}, "mapping.on_duplicate", "'reject' or 'keep-last'"),
    ({"encoding": "klingon"}, "mapping.encoding", "unknown text encoding"),
    ({"colour": "blue"}, "mapping.colour", "Extra inputs are not permitted"),
])
def test_invalid_mappings_name_the_field(data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ImportValidationError) as info:
        parse_mapping(data)
    [issue] = info.value.issues
    assert (issue.row, issue.field) == ("-", field) and message in issue.message


def test_a_mapping_file_may_name_its_survey_file(tmp_path: Path, definition: SurveyDefinition) -> None:
    (tmp_path / "survey.json").write_text(definition.model_dump_json())
    (tmp_path / "export.mapping.json").write_text(json.dumps({"survey": "survey.json", "columns": COLUMNS}))
    loaded = read_mapping_file(tmp_path / "export.mapping.json")
    assert loaded.survey is not None and loaded.survey.title == "Feedback"
    (tmp_path / "broken.json").write_text(json.dumps({"survey": "missing.json"}))
    with pytest.raises(ImportValidationError, match="no survey file"):
        read_mapping_file(tmp_path / "broken.json")


def test_the_mapping_carries_the_separator_and_the_encoding(definition: SurveyDefinition) -> None:
    data = "respondent_id,features,improve\nr1,alerts; dashboards,Très bien\n".encode("latin-1")
    options = parse_mapping({"separator": ";", "encoding": "latin-1"})
    [record] = parse_responses(definition, data, fmt="csv", mapping=options)
    assert record.answers == {"features": ["Alerts", "Dashboards"], "improve": "Très bien"}
    # an explicit separator wins over the mapping's
    [again] = parse_responses(definition, data.replace(b";", b"/"), fmt="csv", mapping=options, separator="/")
    assert again.answers["features"] == ["Alerts", "Dashboards"]


def test_a_column_mapping_is_for_csv(definition: SurveyDefinition) -> None:
    with pytest.raises(ImportValidationError, match="applies to CSV uploads"):
        parse_responses(definition, [{"answers": {"nps": 3}}], fmt="json", mapping=mapping())


# --- one pass ---------------------------------------------------------------------------------------------------


def test_header_cell_and_answer_problems_come_in_one_pass_in_row_order(definition: SurveyDefinition) -> None:
    text = ("respondent_id,completed_at,nps,plan,colour\n"
            "r1,2026-01-01T00:00:00Z,,Pro,blue\n"  # a required answer missing (an answer problem)
            "r2,,ten,Gold,red\n"  # a cell that does not parse, and an option that is not one
            "r3,2026-01-01T00:00:00Z,4,,\n")
    assert issues(definition, text) == [(1, "colour"), (2, "nps"), (3, "nps"), (3, "plan")]


def test_the_issues_are_capped_with_the_count_of_the_rest(definition: SurveyDefinition) -> None:
    text = "respondent_id,nps,colour\n" + "".join(f"r{i},x,\n" for i in range(120))
    with pytest.raises(ImportValidationError) as info:
        parse(definition, text)
    assert len(info.value.issues) == MAX_REPORTED_ISSUES and info.value.total == 121
    assert (info.value.issues[0].row, info.value.issues[0].field) == (1, "colour")
    assert "(and 71 more)" in str(info.value)


def test_a_stream_that_stops_decoding_keeps_the_issues_found_before(definition: SurveyDefinition) -> None:
    good = "".join(f"r{i},{i % 11}\n" for i in range(3000)).encode()
    data = b"respondent_id,nps\nbad,12\n" + good + b"r\xff,1\n"
    with pytest.raises(ImportValidationError) as info:
        parse_responses(definition, io.BytesIO(data), fmt="csv")
    first, last = info.value.issues[0], info.value.issues[-1]
    assert (first.row, first.field) == (2, "nps")
    assert (last.row, last.field) == ("-", "body") and last.message.startswith("the CSV is not UTF-8 (after row")


# --- duplicate respondents ----------------------------------------------------------------------------------------

DUPLICATES = "respondent_id,nps\nr1,1\nr2,2\nr1,3\nr3,4\nr1,5\n"


def test_a_duplicate_respondent_is_named_with_both_rows(definition: SurveyDefinition) -> None:
    assert issues(definition, DUPLICATES) == [(4, "respondent_id"), (6, "respondent_id")]
    text = messages(definition, DUPLICATES)
    assert "'r1' appears on rows 2 and 4" in text and "'r1' appears on rows 2 and 6" in text


@pytest.mark.parametrize("how", ["argument", "mapping"])
def test_keep_last_keeps_the_last_occurrence(definition: SurveyDefinition, how: str) -> None:
    options: dict[str, Any] = ({"on_duplicate": "keep-last"} if how == "argument"
                               else {"mapping": parse_mapping({"on_duplicate": "keep-last"})})
    records = parse(definition, DUPLICATES, **options)
    assert [(r.respondent_id, r.answers["nps"]) for r in records] == [("r2", 2), ("r3", 4), ("r1", 5)]


def test_keep_last_in_json_and_ids_already_stored_are_still_refused(definition: SurveyDefinition) -> None:
    data = [{"respondent_id": "a", "answers": {"nps": 1}}, {"respondent_id": "a", "answers": {"nps": 2}}]
    [record] = parse_responses(definition, data, fmt="json", on_duplicate="keep-last")
    assert record.answers == {"nps": 2}
    with pytest.raises(ImportValidationError, match="already imported"):
        parse_responses(definition, data, fmt="json", on_duplicate="keep-last", existing={"a"})
    with pytest.raises(ImportValidationError, match="reject or keep-last"):
        parse_responses(definition, data, fmt="json", on_duplicate="first")


# --- timestamps --------------------------------------------------------------------------------------------------

US = "respondent_id,started_at,completed_at,nps\nr1,03/02/2026 07:06,03/02/2026 07:09,9\n"


def test_us_style_timestamps_with_a_declared_format(definition: SurveyDefinition) -> None:
    assert issues(definition, US) == [(2, "started_at"), (2, "completed_at")]
    [record] = parse(definition, US, date_format="%m/%d/%Y %H:%M")
    assert record.started_at == datetime(2026, 3, 2, 7, 6, tzinfo=UTC)
    assert record.completed_at == datetime(2026, 3, 2, 7, 9, tzinfo=UTC)
    [same] = parse(definition, US, mapping=parse_mapping({"date_format": "%m/%d/%Y %H:%M"}))
    assert same.started_at == record.started_at
    # ISO still reads; a cell in neither form names the declared format
    mixed = "started_at,nps\n2026-03-02T07:06:00Z,9\n31/12/2026 10:00,9\n"
    assert messages(definition, mixed, date_format="%m/%d/%Y %H:%M") == (
        "must be an ISO 8601 timestamp or '%m/%d/%Y %H:%M', got '31/12/2026 10:00'")


def test_read_responses_file_streams_through_the_mapping(definition: SurveyDefinition, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes((RAW_HEADER + "r1,9,Pro,a,b,\n").encode("utf-8-sig"))
    [record] = read_responses_file(definition, path, mapping=mapping())
    assert record.respondent_id == "r1" and record.answers == {"nps": 9, "plan": "Pro", "improve": "a"}


def test_scale_cells_accept_integral_floats(definition: SurveyDefinition) -> None:
    [record] = parse(definition, "nps,satisfaction\n9.0,4.0\n")
    assert record.answers == {"nps": 9, "satisfaction": 4}
