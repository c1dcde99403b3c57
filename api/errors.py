"""Translate import validation errors into 422 bodies shaped like FastAPI's own."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from pydantic import ValidationError

from workbench.surveys.validation import ImportIssue, ImportValidationError


def import_error(exc: ImportValidationError) -> HTTPException:
    detail: list[dict[str, Any]] = [
        {"loc": ["body", "responses", issue.row, issue.field], "row": issue.row, "field": issue.field,
         "msg": issue.message, "type": "import_error"}
        for issue in exc.issues
    ]
    if exc.total > len(exc.issues):
        detail.append({"loc": ["body"], "msg": f"{exc.total - len(exc.issues)} more issues not shown",
                       "type": "import_error"})
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def json_import_error(exc: ValidationError) -> HTTPException:
    issues = []
    for err in exc.errors():
        loc = list(err["loc"])
        # loc looks like ("responses", 3, "answers", "nps"): report row 3 (an int, like validate_records'), field nps
        row = loc[1] if len(loc) > 1 and loc[0] == "responses" else "-"
        field = str(loc[-1]) if len(loc) > 2 else (str(loc[0]) if loc else "body")
        issues.append(ImportIssue(row, field, err["msg"]))
    return import_error(ImportValidationError(issues))
