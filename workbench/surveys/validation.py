"""Answer validation against a survey definition. An import is all or nothing: any issue rejects it whole.

What an answer must be is decided by the question's kind (`workbench.surveys.kinds`). Conditional questions
(`required_if`): a question that was not asked must have no answer (an answer there means the data or the
condition is wrong, and guessing which would hide it); when asked, `required` applies as usual.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from workbench.surveys import kinds
from workbench.surveys.limits import (  # noqa: F401 (re-exported for the API and older imports)
    FORBIDDEN_CHARACTERS,
    MAX_LISTED_OPTIONS,
    describe_options,
    echo,
)
from workbench.surveys.schema import Question, ResponseRecord, SurveyDefinition

# Error output is bounded whatever the input (see `workbench.surveys.limits`).
MAX_REPORTED_ISSUES = 50
MAX_MESSAGE_LENGTH = 500
MAX_FIELD_LENGTH = 100


def _clip(text: str, limit: int) -> str:
    # Field names can come from the upload (a CSV header, an answer key): escape what a terminal would act on.
    text = FORBIDDEN_CHARACTERS.sub(lambda m: repr(m.group())[1:-1], text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def normalize_answer(question: Question, value: Any) -> Any:
    """The stored form of one answer to `question` (None: not answered).

    Raises:
        ValueError: The value is not a valid answer; the message says why, in bounded length.
    """
    return kinds.get(question.type).normalize(question, value)


def _condition_text(definition: SurveyDefinition, question: Question) -> str:
    condition = question.required_if
    assert condition is not None
    return f"it is asked only when '{condition.question}' is {describe_options(condition.values)}"


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
            normalized = normalize_answer(question, value)
        except ValueError as exc:
            issues.append(ImportIssue(row, key, str(exc)))
            continue
        if normalized is not None:
            answers[key] = normalized
    if record.started_at is not None and record.started_at.tzinfo is None:
        record.started_at = record.started_at.replace(tzinfo=UTC)
    if record.completed_at is not None and record.completed_at.tzinfo is None:
        record.completed_at = record.completed_at.replace(tzinfo=UTC)
    if record.started_at is not None and record.completed_at is not None and record.completed_at < record.started_at:
        issues.append(ImportIssue(row, "completed_at", "is before started_at"))
    invalid = {i.field for i in issues}  # an invalid answer is reported as such, not also as missing
    for q in definition.questions:
        condition = q.required_if
        if condition is not None and condition.question in invalid:
            invalid.add(q.key)  # whether it was asked is unknown: its trigger's issue says enough
            continue
        asked = definition.asked(q, answers)
        if not asked and q.key in answers:
            issues.append(ImportIssue(row, q.key, f"has an answer but was not asked: {_condition_text(definition, q)}"))
        elif (asked and q.required and record.completed_at is not None
              and q.key not in answers and q.key not in invalid):
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
