"""Error bodies and exception handlers: every error is JSON `{"detail": ...}` of a documented shape.

A rejected import is a 422 shaped like FastAPI's own (`detail` a list with `loc`); a lost database is a 503 on
every route; a validation error never echoes a value JSON cannot carry (NaN, Infinity).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from workbench.surveys.validation import ImportIssue, ImportValidationError

log = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 5


def import_issue_detail(issues: Sequence[ImportIssue], total: int) -> list[dict[str, Any]]:
    """One `detail` entry per issue, plus one counting the issues not shown.

    Each entry keeps the issue's `row` and `field` as given by `workbench.surveys.imports` and adds a `loc`
    (`["body", "responses", row, field]`) so clients that read FastAPI's validation errors find it.
    """
    detail: list[dict[str, Any]] = [
        {"loc": ["body", "responses", issue.row, issue.field], "row": issue.row, "field": issue.field,
         "msg": issue.message, "type": "import_error"}
        for issue in issues
    ]
    if total > len(issues):
        detail.append({"loc": ["body"], "msg": f"{total - len(issues)} more issues not shown",
                       "type": "import_error"})
    return detail


def import_error(exc: ImportValidationError) -> HTTPException:
    """The 422 for a rejected import (see `import_issue_detail`)."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, import_issue_detail(exc.issues, exc.total))


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached (down, restarting, pool exhausted), not a bad query."""
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.OperationalError | sa_exc.InterfaceError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency, but SQLite-only installs may drop it
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def database_message(exc: BaseException) -> str:
    """A one-line reason for a 503: the driver's first line, without the SQL statement SQLAlchemy appends."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        reason = str(exc.orig)
    elif isinstance(exc, sa_exc.TimeoutError):
        reason = "no connection free in the pool (timed out waiting)"
    else:
        reason = str(exc)
    reason = (reason.strip().splitlines() or [type(exc).__name__])[0].strip()
    return f"the database is unavailable: {reason[:300]}"


MAX_ECHOED_CHARS = 200  # of a string the client sent, quoted back in an error
MAX_ECHOED_ITEMS = 20  # of a list or object the client sent
MAX_ERRORS = 50  # listed in one 422; the rest are counted


def _echo(value: Any) -> Any:
    """What of a client's value a 422 quotes back: short, and encodable whatever it was.

    Non-finite floats become their names (strict JSON cannot carry them), lone surrogates become U+FFFD (UTF-8
    cannot), and long strings, lists and objects are cut, so an error never outgrows the request that caused it.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value[:MAX_ECHOED_CHARS + 1])
        return text[:MAX_ECHOED_CHARS] + "…" if len(value) > MAX_ECHOED_CHARS else text
    if isinstance(value, dict):
        items = list(value.items())
        shown = {_echo(str(k)): _echo(v) for k, v in items[:MAX_ECHOED_ITEMS]}
        if len(items) > MAX_ECHOED_ITEMS:
            shown["…"] = f"{len(items) - MAX_ECHOED_ITEMS} more"
        return shown
    if isinstance(value, list | tuple):
        shown_list = [_echo(v) for v in value[:MAX_ECHOED_ITEMS]]
        if len(value) > MAX_ECHOED_ITEMS:
            shown_list.append(f"… {len(value) - MAX_ECHOED_ITEMS} more")
        return shown_list
    return value


def _echo_client_values(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error with the client's value (`input`, and `ctx` which may quote it) made safe to echo."""
    return {k: _echo(v) if k in ("input", "ctx") else v for k, v in error.items()}


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers for validation errors and a lost database on `app`."""

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        # An id that is not even a UUID names nothing, exactly like an unknown one: 404, not 422.
        if errors and all(e["loc"][:1] == ("path",) and e["type"].startswith("uuid") for e in errors):
            return JSONResponse({"detail": f"{errors[0]['loc'][-1]} {errors[0].get('input')!r} not found"},
                                status_code=status.HTTP_404_NOT_FOUND)
        # FastAPI's own handler echoes each `input` whole: a NaN or a lone surrogate would make the response
        # unserialisable, and a huge value would make it as large as the request.
        detail = [_echo_client_values(jsonable_encoder(e)) for e in errors[:MAX_ERRORS]]
        if len(errors) > MAX_ERRORS:
            detail.append({"loc": ["body"], "msg": f"{len(errors) - MAX_ERRORS} more errors not shown",
                           "type": "too_many_errors"})
        return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(StarletteHTTPException)
    async def unparsable_body(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers a JSON body Python's parser refuses for a reason other than syntax (an integer of more
        # than 4300 digits) with a bare 400; it is a malformed body like any other: 422, in the declared shape.
        if exc.status_code == status.HTTP_400_BAD_REQUEST and isinstance(exc.__cause__, ValueError):
            reason = (str(exc.__cause__).splitlines() or ["unreadable"])[0][:200]
            return JSONResponse({"detail": [{"loc": ["body"], "msg": f"the body is not valid JSON: {reason}",
                                             "type": "json_invalid"}]},
                                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
        return await http_exception_handler(request, exc)

    async def database_error(request: Request, exc: Exception) -> Response:
        if not database_unavailable(exc):
            raise exc  # a bad query is a bug: the server error middleware answers 500 and logs it
        log.warning("%s %s: %s", request.method, request.url.path, database_message(exc))
        return JSONResponse({"detail": database_message(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})

    app.add_exception_handler(sa_exc.DBAPIError, database_error)
    app.add_exception_handler(sa_exc.TimeoutError, database_error)
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return
    # Normally wrapped by SQLAlchemy; raw ones can surface from a driver-level call.
    app.add_exception_handler(psycopg.OperationalError, database_error)
    app.add_exception_handler(psycopg.InterfaceError, database_error)
