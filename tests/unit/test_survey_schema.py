"""The survey definition contract: question keys, options per type, unique keys, and where errors point."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import SAMPLE_PATH
from workbench.surveys.schema import QuestionType, Snapshot, SurveyDefinition


def _definition(*questions: dict[str, Any]) -> dict[str, Any]:
    return {"title": "Feedback", "questions": list(questions)}


def _errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        SurveyDefinition.model_validate(data)
    return info.value.errors()


@pytest.mark.parametrize("key", ["a", "nps", "q1", "plan_2026", "a_b_c", "x" * 63])
def test_accepts_lower_snake_case_keys(key: str) -> None:
    survey = SurveyDefinition.model_validate(_definition({"key": key, "type": "text", "text": "Why?"}))
    assert survey.questions[0].key == key


@pytest.mark.parametrize("key", ["", "1abc", "_a", "Nps", "has-dash", "has space", "ümlaut", "x" * 64, "a.b"])
def test_refuses_other_keys_and_points_at_the_key(key: str) -> None:
    errors = _errors(_definition({"key": key, "type": "text", "text": "Why?"}))
    assert [e["loc"] for e in errors] == [("questions", 0, "key")]
    assert "lower snake case" in errors[0]["msg"]


@pytest.mark.parametrize("qtype", ["single_choice", "multi_choice"])
def test_choice_questions_keep_their_options_in_order(qtype: str) -> None:
    survey = SurveyDefinition.model_validate(
        _definition({"key": "plan", "type": qtype, "text": "Plan?", "options": ["Pro", "Free", "Team"]})
    )
    assert survey.questions[0].type == QuestionType(qtype)
    assert survey.questions[0].options == ["Pro", "Free", "Team"]


@pytest.mark.parametrize("qtype", ["single_choice", "multi_choice"])
@pytest.mark.parametrize("options", [None, []], ids=["missing", "empty"])
def test_choice_questions_need_options(qtype: str, options: list[str] | None) -> None:
    question: dict[str, Any] = {"key": "plan", "type": qtype, "text": "Plan?"}
    if options is not None:
        question["options"] = options
    errors = _errors(_definition({"key": "ok", "type": "text", "text": "t"}, question))
    assert [e["loc"] for e in errors] == [("questions", 1, "options")]
    assert "needs a non-empty 'options' list" in errors[0]["msg"]


@pytest.mark.parametrize("qtype", ["nps", "rating", "text", "numeric", "date"])
def test_other_questions_refuse_options(qtype: str) -> None:
    errors = _errors(_definition({"key": "q", "type": qtype, "text": "Q?", "options": ["a", "b"]}))
    assert [e["loc"] for e in errors] == [("questions", 0, "options")]
    kind = "scale" if qtype == "rating" else qtype  # a rating is a 1-5 scale
    assert f"a {kind} question takes no 'options'" in errors[0]["msg"]


@pytest.mark.parametrize("qtype", ["nps", "rating", "text"])
def test_other_questions_without_options_are_fine(qtype: str) -> None:
    survey = SurveyDefinition.model_validate(_definition({"key": "q", "type": qtype, "text": "Q?"}))
    assert survey.questions[0].options is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["A|B", "C"], "must not contain '|'"),
        (["A", "  "], "non-blank"),
        (["A", "A"], "distinct"),
    ],
)
def test_bad_options_are_refused(options: list[str], message: str) -> None:
    errors = _errors(_definition({"key": "f", "type": "multi_choice", "text": "F?", "options": options}))
    assert [e["loc"] for e in errors] == [("questions", 0, "options")]
    assert message in errors[0]["msg"]


def test_unknown_type_is_reported_once_at_the_type() -> None:
    errors = _errors(_definition({"key": "q", "type": "slider", "text": "Q?", "options": ["a"]}))
    assert [e["loc"] for e in errors] == [("questions", 0, "type")]


def test_duplicate_keys_are_refused() -> None:
    errors = _errors(_definition(
        {"key": "nps", "type": "nps", "text": "Recommend?"},
        {"key": "why", "type": "text", "text": "Why?"},
        {"key": "nps", "type": "rating", "text": "Again?"},
    ))
    assert len(errors) == 1
    assert errors[0]["loc"] == ("questions",)
    assert "duplicate question key 'nps'" in errors[0]["msg"]


def test_a_survey_needs_a_title_and_a_question() -> None:
    assert [e["loc"] for e in _errors({"title": "", "questions": []})] == [("title",), ("questions",)]


def test_unknown_fields_are_refused() -> None:
    errors = _errors(_definition({"key": "q", "type": "text", "text": "Q?", "hint": "x"}))
    assert [e["loc"] for e in errors] == [("questions", 0, "hint")]


def test_question_lookup_by_key() -> None:
    survey = SurveyDefinition.model_validate(_definition(
        {"key": "a", "type": "text", "text": "A?"}, {"key": "b", "type": "rating", "text": "B?", "required": True}
    ))
    b = survey.question("b")
    assert b is not None and b.type == QuestionType.SCALE and (b.min, b.max) == (1, 5) and b.required
    assert survey.question("c") is None


def test_bundled_sample_is_a_valid_snapshot() -> None:
    snapshot = Snapshot.model_validate_json(SAMPLE_PATH.read_text(encoding="utf-8"))
    assert snapshot.survey.id == "sample"
    assert [q.key for q in snapshot.survey.questions][:2] == ["nps", "satisfaction"]
    assert snapshot.responses and all(r.started_at.tzinfo is not None for r in snapshot.responses[:50])
    assert snapshot.survey.segments == ["plan"]


# --- declared segment questions -----------------------------------------------------------------------------------

_SEGMENTABLE = (
    {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro"]},
    {"key": "tenure", "type": "ordinal", "text": "Tenure?", "options": ["< 1 year", "1+ years"]},
    {"key": "features", "type": "multi_choice", "text": "Features?", "options": ["A", "B"]},
    {"key": "nps", "type": "nps", "text": "Recommend?"},
)


def test_segments_name_single_choice_or_ordinal_questions() -> None:
    survey = SurveyDefinition.model_validate({**_definition(*_SEGMENTABLE), "segments": ["tenure", "plan"]})
    assert survey.segments == ["tenure", "plan"]
    assert SurveyDefinition.model_validate(_definition(*_SEGMENTABLE)).segments == []  # optional
    assert survey.model_dump(mode="json")["segments"] == ["tenure", "plan"]


@pytest.mark.parametrize(("segments", "message"), [
    (["tier"], "segments[0]: 'tier' is not a question of this survey"),
    (["plan", "features"], "segments[1]: 'features' is a multi_choice question; a segment question must be "
                           "single_choice or ordinal"),
    (["nps"], "'nps' is a nps question"),
    (["plan", "plan"], "segments[1]: 'plan' is listed twice"),
])
def test_segments_must_exist_and_be_of_a_segment_kind(segments: list[str], message: str) -> None:
    errors = _errors({**_definition(*_SEGMENTABLE), "segments": segments})
    assert [e["loc"] for e in errors] == [("segments",)]
    assert message in errors[0]["msg"]


def test_segments_of_invalid_questions_report_the_questions_only() -> None:
    errors = _errors({"title": "T", "questions": [{"key": "Bad", "type": "text", "text": "?"}], "segments": ["x"]})
    assert [e["loc"] for e in errors] == [("questions", 0, "key")]
