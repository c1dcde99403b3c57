"""Parse responses from CSV: `respondent_id`, `started_at`, `completed_at`, then one column per question key.

Blank cells are "not answered"; a blank `completed_at` marks an incomplete response; multi-choice cells list
options separated by `|`. Rows are numbered as in a spreadsheet: the header is row 1.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from workbench.surveys.schema import (
    MULTI_CHOICE_SEPARATOR,
    SCALE_BOUNDS,
    QuestionType,
    ResponseRecord,
    SurveyDefinition,
)
from workbench.surveys.validation import ImportIssue, ImportValidationError, validate_records

META_COLUMNS = ("respondent_id", "started_at", "completed_at")


def _cell(qtype: QuestionType, raw: str) -> Any:
    raw = raw.strip()
    if not raw:
        return None
    if qtype in SCALE_BOUNDS:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number, got {raw!r}") from None
    if qtype is QuestionType.MULTI_CHOICE:
        return [part.strip() for part in raw.split(MULTI_CHOICE_SEPARATOR) if part.strip()]
    return raw


def _timestamp(raw: str) -> datetime:
    try:
        return datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"must be an ISO 8601 timestamp, got {raw!r}") from None


def parse_responses_csv(
    definition: SurveyDefinition, text: str, existing_respondents: set[str] | None = None
) -> list[ResponseRecord]:
    """Parse and validate a CSV import; raise ImportValidationError naming rows and fields."""
    text = text.removeprefix("\ufeff")  # a BOM left by a plain UTF-8 decode would corrupt the first column name
    if not text.strip():
        raise ImportValidationError([ImportIssue(1, "body", "the CSV is empty")])
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ImportValidationError([ImportIssue("-", "body", f"not valid CSV: {exc}")]) from None
    header = [h.strip() for h in rows[0]]
    issues: list[ImportIssue] = []
    if "started_at" not in header:
        issues.append(ImportIssue(1, "started_at", "the header needs a started_at column"))
    for name in header:
        if name not in META_COLUMNS and definition.question(name) is None:
            issues.append(ImportIssue(1, name, "unknown question (column)"))
    if len(set(header)) != len(header):
        issues.append(ImportIssue(1, "header", "a column name appears twice"))
    if issues:
        raise ImportValidationError(issues)

    records: list[ResponseRecord] = []
    numbers: list[int | str] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # spreadsheets leave blank lines; they are not responses
        if len(row) != len(header):
            issues.append(ImportIssue(number, "row", f"has {len(row)} cells, the header has {len(header)}"))
            continue
        cells = dict(zip(header, row, strict=True))
        answers: dict[str, Any] = {}
        meta: dict[str, Any] = {"respondent_id": cells.get("respondent_id", "").strip() or None}
        for name, raw in cells.items():
            try:
                if name in ("started_at", "completed_at"):
                    meta[name] = _timestamp(raw) if raw.strip() else None
                elif name != "respondent_id":
                    question = definition.question(name)
                    assert question is not None
                    answers[name] = _cell(question.type, raw)
            except ValueError as exc:
                issues.append(ImportIssue(number, name, str(exc)))
        failed = {i.field for i in issues if i.row == number}
        if meta.get("started_at") is None and "started_at" not in failed:
            issues.append(ImportIssue(number, "started_at", "is required"))
        if failed or meta.get("started_at") is None:
            continue  # already reported; building the record would only repeat the issue
        try:
            records.append(ResponseRecord(**meta, answers=answers))
            numbers.append(number)
        except ValidationError as exc:
            issues.extend(ImportIssue(number, ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors())
    if issues:
        raise ImportValidationError(issues)
    if not records:
        raise ImportValidationError([ImportIssue(2, "body", "the CSV has a header but no responses")])
    return validate_records(definition, records, numbers, existing_respondents)
