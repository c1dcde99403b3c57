"""The survey data contract shared by the API, the importers, the snapshot and the notebooks.

A *snapshot* (`Snapshot`) is the frozen input of one report run: the survey definition plus every response at
the time the run started. The bundled sample file `notebooks/data/sample_survey.json` has the same shape, so
an analyst running a notebook on it gets what the pipeline gets.

What a question of each `type` accepts is decided by its kind in `workbench.surveys.kinds`; this module only
asks the registry. The limits are defined in `workbench.surveys.limits` and re-exported here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from workbench.surveys import kinds
from workbench.surveys.limits import (  # noqa: F401 (re-exported: the limits' historical home)
    FORBIDDEN_CHARACTERS,
    MAX_DESCRIPTION_LENGTH,
    MAX_FORMAT_LENGTH,
    MAX_KEY_LENGTH,
    MAX_OPTION_LENGTH,
    MAX_OPTIONS,
    MAX_QUESTION_TEXT_LENGTH,
    MAX_QUESTIONS,
    MAX_RESPONDENT_ID_LENGTH,
    MAX_SCALE_SPAN,
    MAX_TEXT_LENGTH,
    MAX_TITLE_LENGTH,
    MULTI_CHOICE_SEPARATOR,
    QUESTION_KEY,
    describe_options,
    echo,
    forbidden_character,
)


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


def _key_problem(key: str) -> str | None:
    problem = forbidden_character(key)  # a NUL is named as such, not as a mere "not snake case"
    if problem:
        return problem
    if not QUESTION_KEY.fullmatch(key):
        return f"must be lower snake case: a letter, then letters, digits or '_' (max {MAX_KEY_LENGTH})"
    return None


class QuestionType(StrEnum):
    """Names of the built-in kinds, for comparisons such as `question.type == QuestionType.TEXT`.

    The registry (`workbench.surveys.kinds`) defines what a kind is; a new kind needs no member here.
    """

    NPS = "nps"  # integer 0-10
    SCALE = "scale"  # integer min..max
    ORDINAL = "ordinal"  # one of ordered `options`
    NUMERIC = "numeric"  # a finite number, optionally within min..max
    SINGLE_CHOICE = "single_choice"  # one of `options`
    MULTI_CHOICE = "multi_choice"  # a list of distinct `options`
    TEXT = "text"  # free text
    DATE = "date"  # an ISO date


class RequiredIf(BaseModel):
    """A condition: the question is asked only when an earlier question's answer is one of `in`."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True)

    question: Annotated[str, Field(description="The key of an earlier question")]
    values: Annotated[list[Any], Field(alias="in", min_length=1, description=(
        "Answers of that question that make this one asked (for multi-choice: any of the options chosen)"))]

    @field_validator("question")
    @classmethod
    def _key_shape(cls, key: str) -> str:
        problem = _key_problem(key)
        if problem:
            raise ValueError(problem)
        return key

    @field_validator("values", mode="before")
    @classmethod
    def _values_bounded(cls, values: Any) -> Any:
        if isinstance(values, list):
            if len(values) > MAX_OPTIONS:
                raise ValueError(f"at most {MAX_OPTIONS} values are allowed, got {len(values)}")
            if any(isinstance(v, bool) or not isinstance(v, str | int | float) for v in values):
                raise ValueError("values must be strings or numbers")
        return values


_TYPE_NAMES = [*kinds.names(), *kinds.aliases()]


