"""The question kinds registry: definitions, answers, CSV cells and conditions (`required_if`) per kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from workbench.surveys import kinds
from workbench.surveys.imports import parse_responses
from workbench.surveys.kinds import ImportOptions
from workbench.surveys.limits import MAX_OPTIONS, MAX_SCALE_SPAN
from workbench.surveys.schema import Question, ResponseRecord, Snapshot, SurveyDefinition
from workbench.surveys.validation import ImportValidationError, normalize_answer, validate_record

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
LIKERT = ["Strongly disagree", "Disagree", "Neutral", "Agree", "Strongly agree"]


def q(qtype: str, **fields: Any) -> Question:
    return Question.model_validate({"key": "q", "type": qtype, "text": "Q?", **fields})


def errors(qtype: str, **fields: Any) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as info:
        q(qtype, **fields)
    return [(e["loc"], e["msg"]) for e in info.value.errors()]


def cell(question: Question, raw: str, separator: str = "|") -> Any:
    kind = kinds.get(question.type)
    return kind.normalize(question, kind.parse_cell(question, raw, ImportOptions(separator=separator)))


# --- the registry ----------------------------------------------------------------------------------------------

def test_every_kind_is_registered_once_and_rating_is_an_alias() -> None:
    assert kinds.names() == ["nps", "scale", "ordinal", "numeric", "single_choice", "multi_choice", "text", "date"]
    assert kinds.aliases() == ["rating"]
    with pytest.raises(kinds.UnknownKindError):
        kinds.get("rating")
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(kinds.get("nps"))


def test_an_unknown_type_names_the_known_ones() -> None:
    [(loc, msg)] = errors("slider")
    assert loc == ("type",) and "nps, scale" in msg and "rating" in msg


# --- definitions -----------------------------------------------------------------------------------------------

def test_rating_becomes_a_1_to_5_scale() -> None:
    question = q("rating")
    assert (question.type, question.min, question.max) == ("scale", 1, 5)
    assert question.model_dump(mode="json", exclude_none=True) == {
        "key": "q", "type": "scale", "text": "Q?", "min": 1, "max": 5, "required": False}
    [(loc, msg)] = errors("rating", max=7)
    assert loc == () and "use type 'scale'" in msg


@pytest.mark.parametrize(("low", "high"), [(1, 5), (1, 7), (0, 10), (1, 11), (0, 3), (-2, 2), (0, MAX_SCALE_SPAN)])
def test_scales_of_any_sane_span(low: int, high: int) -> None:
    question = q("scale", min=low, max=high)
    assert (question.min, question.max) == (low, high)
    assert normalize_answer(question, high) == high and normalize_answer(question, float(low)) == low


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"max": 5}, "min", "needs 'min'"),
    ({"min": 1}, "max", "needs 'max'"),
    ({"min": 5, "max": 5}, "max", "greater than 'min'"),
    ({"min": 0, "max": MAX_SCALE_SPAN + 1}, "max", f"at most {MAX_SCALE_SPAN}"),
    ({"min": 1.5, "max": 5}, "min", "whole number"),
    ({"min": True, "max": 5}, "min", "must be a number"),
    ({"min": "1", "max": 5}, "min", "must be a number"),
    ({"min": 1, "max": 5, "labels": {"6": "x"}}, "labels", "outside the scale 1-5"),
    ({"min": 1, "max": 5, "labels": {"one": "x"}}, "labels", "keyed by scale value"),
    ({"min": 1, "max": 5, "labels": {"1": " "}}, "labels", "blank"),
    ({"min": 1, "max": 5, "labels": {"1": "a\0"}}, "labels", "control character"),
    ({"min": 1, "max": 5, "options": ["a"]}, "options", "a scale question takes no 'options'"),
])
def test_scale_definitions_are_checked_at_the_field(fields: dict[str, Any], field: str, message: str) -> None:
    found = errors("scale", **fields)
    assert found[0][0] == (field,) and message in found[0][1], found


def test_scale_labels_are_keyed_by_value_in_order() -> None:
    question = q("scale", min=0, max=10, labels={10: "Extremely", "0": "Not at all"})
    assert list((question.labels or {}).items()) == [("0", "Not at all"), ("10", "Extremely")]


def test_ordinal_needs_two_distinct_labels() -> None:
    assert q("ordinal", options=LIKERT).options == LIKERT
    assert "at least 2" in errors("ordinal", options=["Only"])[0][1]
    assert "distinct" in errors("ordinal", options=["A", "A"])[0][1]
    assert errors("ordinal")[0][0] == ("options",)


def test_numeric_bounds_are_optional_floats() -> None:
    assert (q("numeric").min, q("numeric").max) == (None, None)
    assert q("numeric", min=0.5, max=2).max == 2
    assert "greater than 'min'" in errors("numeric", min=3, max=1)[0][1]
    assert errors("numeric", labels={"1": "x"})[0][0] == ("labels",)


def test_date_format_must_name_year_month_and_day() -> None:
    assert q("date", format="%d/%m/%Y").format == "%d/%m/%Y"
    assert "year, month and day" in errors("date", format="%d/%m")[0][1]
    assert "year, month and day" in errors("date", format="nope")[0][1]
    assert errors("text", format="%Y")[0][1] == "Value error, a text question takes no 'format'"


# --- answers and CSV cells -------------------------------------------------------------------------------------

def test_scale_answers_and_cells() -> None:
    question = q("scale", min=1, max=7)
    assert normalize_answer(question, 7) == 7
    with pytest.raises(ValueError, match="must be from 1 to 7, got 8"):
        normalize_answer(question, 8)
    assert cell(question, "4.0") == 4 and type(cell(question, "4.0")) is int
    for bad in ("4.5", "four", "nan", "inf"):
        with pytest.raises(ValueError, match="whole number"):
            cell(question, bad)


def test_nps_cells_accept_integral_floats() -> None:
    assert cell(q("nps"), "9.0") == 9
    with pytest.raises(ValueError, match="whole number"):
        cell(q("nps"), "9" * 5000)


def test_ordinal_and_choice_cells_match_options_ignoring_case() -> None:
    ordinal = q("ordinal", options=LIKERT)
    assert cell(ordinal, "strongly AGREE") == "Strongly agree"
    with pytest.raises(ValueError, match="must be one of the 5 options"):
        normalize_answer(ordinal, "strongly agree")  # JSON answers are exact
    single = q("single_choice", options=["Pro", "Free"])
    assert cell(single, " pro ") == "Pro"
    multi = q("multi_choice", options=["REST API", "Alerts", "SSO"])
    assert cell(multi, "rest api | ALERTS") == ["REST API", "Alerts"]
    with pytest.raises(ValueError, match="unknown options"):
        cell(multi, "alerts|Charts")


def test_options_differing_only_in_case_are_not_guessed() -> None:
    question = q("single_choice", options=["Pro", "PRO", "Free"])
    assert cell(question, "PRO") == "PRO" and cell(question, "free") == "Free"
    with pytest.raises(ValueError, match="must be one of"):
        cell(question, "pro")


def test_multi_choice_separator_is_declared_per_import() -> None:
    multi = q("multi_choice", options=["Alerts", "SSO", "API"])
    assert cell(multi, "Alerts; sso", separator=";") == ["Alerts", "SSO"]
    definition = SurveyDefinition(title="t", questions=[q("multi_choice", options=["Alerts", "SSO, SAML"])])
    records = parse_responses(definition, 'q\n"Alerts;SSO, SAML"\n', fmt="csv", separator=";")
    assert records[0].answers == {"q": ["Alerts", "SSO, SAML"]}
    with pytest.raises(ImportValidationError) as info:
        parse_responses(definition, "q\nAlerts\n", fmt="csv", separator=",")
    [issue] = info.value.issues
    assert (issue.row, issue.field) == (1, "q") and "contains the separator ','" in issue.message
    with pytest.raises(ImportValidationError, match="separator must be 1-5"):
        parse_responses(definition, "q\nAlerts\n", fmt="csv", separator="\n")


def test_numeric_answers_and_cells() -> None:
    question = q("numeric", min=0, max=1000)
    assert normalize_answer(question, 12.5) == 12.5 and cell(question, "42") == 42 and cell(question, "1e2") == 100.0
    for bad, message in ((-1, "at least 0"), (1001, "at most 1000"), (True, "finite number"),
                         ("12", "finite number"), (10**400, "finite number")):
        with pytest.raises(ValueError, match=message):
            normalize_answer(question, bad)
    for raw in ("nan", "inf", "1e400"):
        with pytest.raises(ValueError, match="finite number"):
            cell(question, raw)
    with pytest.raises(ValueError, match="must be a number, got 'twelve'"):
        cell(question, "twelve")


def test_date_answers_and_cells() -> None:
    plain, formatted = q("date"), q("date", format="%d/%m/%Y")
    assert normalize_answer(plain, "2026-03-02") == "2026-03-02"
    assert normalize_answer(plain, "2026-03-02T23:30:00+01:00") == "2026-03-02"
    assert cell(formatted, "02/03/2026") == "2026-03-02" and cell(formatted, "2026-03-02") == "2026-03-02"
    with pytest.raises(ValueError, match=r"must be a date \(YYYY-MM-DD\), got '02/03/2026'"):
        cell(plain, "02/03/2026")
    with pytest.raises(ValueError, match="must be a date"):
        normalize_answer(formatted, 20260302)


def test_messages_stay_bounded_for_every_kind() -> None:
    big = [f"option {i:04d} " + "x" * 180 for i in range(MAX_OPTIONS)]
    for question in (q("ordinal", options=big), q("single_choice", options=big), q("multi_choice", options=big),
                     q("scale", min=0, max=100), q("numeric", max=1), q("date")):
        with pytest.raises(ValueError) as info:
            normalize_answer(question, ["y" * 100_000] * 100 if question.type == "multi_choice" else "z" * 100_000)
        assert len(str(info.value)) < 500
        assert str(info.value).count("option ") <= 3  # never more than three options listed


# --- required_if -----------------------------------------------------------------------------------------------

def conditional_survey(**why: Any) -> SurveyDefinition:
    return SurveyDefinition.model_validate({"title": "t", "questions": [
        {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro", "Team"]},
        {"key": "tools", "type": "multi_choice", "text": "Tools?", "options": ["A", "B"]},
        {"key": "why", "type": "text", "text": "Why Pro?", "required": True,
         "required_if": {"question": "plan", "in": ["Pro", "Team"]}, **why},
        {"key": "b_score", "type": "nps", "text": "B?", "required_if": {"question": "tools", "in": ["B"]}},
    ]})


def record(answers: dict[str, Any], completed: bool = True) -> ResponseRecord:
    return ResponseRecord(started_at=T0, completed_at=T0 + timedelta(minutes=2) if completed else None,
                          answers=answers)


def issues(definition: SurveyDefinition, answers: dict[str, Any], completed: bool = True) -> list[tuple[str, str]]:
    return [(i.field, i.message) for i in validate_record(definition, record(answers, completed), 0)]


def test_a_conditional_question_is_required_only_when_asked() -> None:
    survey = conditional_survey()
    assert issues(survey, {"plan": "Free"}) == []  # not asked: no answer needed
    assert issues(survey, {}) == []  # the earlier question unanswered: not asked either
    assert issues(survey, {"plan": "Team"}) == [("why", "is required in a completed response")]
    assert issues(survey, {"plan": "Pro", "why": "SSO"}) == []
    assert issues(survey, {"plan": "Pro"}, completed=False) == []


def test_an_answer_to_a_question_not_asked_is_refused() -> None:
    [(field, message)] = issues(conditional_survey(), {"plan": "Free", "why": "cheap"})
    assert field == "why"
    assert message == "has an answer but was not asked: it is asked only when 'plan' is ['Pro', 'Team']"


def test_multi_choice_conditions_match_any_chosen_option() -> None:
    survey = conditional_survey()
    assert issues(survey, {"tools": ["A", "B"], "b_score": 9}) == []
    assert [f for f, _ in issues(survey, {"tools": ["A"], "b_score": 9})] == ["b_score"]


def test_an_invalid_trigger_answer_is_reported_once() -> None:
    assert [f for f, _ in issues(conditional_survey(), {"plan": "Gold", "why": "x"})] == ["plan"]


@pytest.mark.parametrize(("condition", "message"), [
    ({"question": "later", "in": ["x"]}, "'later', which is not an earlier question"),
    ({"question": "why", "in": ["x"]}, "'why', which is not an earlier question"),
    ({"question": "plan", "in": ["Gold"]}, "required_if value 'Gold' is not a possible answer to 'plan'"),
    ({"question": "plan", "in": []}, "at least 1 item"),
    ({"question": "plan", "in": [True]}, "strings or numbers"),
    ({"question": "plan", "in": ["Pro"] * (MAX_OPTIONS + 1)}, f"at most {MAX_OPTIONS} values"),
    ({"question": "Plan", "in": ["Pro"]}, "lower snake case"),
])
def test_conditions_are_checked(condition: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        SurveyDefinition.model_validate({"title": "t", "questions": [
            {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro"]},
            {"key": "why", "type": "text", "text": "Why?", "required_if": condition},
            {"key": "later", "type": "text", "text": "Later"},
        ]})
    assert message in str(info.value)


def test_condition_values_take_their_question_s_normal_form_and_round_trip() -> None:
    survey = SurveyDefinition.model_validate({"title": "t", "questions": [
        {"key": "nps", "type": "nps", "text": "NPS"},
        {"key": "why", "type": "text", "text": "Why low?", "required_if": {"question": "nps", "in": [0.0, 6]}},
    ]})
    dumped = survey.model_dump(mode="json")
    assert dumped["questions"][1]["required_if"] == {"question": "nps", "in": [0, 6]}
    assert SurveyDefinition.model_validate(dumped) == survey


def test_snapshots_with_rating_questions_still_load() -> None:
    snapshot = Snapshot.model_validate({
        "survey": {"id": "old", "title": "Old", "questions": [
            {"key": "r", "type": "rating", "text": "Rate", "options": None, "required": False}]},
        "responses": [{"started_at": "2026-01-01T00:00:00Z", "answers": {"r": 4}}],
    })
    assert (snapshot.survey.questions[0].type, snapshot.survey.questions[0].max) == ("scale", 5)
