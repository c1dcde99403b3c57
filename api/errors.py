"""Translate a rejected import into a 422 body shaped like FastAPI's own (`detail` is a list with `loc`)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from workbench.surveys.validation import ImportValidationError


def import_error(exc: ImportValidationError) -> HTTPException:
    """The 422 for a rejected import: one `detail` entry per issue, plus one counting the issues not shown.

    Each entry keeps the issue's `row` and `field` as given by `workbench.surveys.imports` and adds a `loc`
    (`["body", "responses", row, field]`) so clients that read FastAPI's validation errors find it.
    """
    detail: list[dict[str, Any]] = [
        {"loc": ["body", "responses", issue.row, issue.field], "row": issue.row, "field": issue.field,
         "msg": issue.message, "type": "import_error"}
        for issue in exc.issues
    ]
    if exc.total > len(exc.issues):
        detail.append({"loc": ["body"], "msg": f"{exc.total - len(exc.issues)} more issues not shown",
                       "type": "import_error"})
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)