class Question(BaseModel):
    """One typed question of a survey; which of `options`, `min`, `max`, `labels`, `format` apply is up to
    its kind (`type`)."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, Field(description="Stable identifier, lower snake case; answers are keyed by it")]
    type: Annotated[str, Field(description="The question kind; 'rating' is accepted as a 1-5 scale",
                               json_schema_extra={"enum": _TYPE_NAMES})]
    text: Annotated[StorableText, Field(min_length=1, max_length=MAX_QUESTION_TEXT_LENGTH)]
    # validate_default: each kind field's check must also run when the field is left out (it names the field)
    options: Annotated[list[str] | None, Field(validate_default=True, description=(
        "single_choice, multi_choice: the options; ordinal: the labels, lowest first"))] = None
    min: Annotated[int | float | None, Field(validate_default=True, description=(
        "scale: the lowest value (required); numeric: the lowest allowed value"))] = None
    max: Annotated[int | float | None, Field(validate_default=True, description=(
        "scale: the highest value (required); numeric: the highest allowed value"))] = None
    labels: Annotated[dict[str, str] | None, Field(validate_default=True, description=(
        "scale: labels of some values, keyed by value ({\"1\": \"Not at all\", \"5\": \"Completely\"})"))] = None
    format: Annotated[str | None, Field(validate_default=True, max_length=MAX_FORMAT_LENGTH, description=(
        "date: a strptime format accepted besides ISO dates, e.g. %d/%m/%Y"))] = None
    required: bool = False
    required_if: RequiredIf | None = Field(None, description=(
        "Ask this question only when an earlier answer matches; `required` then applies when asked"))

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        # Old names (`rating`) become the kind they stand for, so stored and returned definitions use it.
        return kinds.expand_alias(data) if isinstance(data, dict) else data

    @field_validator("key")
    @classmethod
    def _key_shape(cls, key: str) -> str:
        problem = _key_problem(key)
        if problem:
            raise ValueError(problem)
        return key

    @field_validator("type")
    @classmethod
    def _known_type(cls, qtype: str) -> str:
        if qtype not in kinds.names():
            raise ValueError(f"unknown question type {echo(qtype)}; use one of: {', '.join(_TYPE_NAMES)}")
        return qtype

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

    @field_validator("min", "max", mode="before")
    @classmethod
    def _plain_numbers(cls, value: Any) -> Any:
        # Pydantic would read True as 1 and "3" as 3; a definition says what it means.
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"must be a number, got {echo(value)}")
        return value

    @field_validator("labels", mode="before")
    @classmethod
    def _label_keys(cls, labels: Any) -> Any:
        if isinstance(labels, dict):
            if len(labels) > MAX_SCALE_SPAN + 1:
                raise ValueError(f"at most {MAX_SCALE_SPAN + 1} labels are allowed, got {len(labels)}")
            # Python callers may key labels by int; JSON keys are strings.
            return {str(k) if isinstance(k, int) and not isinstance(k, bool) else k: v for k, v in labels.items()}
        return labels

    @field_validator("options", "min", "max", "labels", "format")
    @classmethod
    def _kind_fields(cls, value: Any, info: ValidationInfo) -> Any:
        qtype = info.data.get("type")
        if qtype is None:  # the type itself is invalid and reported as such
            return value
        assert info.field_name is not None
        return kinds.get(qtype).check_field(info.field_name, value, info.data)


# The kinds a respondent can be grouped by: one answer each, from a fixed list of options.
SEGMENT_KINDS = ("single_choice", "ordinal")


class SurveyDefinition(BaseModel):
    """A survey: a title, its ordered questions and the questions its reports compare respondents by.

    `segments` names the survey's declared segment questions (keys of single_choice or ordinal questions, e.g.
    `["plan"]`): the `segments` report component compares every other question across their answers when a
    report does not name its own `segment_by`.
    """

    model_config = ConfigDict(extra="forbid")

    title: Annotated[StorableText, Field(min_length=1, max_length=MAX_TITLE_LENGTH)]
    description: Annotated[StorableText, Field(max_length=MAX_DESCRIPTION_LENGTH)] = ""
    questions: Annotated[list[Question], Field(min_length=1)]
    segments: Annotated[list[str], Field(max_length=MAX_QUESTIONS, description=(
        "Keys of single_choice or ordinal questions to compare respondents by (e.g. [\"plan\"]); reports use "
        "them when they name no segment_by of their own"))] = []

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

    @field_validator("questions")
    @classmethod
    def _conditions(cls, questions: list[Question]) -> list[Question]:
        # A condition names an earlier question (so conditions cannot loop) and answers it could be given;
        # the values are stored in that question's normal form (7.0 -> 7).
        earlier: dict[str, Question] = {}
        for q in questions:
            condition = q.required_if
            if condition is not None:
                trigger = earlier.get(condition.question)
                if trigger is None:
                    raise ValueError(f"question '{q.key}': required_if names '{condition.question}', "
                                     "which is not an earlier question")
                kind = kinds.get(trigger.type)
                normalized = []
                for value in condition.values:
                    try:
                        normalized.append(kind.condition_value(trigger, value))
                    except ValueError as exc:
                        raise ValueError(f"question '{q.key}': required_if value {echo(value)} "
                                         f"is not a possible answer to '{trigger.key}': {exc}") from None
                condition.values = normalized
            earlier[q.key] = q
        return questions

    @field_validator("segments")
    @classmethod
    def _segment_questions(cls, segments: list[str], info: ValidationInfo) -> list[str]:
        # Declared after `questions`, so they are validated by now (absent when invalid: reported there).
        questions = {q.key: q for q in info.data.get("questions") or []}
        if not questions and segments:
            return segments
        seen: set[str] = set()
        for i, key in enumerate(segments):
            question = questions.get(key)
            if question is None:
                raise ValueError(f"segments[{i}]: {echo(key)} is not a question of this survey")
            if question.type not in SEGMENT_KINDS:
                raise ValueError(f"segments[{i}]: '{key}' is a {question.type} question; a segment question must "
                                 f"be {' or '.join(SEGMENT_KINDS)}")
            if key in seen:
                raise ValueError(f"segments[{i}]: '{key}' is listed twice")
            seen.add(key)
        return segments

    def question(self, key: str) -> Question | None:
        return next((q for q in self.questions if q.key == key), None)

    def asked(self, question: Question, answers: dict[str, Any]) -> bool:
        """Whether `question` was asked of a respondent with these (normalised) answers.

        A question without `required_if` is always asked; a conditional one only when its earlier question's
        answer is one of the condition's values (an unanswered earlier question asks nothing).
        """
        condition = question.required_if
        if condition is None:
            return True
        trigger = self.question(condition.question)
        if trigger is None:
            return False
        return kinds.get(trigger.type).matches(answers.get(trigger.key), condition.values)


AnswerValue = int | float | str | list[str]


class ResponseRecord(BaseModel):
    """One respondent's answers, keyed by question key. A missing key means "not answered".

    Both timestamps are optional: exports often carry none, or only when the response was completed. A
    response with `completed_at` is complete; without it, it is incomplete or of unknown status.
    """

    model_config = ConfigDict(extra="forbid")

    respondent_id: Annotated[StorableText, Field(max_length=MAX_RESPONDENT_ID_LENGTH)] | None = None
    started_at: datetime | None = None  # None: unknown
    completed_at: datetime | None = None  # None: the respondent did not finish, or it is unknown
    answers: dict[str, Any] = Field(default_factory=dict)


class SnapshotSurvey(SurveyDefinition):
    id: str


class Snapshot(BaseModel):
    """The frozen input of a report run (and the format of the bundled sample data).

    Snapshots stored before the question kinds (`type: rating`) load as they are: the alias becomes a 1-5 scale.
    """

    survey: SnapshotSurvey
    responses: list[ResponseRecord]

    @field_serializer("responses", mode="wrap")
    def _responses(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        # A snapshot read from Parquet holds its responses as columns (`workbench.surveys.columnar`): their
        # records serialise as the list they stand for.
        return handler(value if isinstance(value, list) else list(value))
