"""Read surveys and responses from files (the CLI's import; the sample data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from workbench.surveys.csv_import import parse_responses_csv
from workbench.surveys.schema import ResponseRecord, SurveyDefinition
from workbench.surveys.validation import ImportIssue, ImportValidationError, validate_records

_records = TypeAdapter(list[ResponseRecord])


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise ImportValidationError([ImportIssue(f"line {exc.lineno}", "body", f"not valid JSON: {exc.msg}")]) from None


def read_survey_file(path: Path) -> tuple[SurveyDefinition, list[dict[str, Any]] | None]:
    """A survey definition file, or a snapshot-shaped file (`{"survey": ..., "responses": [...]}`).

    Returns the definition and, for a snapshot file, its raw responses (validated by `read_responses`)."""
    data = _load_json(path)
    responses = None
    if isinstance(data, dict) and "survey" in data:
        responses = data.get("responses")
        data = {k: v for k, v in data["survey"].items() if k != "id"}
    try:
        return SurveyDefinition.model_validate(data), responses
    except ValidationError as exc:
        raise ImportValidationError([
            ImportIssue("-", ".".join(map(str, e["loc"])) or "survey", e["msg"]) for e in exc.errors()
        ]) from None


def parse_json_responses(
    definition: SurveyDefinition, raw: Any, existing: set[str] | None = None
) -> list[ResponseRecord]:
    if isinstance(raw, dict):
        raw = raw.get("responses")
    if not isinstance(raw, list):
        raise ImportValidationError([ImportIssue("-", "responses", "expected a list of responses")])
    try:
        records = _records.validate_python(raw)
    except ValidationError as exc:
        raise ImportValidationError([
            ImportIssue(e["loc"][0] if e["loc"] else "-", ".".join(map(str, e["loc"][1:])) or "response", e["msg"])
            for e in exc.errors()
        ]) from None
    return validate_records(definition, records, None, existing)


def read_responses_file(
    definition: SurveyDefinition, path: Path, existing: set[str] | None = None
) -> list[ResponseRecord]:
    """Responses from a `.csv` file or a `.json` file (a list, or `{"responses": [...]}`)."""
    if path.suffix.lower() == ".csv":
        return parse_responses_csv(definition, path.read_text(encoding="utf-8-sig"), existing)
    return parse_json_responses(definition, _load_json(path), existing)
