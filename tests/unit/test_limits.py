"""Bounded surveys and bounded errors: every documented limit at its boundary and one over, text that a database
cannot store (NUL, other control characters, unpaired surrogates) refused wherever it can enter, and messages
that stay short however many options a question has. The same on SQLite and PostgreSQL where storage is involved.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from workbench.config import REPO_ROOT
from workbench.storage import surveys as store
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workbench.surveys import schema
from workbench.surveys.imports import parse_responses, read_survey_file
from workbench.surveys.schema import (
    MAX_DESCRIPTION_LENGTH,
    MAX_KEY_LENGTH,
    MAX_OPTION_LENGTH,
    MAX_OPTIONS,
    MAX_QUESTION_TEXT_LENGTH,
    MAX_QUESTIONS,
    MAX_RESPONDENT_ID_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_TITLE_LENGTH,
    Question,
    ResponseRecord,
    SurveyDefinition,
)
from workbench.surveys.validation import (
    MAX_FIELD_LENGTH,
    MAX_MESSAGE_LENGTH,
    ImportIssue,
    ImportValidationError,
    normalize_answer,
)

STARTED = "2026-03-02T07:00:00Z"
BAD_CHARACTERS = ["\x00", "\x01", "\x1b", "\x1f", "\ud800"]  # NUL, SOH, ESC, US, a lone surrogate
ALLOWED_WHITESPACE = ["\t", "\n", "\r"]


def _question(**changes: Any) -> dict[str, Any]:
    return {"key": "q", "type": "text", "text": "Why?", **changes}


def _choice(options: list[Any], qtype: str = "single_choice") -> dict[str, Any]:
    return _question(key="c", type=qtype, text="Pick", options=options)


def question(qtype: str, options: list[str] | None = None) -> Question:
    """A question of kind `qtype`; `options` go to the kinds that take them."""
    takes_options = qtype in ("single_choice", "multi_choice", "ordinal")
    return Question(key="q", type=qtype, text="Q?", options=options if takes_options else None)


def _survey(*questions: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"title": "Feedback", "questions": list(questions) or [_question()], **changes}


def _errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        SurveyDefinition.model_validate(data)
    return info.value.errors()


def _options(count: int, length: int = 8) -> list[str]:
    return [f"{i:0{length}d}" for i in range(count)]


# --- each limit at the boundary and one over; the error names the field ---------------------------------------

DEFINITION_LIMITS = [
    # (name, build(size) -> survey data, the limit, where the error points)
    ("title", lambda n: _survey(title="t" * n), MAX_TITLE_LENGTH, ("title",)),
    ("description", lambda n: _survey(description="d" * n), MAX_DESCRIPTION_LENGTH, ("description",)),
    ("questions", lambda n: _survey(*[_question(key=f"q{i}") for i in range(n)]), MAX_QUESTIONS, ("questions",)),
    ("question text", lambda n: _survey(_question(text="x" * n)), MAX_QUESTION_TEXT_LENGTH,
     ("questions", 0, "text")),
    ("question key", lambda n: _survey(_question(key="k" * n)), MAX_KEY_LENGTH, ("questions", 0, "key")),
    ("options", lambda n: _survey(_choice(_options(n))), MAX_OPTIONS, ("questions", 0, "options")),
    ("option length", lambda n: _survey(_choice(["a", "o" * n])), MAX_OPTION_LENGTH, ("questions", 0, "options")),
]


@pytest.mark.parametrize(("build", "limit", "loc"), [d[1:] for d in DEFINITION_LIMITS],
                         ids=[d[0] for d in DEFINITION_LIMITS])
def test_definition_limits_at_the_boundary_and_one_over(build: Any, limit: int, loc: tuple[Any, ...]) -> None:
    SurveyDefinition.model_validate(build(limit))
    errors = _errors(build(limit + 1))
    assert [e["loc"] for e in errors] == [loc]
    assert str(limit) in errors[0]["msg"] or "lower snake case" in errors[0]["msg"]


def test_too_many_options_is_one_short_error_naming_the_limit() -> None:
    errors = _errors(_survey(_choice(_options(10_000))))
    assert len(errors) == 1
    assert errors[0]["msg"] == f"Value error, at most {MAX_OPTIONS} options are allowed, got 10000"


def test_many_bad_options_are_one_error_naming_the_first() -> None:
    # One error per option would let a 1,000-option question produce 1,000 errors.
    options: list[Any] = ["ok", *range(MAX_OPTIONS - 1)]
    errors = _errors(_survey(_choice(options)))
    assert len(errors) == 1 and errors[0]["loc"] == ("questions", 0, "options")
    assert errors[0]["msg"] == f"Value error, options[1] is not a string ({MAX_OPTIONS - 1} options have a problem)"


def test_too_many_questions_is_reported_before_any_question_is_checked() -> None:
    errors = _errors(_survey(*[{"key": "BAD"}] * 10_000))
    assert len(errors) == 1 and f"at most {MAX_QUESTIONS} questions" in errors[0]["msg"]


def test_respondent_id_limit() -> None:
    assert ResponseRecord(respondent_id="r" * MAX_RESPONDENT_ID_LENGTH, started_at=STARTED).respondent_id
    with pytest.raises(ValidationError) as info:
        ResponseRecord(respondent_id="r" * (MAX_RESPONDENT_ID_LENGTH + 1), started_at=STARTED)
    assert [e["loc"] for e in info.value.errors()] == [("respondent_id",)]


def test_text_answer_limit() -> None:
    assert normalize_answer(question("text"), "w" * MAX_TEXT_LENGTH)
    with pytest.raises(ValueError, match=f"longer than {MAX_TEXT_LENGTH}"):
        normalize_answer(question("text"), "w" * (MAX_TEXT_LENGTH + 1))


def test_a_trailing_newline_does_not_make_a_key_valid() -> None:
    # `re.match` with `$` accepted "nps\n"; keys are matched whole.
    assert [e["loc"] for e in _errors(_survey(_question(key="nps\n")))] == [("questions", 0, "key")]


def test_the_limits_section_of_the_api_docs_states_the_constants() -> None:
    text = (REPO_ROOT / "docs" / "api.md").read_text()
    section = text[text.index("## Limits"):]
    table = dict(re.findall(r"^\| ([^|]+?) \| ([\d,]+)", section, flags=re.MULTILINE))
    assert {name: int(value.replace(",", "")) for name, value in table.items()} == {
        "survey title": schema.MAX_TITLE_LENGTH,
        "survey description": schema.MAX_DESCRIPTION_LENGTH,
        "questions per survey": schema.MAX_QUESTIONS,
        "question key": schema.MAX_KEY_LENGTH,
        "question text": schema.MAX_QUESTION_TEXT_LENGTH,
        "options per choice question": schema.MAX_OPTIONS,
        "option": schema.MAX_OPTION_LENGTH,
        "respondent id": schema.MAX_RESPONDENT_ID_LENGTH,
        "text answer": schema.MAX_TEXT_LENGTH,
        "scale span (max - min)": schema.MAX_SCALE_SPAN,
        "date format": schema.MAX_FORMAT_LENGTH,
    }


# --- NUL and other control characters, in every place they can enter ---------------------------------------

DEFINITION_PLACES = [
    ("title", lambda c: _survey(title=f"Fee{c}dback"), ("title",)),
    ("description", lambda c: _survey(description=f"About{c}"), ("description",)),
    ("question text", lambda c: _survey(_question(text=f"Why{c}?")), ("questions", 0, "text")),
    ("question key", lambda c: _survey(_question(key=f"q{c}")), ("questions", 0, "key")),
    ("option", lambda c: _survey(_choice(["Free", f"Pro{c}"])), ("questions", 0, "options")),
]


@pytest.mark.parametrize("char", BAD_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize(("build", "loc"), [p[1:] for p in DEFINITION_PLACES], ids=[p[0] for p in DEFINITION_PLACES])
def test_definition_refuses_unstorable_characters(build: Any, loc: tuple[Any, ...], char: str) -> None:
    errors = _errors(build(char))
    assert [e["loc"] for e in errors] == [loc]
    assert f"U+{ord(char):04X}" in errors[0]["msg"]


@pytest.mark.parametrize("char", ALLOWED_WHITESPACE, ids=repr)
def test_tab_newline_and_cr_are_allowed_in_free_text(char: str) -> None:
    survey = SurveyDefinition.model_validate(_survey(_choice(["Free", f"Pro{char}x"]), title=f"A{char}B",
                                                     description=f"C{char}D"))
    assert char in survey.title and char in survey.description
    assert normalize_answer(question("text"), f"line{char}more") == f"line{char}more"


def test_survey_file_with_nul_names_the_field(tmp_path: Any) -> None:
    path = tmp_path / "survey.json"
    path.write_text('{"title": "T\\u0000", "questions": [{"key": "q", "type": "text", "text": "Q\\u0000"}]}')
    with pytest.raises(ImportValidationError) as info:
        read_survey_file(path)
    assert [(i.row, i.field) for i in info.value.issues] == [("-", "title"), ("-", "questions.0.text")]
    assert all("U+0000" in i.message for i in info.value.issues)


@pytest.fixture
def definition() -> SurveyDefinition:
    return SurveyDefinition.model_validate(_survey(
        _question(key="why"), _choice(["Free", "Pro"]), _choice(["A", "B"], "multi_choice") | {"key": "m"}
    ))


def _json_issues(definition: SurveyDefinition, record: dict[str, Any]) -> list[ImportIssue]:
    with pytest.raises(ImportValidationError) as info:
        parse_responses(definition, [{"started_at": STARTED, **record}], fmt="json")
    return info.value.issues


@pytest.mark.parametrize("char", BAD_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize(("record", "field"), [
    ({"respondent_id": "r\0"}, "respondent_id"),
    ({"answers": {"why": "fine\0"}}, "why"),
    ({"answers": {"c": "Pro\0"}}, "c"),
    ({"answers": {"m": ["A", "B\0"]}}, "m"),
], ids=["respondent_id", "text", "single_choice", "multi_choice"])
def test_json_import_refuses_unstorable_characters(
    definition: SurveyDefinition, record: dict[str, Any], field: str, char: str
) -> None:
    issues = _json_issues(definition, _replace_nul(record, char))
    assert [(i.row, i.field) for i in issues] == [(0, field)]
    assert char not in issues[0].message  # echoed escaped, never raw


def test_json_answer_key_with_nul_is_unknown_and_escaped(definition: SurveyDefinition) -> None:
    issues = _json_issues(definition, {"answers": {"why\0": "x"}})
    assert [(i.field, i.message) for i in issues] == [("why\\x00", "unknown question")]


@pytest.mark.parametrize(("header", "cells", "field"), [
    ("respondent_id", "r\0", "respondent_id"),
    ("why", "fine\0", "why"),
    ("c", "Pro\0", "c"),
    ("m", "A|B\0", "m"),
], ids=["respondent_id", "text", "single_choice", "multi_choice"])
def test_csv_import_refuses_nul(definition: SurveyDefinition, header: str, cells: str, field: str) -> None:
    text = f"started_at,{header}\n{STARTED},{cells}\n"
    with pytest.raises(ImportValidationError) as info:
        parse_responses(definition, text.encode(), fmt="csv")
    assert [(i.row, i.field) for i in info.value.issues] == [(2, field)]


def test_csv_header_with_nul_is_an_unknown_column_escaped(definition: SurveyDefinition) -> None:
    with pytest.raises(ImportValidationError) as info:
        parse_responses(definition, f"started_at,why\0\n{STARTED},x\n".encode(), fmt="csv")
    assert [(i.row, i.field) for i in info.value.issues] == [(1, "why\\x00")]


def _replace_nul(value: Any, char: str) -> Any:
    if isinstance(value, str):
        return value.replace("\0", char)
    if isinstance(value, list):
        return [_replace_nul(v, char) for v in value]
    if isinstance(value, dict):
        return {k: _replace_nul(v, char) for k, v in value.items()}
    return value


# --- bounded messages ----------------------------------------------------------------------------------------

BIG = _options(MAX_OPTIONS, length=MAX_OPTION_LENGTH)  # the largest allowed question: 1,000 options of 200 chars


def test_a_value_not_in_a_1000_option_list_gives_a_short_message_with_the_count() -> None:
    with pytest.raises(ValueError) as info:
        normalize_answer(question("single_choice", BIG), "nope")
    message = str(info.value)
    assert len(message) < 500, len(message)
    assert f"the {MAX_OPTIONS} options" in message and "got 'nope'" in message


def test_unknown_multi_choice_options_are_counted_not_all_listed() -> None:
    with pytest.raises(ValueError) as info:
        normalize_answer(question("multi_choice", BIG), [f"x{i}" for i in range(10_000)])
    message = str(info.value)
    assert len(message) < 500 and "(10000 unknown)" in message and f"the {MAX_OPTIONS} options" in message


def test_short_option_lists_are_still_listed_in_full() -> None:
    with pytest.raises(ValueError, match=r"must be one of \['Free', 'Pro'\], got 'x'"):
        normalize_answer(question("single_choice", ["Free", "Pro"]), "x")


@pytest.mark.parametrize(("qtype", "value"), [
    ("nps", "9" * 100_000),
    ("nps", [[1] * 100_000]),
    ("single_choice", "v" * 100_000),
    ("multi_choice", {"k": "v" * 100_000}),
])
def test_echoed_values_are_cut(qtype: str, value: Any) -> None:
    with pytest.raises(ValueError) as info:
        normalize_answer(question(qtype, BIG), value)
    assert len(str(info.value)) < 500


def test_an_issue_clips_its_field_and_message_and_escapes_controls() -> None:
    issue = ImportIssue(1, "k\0" * 10_000, "m" * 10_000)
    assert len(issue.field) == MAX_FIELD_LENGTH and issue.field.startswith("k\\x00k")
    assert len(issue.message) == MAX_MESSAGE_LENGTH


def test_a_5kb_import_against_the_largest_question_stays_small() -> None:
    # The issue-6 probe, at the largest size still allowed: every answer wrong, the error still small.
    definition = SurveyDefinition.model_validate(_survey(_choice(BIG)))
    records = [{"started_at": STARTED, "answers": {"c": f"bad{i}"}} for i in range(80)]
    with pytest.raises(ImportValidationError) as info:
        parse_responses(definition, records, fmt="json")
    size = sum(len(str(i)) for i in info.value.issues)
    assert info.value.total == 80 and len(info.value.issues) == 50
    assert size < 50 * MAX_MESSAGE_LENGTH, size


# --- storage: the largest survey and responses are stored; NUL never reaches the database ---------------------

def _largest_survey() -> SurveyDefinition:
    questions = [_choice(BIG) | {"text": "Q" * MAX_QUESTION_TEXT_LENGTH},
                 _choice(BIG, "multi_choice") | {"key": "m"},
                 _question(key="k" * MAX_KEY_LENGTH)]
    questions += [_question(key=f"t{i}") for i in range(MAX_QUESTIONS - len(questions))]
    return SurveyDefinition.model_validate(_survey(*questions, title="T" * MAX_TITLE_LENGTH,
                                                   description="D\t\n\r" * (MAX_DESCRIPTION_LENGTH // 4)))


def test_the_largest_survey_and_responses_are_stored(sessions: sessionmaker[Session]) -> None:
    definition = _largest_survey()
    records = parse_responses(definition, [{
        "respondent_id": "r" * MAX_RESPONDENT_ID_LENGTH, "started_at": STARTED,
        "answers": {"c": BIG[-1], "m": BIG, "k" * MAX_KEY_LENGTH: "w\n" * (MAX_TEXT_LENGTH // 2)},
    }], fmt="json")
    with sessions.begin() as session:
        survey = store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        store.add_responses(session, survey_id=survey.id, records=records)
        survey_id = survey.id
    with sessions() as session:
        stored = store.get_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id)
        assert stored is not None
        assert store.survey_definition(stored) == definition
        snapshot = store.build_snapshot(session, survey=stored)
    assert snapshot.responses[0].answers["m"] == BIG
    assert snapshot.responses[0].respondent_id == "r" * MAX_RESPONDENT_ID_LENGTH


def test_nul_is_refused_before_any_database_call(sessions: sessionmaker[Session]) -> None:
    statements: list[str] = []
    with sessions() as session:
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        with pytest.raises(ValidationError):
            SurveyDefinition.model_validate(_survey(title="T\0"))
        definition = SurveyDefinition.model_validate(_survey())
        with pytest.raises(ImportValidationError):
            parse_responses(definition, [{"respondent_id": f"r{uuid.uuid4()}\0", "started_at": STARTED}],
                            fmt="json")
        with pytest.raises(ImportValidationError):
            parse_responses(definition, f"started_at,q\n{STARTED},a\0\n".encode(), fmt="csv")
    assert statements == []
