"""Answer validation against a survey definition. An import is all or nothing: any issue rejects it whole."""

from __future__ import annotations

import math
from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from workbench.surveys.schema import (
    MAX_TEXT_LENGTH,
    SCALE_BOUNDS,
    QuestionType,
    ResponseRecord,
    SurveyDefinition,
)

MAX_REPORTED_ISSUES = 50


@dataclass(frozen=True)
class ImportIssue:
    """One problem in an import: where (`row`, `field`) and what."""

    row: int | str
    field: str
    message: str

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
            raise ValueError(f"must be a whole number from {low} to {high}, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}, got {value!r}")
        return int(value)
    if qtype is QuestionType.TEXT:
        if not isinstance(value, str):
            raise ValueError(f"must be text, got {type(value).__name__}")
        if len(value) > MAX_TEXT_LENGTH:
            raise ValueError(f"is longer than {MAX_TEXT_LENGTH} characters")
        return value if value.strip() else None
    assert options is not None
    if qtype is QuestionType.SINGLE_CHOICE:
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"must be one of {options}, got {value!r}")
        return value
    # multi_choice
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of options from {options}, got {value!r}")
    unknown = [v for v in value if v not in options]
    if unknown:
        raise ValueError(f"has unknown options {unknown}; allowed: {options}")
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
                issues.append(ImportIssue(row, "respondent_id", f"'{rid}' was already imported for this survey"))
            elif rid in seen:
                issues.append(ImportIssue(row, "respondent_id", f"'{rid}' appears twice in this import"))
            seen.add(rid)
    if issues:
        raise ImportValidationError(issues)
    return records
