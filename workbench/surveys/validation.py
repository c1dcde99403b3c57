"""Answer validation against a survey definition. An import is all or nothing: any issue rejects it whole."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from workbench.surveys.schema import (
    FORBIDDEN_CHARACTERS,
    MAX_TEXT_LENGTH,
    SCALE_BOUNDS,
    QuestionType,
    ResponseRecord,
    SurveyDefinition,
    forbidden_character,
)

# Error output is bounded whatever the input: a message never lists every option nor echoes a whole value, so
# an error body cannot grow with the survey (a 5 KB import once produced a 50 MB 422).
MAX_REPORTED_ISSUES = 50
MAX_LISTED_OPTIONS = 3  # options named in a message; more are counted, not listed
MAX_MESSAGE_LENGTH = 500
MAX_FIELD_LENGTH = 100

_echo = reprlib.Repr()
_echo.maxstring = 40  # an echoed string keeps its start and end
_echo.maxother = 40
_echo.maxlist = _echo.maxtuple = _echo.maxset = _echo.maxdict = MAX_LISTED_OPTIONS
_echo.maxlevel = 2


def echo(value: Any) -> str:
    """A short repr of a user-supplied value for a message: long strings and lists are cut, controls escaped."""
    return _echo.repr(value)


def _clip(text: str, limit: int) -> str:
    # Field names can come from the upload (a CSV header, an answer key): escape what a terminal would act on.
    text = FORBIDDEN_CHARACTERS.sub(lambda m: repr(m.group())[1:-1], text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_options(options: list[str]) -> str:
    """The allowed options for a message: all of a short list, else the count and the first few."""
    if len(options) <= MAX_LISTED_OPTIONS:
        return echo(options)
    first = ", ".join(echo(o) for o in options[:MAX_LISTED_OPTIONS])
    return f"the {len(options)} options ({first}, ...)"


@dataclass(frozen=True)
class ImportIssue:
    """One problem in an import: where (`row`, `field`) and what; field and message are clipped to a bound."""

    row: int | str
    field: str
    message: str

    def __post_init__(self) -> None:
        # A backstop for every producer (parsers, pydantic messages): each issue stays a few hundred characters.
        object.__setattr__(self, "field", _clip(self.field, MAX_FIELD_LENGTH))
        object.__setattr__(self, "message", _clip(self.message, MAX_MESSAGE_LENGTH))

    def __str__(self) -> str:
        return f"row {self.row}, field '{self.field}': {self.message}"


class ImportValidationError(ValueError):
    """The import was rejected; `issues` lists (up to MAX_REPORTED_ISSUES of) the reasons."""

    def __init__(self, issues: list[ImportIssue], total: int | None = None) -> None:
        self.issues = issues[:MAX_REPORTED_ISSUES]
        self.total = total if total is not None else len(issues)
        more = f" (and {self.total - len(self.issues)} more)" if self.total > len(self.issues) else ""
        super().__init__("; ".join(str(i) for i in self.issues[:5]) + more)


def normalize_answer(qtype: QuestionType, options: list[str] | None, value: Any) -> Any:
    """Return the stored form of one answer (None: not answered), or raise ValueError saying why not."""
    if value is None:
        return None
    if qtype in SCALE_BOUNDS:
        low, high = SCALE_BOUNDS[qtype]
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or (isinstance(value, float) and not math.isfinite(value)) or value != int(value)):
            raise ValueError(f"must be a whole number from {low} to {high}, got {echo(value)}")
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}, got {echo(value)}")
        return int(value)
    if qtype is QuestionType.TEXT:
        if not isinstance(value, str):
            raise ValueError(f"must be text, got {type(value).__name__}")
        if len(value) > MAX_TEXT_LENGTH:
            raise ValueError(f"is longer than {MAX_TEXT_LENGTH} characters")
        problem = forbidden_character(value)
        if problem:
            raise ValueError(problem)
        return value if value.strip() else None
    assert options is not None
    if qtype is QuestionType.SINGLE_CHOICE:
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"must be one of {describe_options(options)}, got {echo(value)}")
        return value
    # multi_choice
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of options from {describe_options(options)}, got {echo(value)}")
    allowed = set(options)  # a set: a 1,000-option question must not make membership quadratic
    unknown = [v for v in value if v not in allowed]
    if unknown:
        count = f" ({len(unknown)} unknown)" if len(unknown) > MAX_LISTED_OPTIONS else ""
        raise ValueError(f"has unknown options {echo(unknown)}{count}; allowed: {describe_options(options)}")
    if len(set(value)) != len(value):
        raise ValueError("lists an option twice")
    return value or None


def validate_record(definition: SurveyDefinition, record: ResponseRecord, row: int | str) -> list[ImportIssue]:
    """Check and normalise `record` in place; return its issues (empty when valid)."""
    issues: list[ImportIssue] = []
    answers: dict[str, Any] = {}
    for key, value in record.answers.items():
        question = definition.question(key)
        if question is None:
            issues.append(ImportIssue(row, key, "unknown question"))
            continue
        try:
            normalized = normalize_answer(question.type, question.options, value)
        except ValueError as exc:
            issues.append(ImportIssue(row, key, str(exc)))
            continue
        if normalized is not None:
            answers[key] = normalized
    if record.started_at.tzinfo is None:
        record.started_at = record.started_at.replace(tzinfo=UTC)
    if record.completed_at is not None:
        if record.completed_at.tzinfo is None:
            record.completed_at = record.completed_at.replace(tzinfo=UTC)
        if record.completed_at < record.started_at:
            issues.append(ImportIssue(row, "completed_at", "is before started_at"))
        invalid = {i.field for i in issues}  # an invalid answer is reported as such, not also as missing
        for q in definition.questions:
            if q.required and q.key not in answers and q.key not in invalid:
                issues.append(ImportIssue(row, q.key, "is required in a completed response"))
    record.answers = answers
    return issues


def validate_records(
    definition: SurveyDefinition,
    records: list[ResponseRecord],
    rows: list[int | str] | None = None,
    existing_respondents: Set[str] | None = None,
) -> list[ResponseRecord]:
    """Validate a whole import; raise ImportValidationError listing every issue, or return the records."""
    if not records:
        raise ImportValidationError([ImportIssue("-", "responses", "no responses in the import")])
    rows = rows or list(range(len(records)))
    issues: list[ImportIssue] = []
    existing = existing_respondents or set()
    seen: set[str] = set()
    for record, row in zip(records, rows, strict=True):
        issues.extend(validate_record(definition, record, row))
        rid = record.respondent_id
        if rid is not None:
            if rid in existing:
                issues.append(ImportIssue(row, "respondent_id", f"{echo(rid)} was already imported for this survey"))
            elif rid in seen:
                issues.append(ImportIssue(row, "respondent_id", f"{echo(rid)} appears twice in this import"))
            seen.add(rid)
    if issues:
        raise ImportValidationError(issues)
    return records
