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

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

QUESTION_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MULTI_CHOICE_SEPARATOR = "|"


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
MAX_TEXT_LENGTH = 10_000


class Question(BaseModel):
    """One typed question of a survey."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, Field(description="Stable identifier, lower snake case; answers are keyed by it")]
    type: QuestionType
    text: Annotated[str, Field(min_length=1, max_length=2000)]
    # validate_default: the options check must also run when `options` is left out (it names this field)
    options: Annotated[list[str] | None, Field(validate_default=True)] = None
    required: bool = False

    @field_validator("key")
    @classmethod
    def _key_shape(cls, key: str) -> str:
        if not QUESTION_KEY.match(key):
            raise ValueError("must be lower snake case: a letter, then letters, digits or '_' (max 63)")
        return key

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

    title: Annotated[str, Field(min_length=1, max_length=300)]
    description: str = ""
    questions: Annotated[list[Question], Field(min_length=1)]

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

    respondent_id: Annotated[str | None, Field(max_length=200)] = None
    started_at: datetime
    completed_at: datetime | None = None  # None: the respondent did not finish
    answers: dict[str, Any] = Field(default_factory=dict)


class SnapshotSurvey(SurveyDefinition):
    id: str


class Snapshot(BaseModel):
    """The frozen input of a report run (and the format of the bundled sample data)."""

    survey: SnapshotSurvey
    responses: list[ResponseRecord]
