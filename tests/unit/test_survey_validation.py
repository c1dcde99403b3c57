"""Answer normalisation and whole-import validation (all or nothing, issues name row and field)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.factories import FEATURE_OPTIONS, feedback_survey
from workbench.surveys import kinds
from workbench.surveys.schema import MAX_TEXT_LENGTH, Question, ResponseRecord, SurveyDefinition
from workbench.surveys.validation import (
    MAX_REPORTED_ISSUES,
    ImportIssue,
    ImportValidationError,
    normalize_answer,
    validate_record,
    validate_records,
)

OPTIONS = FEATURE_OPTIONS
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
def definition() -> SurveyDefinition:
    return feedback_survey()


def record(answers: dict[str, Any], *, rid: str | None = None, completed: bool = True, **kw: Any) -> ResponseRecord:
    return ResponseRecord(
        respondent_id=rid, started_at=kw.get("started_at", T0),
        completed_at=kw.get("completed_at", T0 + timedelta(minutes=3) if completed else None), answers=answers,
    )


# --- normalize_answer -------------------------------------------------------------------------------------


def question(qtype: str, options: list[str] | None = None) -> Question:
    """A question of kind `qtype`, with the fields its kind needs (a `rating` is a 1-5 scale)."""
    fields: dict[str, Any] = {"key": "q", "type": qtype, "text": "Q?"}
    if qtype in ("single_choice", "multi_choice", "ordinal"):
        fields["options"] = options or OPTIONS
    elif qtype == "scale":
        fields.update(min=1, max=5)
    return Question.model_validate(fields)


@pytest.mark.parametrize("value", [0, 5, 10])
def test_nps_accepts_0_to_10_inclusive(value: int) -> None:
    assert normalize_answer(question("nps"), value) == value


@pytest.mark.parametrize("value", [-1, 11, 100])
def test_nps_refuses_out_of_range(value: int) -> None:
    with pytest.raises(ValueError, match="must be from 0 to 10"):
        normalize_answer(question("nps"), value)


@pytest.mark.parametrize("value", [1, 3, 5])
def test_rating_accepts_1_to_5(value: int) -> None:
    assert normalize_answer(question("rating"), value) == value


@pytest.mark.parametrize("value", [0, 6])
def test_rating_refuses_out_of_range(value: int) -> None:
    with pytest.raises(ValueError, match="must be from 1 to 5"):
        normalize_answer(question("rating"), value)


@pytest.mark.parametrize("value", [True, False])
def test_scales_refuse_booleans(value: bool) -> None:
    with pytest.raises(ValueError, match="whole number"):
        normalize_answer(question("nps"), value)


def test_a_whole_float_is_stored_as_an_int() -> None:
    stored = normalize_answer(question("nps"), 7.0)
    assert stored == 7 and type(stored) is int


@pytest.mark.parametrize("value", [7.5, "7", [7], float("nan"), float("inf"), float("-inf")])
def test_scales_refuse_non_whole_numbers(value: Any) -> None:
    with pytest.raises(ValueError, match="whole number from 0 to 10"):
        normalize_answer(question("nps"), value)


def test_a_huge_integer_is_out_of_range_not_a_crash() -> None:
    with pytest.raises(ValueError, match="from 1 to 5"):
        normalize_answer(question("rating"), 10**400)


def test_none_means_not_answered_for_every_type() -> None:
    for qtype in kinds.names():
        assert normalize_answer(question(qtype, OPTIONS), None) is None


def test_single_choice_membership() -> None:
    assert normalize_answer(question("single_choice", OPTIONS), "Alerts") == "Alerts"
    for bad in ["alerts", "Other", 1, ["Alerts"]]:
        with pytest.raises(ValueError, match="must be one of"):
            normalize_answer(question("single_choice", OPTIONS), bad)


def test_multi_choice_keeps_the_given_order() -> None:
    assert normalize_answer(question("multi_choice", OPTIONS), ["REST API", "Dashboards"]) == ["REST API",
                                                                                                 "Dashboards"]


def test_multi_choice_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="lists an option twice"):
        normalize_answer(question("multi_choice", OPTIONS), ["Alerts", "Alerts"])


def test_multi_choice_refuses_unknown_options_naming_them() -> None:
    with pytest.raises(ValueError, match=r"unknown options \['Reports'\]"):
        normalize_answer(question("multi_choice", OPTIONS), ["Alerts", "Reports"])


@pytest.mark.parametrize("value", ["Alerts", ["Alerts", 3], {"Alerts": True}])
def test_multi_choice_needs_a_list_of_strings(value: Any) -> None:
    with pytest.raises(ValueError, match="must be a list of options"):
        normalize_answer(question("multi_choice", OPTIONS), value)


def test_multi_choice_empty_list_is_not_answered() -> None:
    assert normalize_answer(question("multi_choice", OPTIONS), []) is None


@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_blank_text_is_not_answered(value: str) -> None:
    assert normalize_answer(question("text"), value) is None


def test_text_is_kept_verbatim() -> None:
    assert normalize_answer(question("text"), "  Faster exports ✨ ") == "  Faster exports ✨ "


def test_text_refuses_non_strings_and_overlong_text() -> None:
    with pytest.raises(ValueError, match="must be text, got int"):
        normalize_answer(question("text"), 5)
    assert normalize_answer(question("text"), "x" * MAX_TEXT_LENGTH) == "x" * MAX_TEXT_LENGTH
    with pytest.raises(ValueError, match="longer than"):
        normalize_answer(question("text"), "x" * (MAX_TEXT_LENGTH + 1))


# --- validate_record(s) -----------------------------------------------------------------------------------


def test_valid_records_are_normalised(definition: SurveyDefinition) -> None:
    records = [
        record({"nps": 9.0, "satisfaction": 4, "plan": "Pro", "features": ["Alerts"], "improve": "  "}, rid="a"),
        record({"improve": "Cheaper"}, rid="b", completed=False),
    ]
    out = validate_records(definition, records)
    assert out is records
    assert out[0].answers == {"nps": 9, "satisfaction": 4, "plan": "Pro", "features": ["Alerts"]}
    assert type(out[0].answers["nps"]) is int
    assert out[1].answers == {"improve": "Cheaper"}  # incomplete: the required nps may be missing


def test_naive_timestamps_are_taken_as_utc(definition: SurveyDefinition) -> None:
    rec = record({"nps": 3}, started_at=datetime(2026, 1, 1, 12), completed_at=datetime(2026, 1, 1, 12, 5))
    assert validate_record(definition, rec, 0) == []
    assert rec.started_at == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert rec.completed_at is not None and rec.completed_at.tzinfo is not None


def test_unknown_question_names_row_and_field(definition: SurveyDefinition) -> None:
    records = [record({"nps": 5}), record({"nps": 5, "colour": "blue"})]
    with pytest.raises(ImportValidationError) as info:
        validate_records(definition, records)
    assert info.value.issues == [ImportIssue(1, "colour", "unknown question")]
    assert str(info.value) == "row 1, field 'colour': unknown question"


def test_bad_answer_names_the_given_row_number(definition: SurveyDefinition) -> None:
    with pytest.raises(ImportValidationError) as info:
        validate_records(definition, [record({"nps": 5}), record({"nps": 11})], rows=[2, 3])
    [issue] = info.value.issues
    assert (issue.row, issue.field) == (3, "nps")
    assert "from 0 to 10" in issue.message


def test_required_question_in_a_completed_response(definition: SurveyDefinition) -> None:
    with pytest.raises(ImportValidationError) as info:
        validate_records(definition, [record({"satisfaction": 4}, rid="a")])
    assert info.value.issues == [ImportIssue(0, "nps", "is required in a completed response")]


def test_a_blank_answer_does_not_satisfy_required(definition: SurveyDefinition) -> None:
    definition.questions[4].required = True
    with pytest.raises(ImportValidationError) as info:
        validate_records(definition, [record({"nps": 1, "improve": "   "})])
    assert [(i.row, i.field) for i in info.value.issues] == [(0, "improve")]


def test_completed_before_started(definition: SurveyDefinition) -> None:
    rec = record({"nps": 5}, completed_at=T0 - timedelta(seconds=1))
    with pytest.raises(ImportValidationError) as info:
        validate_records(definition, [rec])
    assert info.value.issues == [ImportIssue(0, "completed_at", "is before started_at")]


def test_completed_before_started_compares_instants_across_offsets(definition: SurveyDefinition) -> None:
    # 08:00 at +02:00 is 06:00 UTC: before a 07:00 UTC start although the wall clock reads later
    early = datetime(2026, 3, 2, 8, 0, tzinfo=timezone(timedelta(hours=2)))
    with pytest.raises(ImportValidationError, match="is before started_at"):
        validate_records(definition, [record({"nps": 5}, completed_at=early)])
    later = datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    assert validate_records(definition, [record({"nps": 5}, completed_at=later)])


def test_duplicate_respondent_within_the_batch(definition: SurveyDefinition) -> None:
    records = [record({"nps": 1}, rid="r1"), record({"nps": 2}, rid="r2"), record({"nps": 3}, rid="r1")]
    with pytest.raises(ImportValidationError) as info:
        validate_records(definition, records)
    assert info.value.issues == [ImportIssue(2, "respondent_id", "'r1' appears twice in this import")]


def test_respondent_already_imported(definition: SurveyDefinition) -> None:
    records = [record({"nps": 1}, rid="new"), record({"nps": 2}, rid="old")]
    with pytest.raises(ImportValidationError) as info:
        validate_records(definition, records, existing_respondents={"old"})
    assert info.value.issues == [
        ImportIssue(1, "respondent_id", "'old' was already imported for this survey")
    ]


def test_anonymous_responses_are_never_duplicates(definition: SurveyDefinition) -> None:
    assert len(validate_records(definition, [record({"nps": 1}), record({"nps": 1})], existing_respondents=set())) == 2


def test_empty_import_is_refused(definition: SurveyDefinition) -> None:
    with pytest.raises(ImportValidationError) as info:
        validate_records(definition, [])
    assert [(i.field, i.message) for i in info.value.issues] == [("responses", "no responses in the import")]


def test_every_issue_of_every_row_is_collected(definition: SurveyDefinition) -> None:
    records = [record({"nps": 99, "plan": "Gold"}), record({"nps": 1}), record({"features": ["X"]}, rid="z")]
    with pytest.raises(ImportValidationError) as info:
        validate_records(definition, records)
    assert [(i.row, i.field) for i in info.value.issues] == [(0, "nps"), (0, "plan"), (2, "features"), (2, "nps")]


def test_issues_are_capped_at_50_and_the_total_reported(definition: SurveyDefinition) -> None:
    records = [record({"nps": 11}, rid=f"r{i}") for i in range(120)]
    with pytest.raises(ImportValidationError) as info:
        validate_records(definition, records)
    exc = info.value
    assert MAX_REPORTED_ISSUES == 50
    assert len(exc.issues) == 50 and exc.total == 120
    assert [i.row for i in exc.issues] == list(range(50))
    assert str(exc).endswith("(and 70 more)")
    assert str(exc).count("row ") == 5  # the message lists the first five


def test_error_without_overflow_has_no_more_suffix() -> None:
    exc = ImportValidationError([ImportIssue(1, "nps", "bad")])
    assert exc.total == 1 and str(exc) == "row 1, field 'nps': bad"
    assert isinstance(exc, ValueError)
