"""The survey data contract shared by the API, the importers, the snapshot and the notebooks.

A *snapshot* (`Snapshot`) is the frozen input of one report run: the survey definition plus every response at
the time the run started. The bundled sample file `notebooks/data/sample_survey.json` has the same shape, so
an analyst running a notebook on it gets what the pipeline gets.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

# --- Limits: the one place that bounds what a survey and a response may hold (docs/api.md, "Limits") ---------
# Unbounded definitions let a 5 KB import produce a 50 MB error body and a chart take minutes to draw.
MAX_TITLE_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 10_000
MAX_QUESTIONS = 200
MAX_KEY_LENGTH = 63
MAX_QUESTION_TEXT_LENGTH = 2_000
MAX_OPTIONS = 1_000  # per choice question
MAX_OPTION_LENGTH = 200
MAX_RESPONDENT_ID_LENGTH = 200
MAX_TEXT_LENGTH = 10_000  # a text answer

QUESTION_KEY = re.compile(rf"[a-z][a-z0-9_]{{0,{MAX_KEY_LENGTH - 1}}}")  # fullmatch: `$` would let "key\n" in
MULTI_CHOICE_SEPARATOR = "|"

# C0 control characters except tab, newline and CR, and unpaired surrogates: PostgreSQL text and JSONB cannot
# hold NUL (nor can any UTF-8 column hold a lone surrogate), and the rest only corrupt displays and exports.
FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def forbidden_character(value: str) -> str | None:
    """Why `value` cannot be stored (naming the first forbidden character and its position), or None."""
    match = FORBIDDEN_CHARACTERS.search(value)
    if match is None:
        return None
    kind = "an unpaired surrogate" if "\ud800" <= match.group() <= "\udfff" else "a control character"
    return f"must not contain {kind} (U+{ord(match.group()):04X} at position {match.start()})"


def _storable(value: str) -> str:
    problem = forbidden_character(value)
    if problem:
        raise ValueError(problem)
    return value


# Text that every database can store; give it a length bound with `Field(max_length=...)` where it is used.
StorableText = Annotated[str, AfterValidator(_storable)]


def _option_problem(option: Any) -> str | None:
    if not isinstance(option, str):
        return "is not a string"
    if len(option) > MAX_OPTION_LENGTH:
        return f"is longer than {MAX_OPTION_LENGTH} characters"
    return forbidden_character(option)


class QuestionType(StrEnum):
    """Question types and what an answer to each must be."""

    NPS = "nps"  # integer 0-10
    RATING = "rating"  # integer 1-5
    SINGLE_CHOICE = "single_choice"  # one of `options`
    MULTI_CHOICE = "multi_choice"  # a list of distinct `options`
    TEXT = "text"  # free text


SCALE_BOUNDS: dict[QuestionType, tuple[int, int]] = {
    QuestionType.NPS: (0, 10),
    QuestionType.RATING: (1, 5),
}
CHOICE_TYPES = {QuestionType.SINGLE_CHOICE, QuestionType.MULTI_CHOICE}


class Question(BaseModel):
    """One typed question of a survey."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, Field(description="Stable identifier, lower snake case; answers are keyed by it")]
    type: QuestionType
    text: Annotated[StorableText, Field(min_length=1, max_length=MAX_QUESTION_TEXT_LENGTH)]
    # validate_default: the options check must also run when `options` is left out (it names this field)
    options: Annotated[list[str] | None, Field(validate_default=True)] = None
    required: bool = False

    @field_validator("key")
    @classmethod
    def _key_shape(cls, key: str) -> str:
        _storable(key)  # a NUL is named as such, not as a mere "not snake case"
        if not QUESTION_KEY.fullmatch(key):
            raise ValueError(
                f"must be lower snake case: a letter, then letters, digits or '_' (max {MAX_KEY_LENGTH})"
            )
        return key

    @field_validator("options", mode="before")
    @classmethod
    def _options_bounded(cls, options: Any) -> Any:
        # Checked before pydantic's per-item validation, and reported as one error naming the first offender:
        # 10,000 bad options must not become 10,000 errors.
        if not isinstance(options, list):
            return options  # None, or the wrong type: reported by the type check
        if len(options) > MAX_OPTIONS:
            raise ValueError(f"at most {MAX_OPTIONS} options are allowed, got {len(options)}")
        problems = [(i, problem) for i, o in enumerate(options) if (problem := _option_problem(o))]
        if problems:
            first, problem = problems[0]
            more = f" ({len(problems)} options have a problem)" if len(problems) > 1 else ""
            raise ValueError(f"options[{first}] {problem}{more}")
        return options

    @field_validator("options")
    @classmethod
    def _options_match_type(cls, options: list[str] | None, info: ValidationInfo) -> list[str] | None:
        qtype = info.data.get("type")
        if qtype is None:  # the type itself is invalid and reported as such
            return options
        if qtype in CHOICE_TYPES:
            if not options:
                raise ValueError(f"a {qtype} question needs a non-empty 'options' list")
            if len(set(options)) != len(options):
                raise ValueError("'options' must be distinct")
            if any(not o.strip() or MULTI_CHOICE_SEPARATOR in o for o in options):
                raise ValueError(f"options must be non-blank and must not contain '{MULTI_CHOICE_SEPARATOR}'")
        elif options is not None:
            raise ValueError(f"a {qtype} question takes no 'options'")
        return options


class SurveyDefinition(BaseModel):
    """A survey: a title and its ordered questions."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[StorableText, Field(min_length=1, max_length=MAX_TITLE_LENGTH)]
    description: Annotated[StorableText, Field(max_length=MAX_DESCRIPTION_LENGTH)] = ""
    questions: Annotated[list[Question], Field(min_length=1)]

    @field_validator("questions", mode="before")
    @classmethod
    def _questions_bounded(cls, questions: Any) -> Any:
        # Before the per-question validation, so an oversized list costs one error, not one per question.
        if isinstance(questions, list) and len(questions) > MAX_QUESTIONS:
            raise ValueError(f"at most {MAX_QUESTIONS} questions are allowed, got {len(questions)}")
        return questions

    @field_validator("questions")
    @classmethod
    def _unique_keys(cls, questions: list[Question]) -> list[Question]:
        seen: set[str] = set()
        for q in questions:
            if q.key in seen:
                raise ValueError(f"duplicate question key '{q.key}'")
            seen.add(q.key)
        return questions

    def question(self, key: str) -> Question | None:
        return next((q for q in self.questions if q.key == key), None)


AnswerValue = int | str | list[str]


class ResponseRecord(BaseModel):
    """One respondent's answers, keyed by question key. A missing key means "not answered"."""

    model_config = ConfigDict(extra="forbid")

    respondent_id: Annotated[StorableText, Field(max_length=MAX_RESPONDENT_ID_LENGTH)] | None = None
    started_at: datetime
    completed_at: datetime | None = None  # None: the respondent did not finish
    answers: dict[str, Any] = Field(default_factory=dict)


class SnapshotSurvey(SurveyDefinition):
    id: str


class Snapshot(BaseModel):
    """The frozen input of a report run (and the format of the bundled sample data)."""

    survey: SnapshotSurvey
    responses: list[ResponseRecord]
