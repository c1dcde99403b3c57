"""The pages' form posts and static files: each route calls what the JSON API calls, then redirects (303) to the
page that shows the outcome, or renders the form's page again with the errors, naming row and field.

- `POST /ui/surveys`: create a survey from a definition file (JSON) and, optionally, a responses file (CSV/JSON);
- `POST /ui/surveys/{id}/responses`: import responses into a survey (a large upload becomes a background job,
  shown on its page `/imports/{job_id}`);
- `POST /ui/surveys/{id}/reports`: generate a report (`workers.starter.queue_report`);
- `POST /ui/reports/{id}/cancel` and `POST /ui/reports/{id}/components/{name}/rerun`;
- `GET /static/{name}`: the pages' one script and one stylesheet.

Uploads are bounded by `max_upload_bytes` (413 before anything is parsed or stored); rejected input stores nothing.
Forms posted from another site are refused (403, `same_site_forms_only`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import UploadFile

from api.access import check_form_csrf
from api.deps import ImportRunnerDep, OrganizationDep, SessionsDep, SettingsDep, TemporalDep
from api.import_jobs import store_import, store_survey_import
from api.routes.pages import (
    STATIC_DIR,
    FormError,
    component_fields,
    error_page,
    find_report,
    find_survey,
    issue_rows,
    not_found,
    parse_id,
    report_request,
    survey_page,
    surveys_page,
)
from api.schemas import SurveyCreate
from workbench.reports.request import ReportRequestError, SurveyNotFound
from workbench.reports.rerun import RerunRefused
from workbench.storage import surveys as survey_store
from workbench.surveys.imports import UnsupportedFormatError, check_records, resolve_format
from workbench.surveys.schema import SurveyDefinition
from workbench.surveys.validation import ImportValidationError
from workers.starter import CancelRefused, TemporalUnavailable, cancel_report, queue_report, rerun_component


def same_site_forms_only(request: Request) -> None:
    """Refuse a form posted from another site (CSRF): a browser says where a post comes from in
    `Sec-Fetch-Site` and `Origin` (the pages' referrer policy, same-origin, lets it send the real origin). A client
    that sends neither (curl, scripts) is not a browser acting for someone without their knowing."""
    if request.method != "POST":
        return
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site in ("cross-site", "same-site") or (
            origin is not None and urlsplit(origin).netloc != request.headers.get("host", "")):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a form posted from another site is refused")


router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[Depends(same_site_forms_only)])

STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
MAX_DEFINITION_BYTES = 1024 * 1024
FORM_OVERHEAD_BYTES = 64 * 1024  # multipart boundaries and the small fields around the files
MAX_SHOWN_ISSUES = 50


@lru_cache(maxsize=8)
def _static_file(name: str) -> bytes | None:
    path = STATIC_DIR / name
    if path.suffix not in STATIC_TYPES or path.parent != STATIC_DIR or not path.is_file():
        return None
    return path.read_bytes()


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """The pages' script and stylesheet (the only files here; no directory listing, no other paths)."""
    data = _static_file(name) if "/" not in name and not name.startswith(".") else None
    if data is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(data, media_type=STATIC_TYPES[Path(name).suffix], headers={
        "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


class TooLarge(Exception):
    pass


@dataclass
class _File:
    data: bytes
    filename: str | None
    media: str


async def _read_form(request: Request, limit: int) -> tuple[dict[str, list[Any]], dict[str, _File]]:
    """The submitted form's fields (lists of values) and files (each at most `limit` bytes).

    Raises:
        TooLarge: The body or one file exceeds the limit (checked on the declared length first, before reading).
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MAX_DEFINITION_BYTES + FORM_OVERHEAD_BYTES:
        raise TooLarge
    fields: dict[str, list[Any]] = {}
    files: dict[str, _File] = {}
    async with request.form(max_files=4, max_fields=500) as form:
        for key in form.keys():
            values = form.getlist(key)
            uploads = [v for v in values if isinstance(v, UploadFile)]
            if uploads:
                upload = uploads[0]
                data = await upload.read(limit + 1)
                if len(data) > limit:
                    raise TooLarge
                if data or upload.filename:
                    files[key] = _File(data, upload.filename, upload.content_type or "")
            else:
                fields[key] = [str(v) for v in values]
    check_form_csrf(request, fields)
    return fields, files


async def _check_small_form(request: Request) -> None:
    """The CSRF field of a form that carries nothing else (Cancel, Rerun)."""
    async with request.form(max_files=0, max_fields=10) as submitted:
        check_form_csrf(request, {k: [str(v) for v in submitted.getlist(k)] for k in submitted.keys()})


def _issues(exc: ImportValidationError) -> list[dict[str, Any]]:
    return issue_rows(exc.issues, exc.total)


def _too_large(limit: int, back_url: str) -> HTMLResponse:
    return error_page(413, f"The upload exceeds {limit:,} bytes; nothing was stored.", back_url=back_url,
                      back_label="Back")


# --- surveys ------------------------------------------------------------------------------------------------------


class _Rejected(Exception):
    def __init__(self, issues: list[dict[str, Any]] | None = None, message: str | None = None,
                 status_code: int = 422) -> None:
        super().__init__(message or "rejected")
        self.issues = issues or []
        self.message = message
        self.status_code = status_code


def _definition(raw: bytes) -> SurveyCreate:
    """The survey definition file: the body of `POST /api/v1/surveys` (optionally wrapped as `{"survey": ...}`,
    as the sample survey files are; their `id` is not kept)."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Rejected([{"row": "-", "field": "definition", "msg": f"not valid JSON: {exc}"}]) from None
    if isinstance(data, dict) and isinstance(data.get("survey"), dict):
        responses = data.get("responses")
        data = {**data["survey"], **({"responses": responses} if responses is not None else {})}
    if isinstance(data, dict):
        data.pop("id", None)
    try:
        return SurveyCreate.model_validate(data)
    except ValidationError as exc:
        raise _Rejected([
            {"row": "-", "field": ".".join(["definition", *map(str, e["loc"])]), "msg": e["msg"]}
            for e in exc.errors()[:MAX_SHOWN_ISSUES]]) from None


def _create_survey(sessions: sessionmaker[Session], org: uuid.UUID, definition_file: _File,
                   responses_file: _File | None) -> tuple[uuid.UUID, int]:
    created = _definition(definition_file.data)
    definition = SurveyDefinition.model_validate(created.model_dump(include=set(SurveyDefinition.model_fields)))
    with sessions() as session:
        try:
            if responses_file is not None:
                try:
                    fmt = resolve_format(media_type=responses_file.media, filename=responses_file.filename)
                except UnsupportedFormatError as exc:
                    raise _Rejected(message=str(exc), status_code=415) from None
                return store_survey_import(session, organization_id=org, definition=definition,
                                           data=responses_file.data, fmt=fmt)
            records = created.responses or []
            if records:
                records = check_records(created, records, on_duplicate=created.on_duplicate)
            with session.begin():
                survey = survey_store.create_survey_with_responses(session, organization_id=org,
                                                                   definition=definition, records=records)
                return survey.id, len(records)
        except ImportValidationError as exc:
            raise _Rejected(_issues(exc)) from None


@router.post("/ui/surveys")
async def create_survey(request: Request, sessions: SessionsDep, org: OrganizationDep,
                        settings: SettingsDep) -> Response:
    """Create a survey from its definition file and, optionally, its responses; all or nothing."""
    limit = settings.max_upload_bytes
    try:
        _, files = await _read_form(request, limit)
    except TooLarge:
        return _too_large(limit, "/surveys")

    def rejected(exc: _Rejected) -> HTMLResponse:
        with sessions() as session:
            return surveys_page(session, org, status_code=exc.status_code, issues=exc.issues,
                                form_error=exc.message)

    definition = files.get("definition")
    if definition is None:
        return await run_in_threadpool(rejected, _Rejected(message="Choose the survey definition file (JSON)."))
    if len(definition.data) > MAX_DEFINITION_BYTES:
        return _too_large(MAX_DEFINITION_BYTES, "/surveys")
    try:
        survey_id, imported = await run_in_threadpool(_create_survey, sessions, org, definition,
                                                      files.get("responses"))
    except _Rejected as exc:
        return await run_in_threadpool(rejected, exc)
    return _see_other(f"/surveys/{survey_id}?created=true&imported={imported}")


@router.post("/ui/surveys/{survey_id}/responses")
async def import_responses(
    survey_id: str, request: Request, sessions: SessionsDep, org: OrganizationDep, settings: SettingsDep,
    runner: ImportRunnerDep,
) -> Response:
    """Import a responses file into the survey; a rejected one shows its issues by row and field. An upload larger
    than `background_import_bytes` is queued as a background job: 303 to the job's page."""
    def page(status_code: int = 200, **context: Any) -> HTMLResponse:
        with sessions() as session:
            survey = find_survey(session, org, survey_id)
            if survey is None:
                return error_page(404, f"survey {survey_id} not found")
            return survey_page(session, survey, settings, status_code=status_code, **context)

    def exists() -> bool:
        with sessions() as session:
            return find_survey(session, org, survey_id) is not None

    if not await run_in_threadpool(exists):
        return not_found(request, f"survey {survey_id} not found")  # before reading the upload
    limit = settings.max_upload_bytes
    try:
        _, files = await _read_form(request, limit)
    except TooLarge:
        return _too_large(limit, f"/surveys/{survey_id}")
    upload = files.get("file")
    if upload is None or not upload.data:
        return await run_in_threadpool(lambda: page(422, import_error="Choose a file with responses."))
    try:
        fmt = resolve_format(media_type=upload.media, filename=upload.filename)
    except UnsupportedFormatError as exc:
        message = str(exc)
        return await run_in_threadpool(lambda: page(415, import_error=message))
    target = uuid.UUID(survey_id)
    if len(upload.data) > settings.background_import_bytes:
        job = await run_in_threadpool(
            lambda: runner.enqueue(organization_id=org, survey_id=target, data=upload.data, fmt=fmt))
        return _see_other(f"/imports/{job.id}")  # its page follows it to the end

    def store() -> int:
        with sessions() as session:
            survey = find_survey(session, org, survey_id)
            assert survey is not None
            imported, _ = store_import(session, survey=survey, data=upload.data, fmt=fmt)
            return imported

    try:
        imported = await run_in_threadpool(store)
    except ImportValidationError as exc:
        issues = _issues(exc)
        return await run_in_threadpool(lambda: page(422, issues=issues))
    return _see_other(f"/surveys/{survey_id}?imported={imported}")


# --- reports ------------------------------------------------------------------------------------------------------


@router.post("/ui/surveys/{survey_id}/reports")
async def generate_report(
    survey_id: str, request: Request, sessions: SessionsDep, org: OrganizationDep, settings: SettingsDep,
    temporal: TemporalDep,
) -> Response:
    """Generate a report from the survey page's form: the chosen components, their parameters and the segment
    choice; errors show on the survey page, naming the field."""
    async with request.form(max_files=0, max_fields=500) as submitted:
        form: dict[str, list[Any]] = {k: [str(v) for v in submitted.getlist(k)] for k in submitted.keys()}
    check_form_csrf(request, form)

    def page(errors: list[dict[str, str]], status_code: int) -> HTMLResponse:
        with sessions() as session:
            survey = find_survey(session, org, survey_id)
            if survey is None:
                return error_page(404, f"survey {survey_id} not found")
            return survey_page(session, survey, settings, status_code=status_code, form=form,
                               report_errors=errors)

    target = parse_id(survey_id)
    if target is None:
        return not_found(request, f"survey {survey_id} not found")
    fields = await run_in_threadpool(component_fields, settings)
    try:
        chosen, parameters, _ = report_request(form, fields)
        report = await queue_report(sessions=sessions, settings=settings, client=temporal.client,
                                    organization_id=org, survey_id=target, components=chosen,
                                    parameters=parameters)
    except SurveyNotFound:
        return not_found(request, f"survey {survey_id} not found")
    except (FormError, ReportRequestError) as exc:
        errors = [{"field": exc.field, "msg": str(exc)}]
        return await run_in_threadpool(page, errors, 422)
    except TemporalUnavailable as exc:
        back = f"/reports/{exc.report_id}" if exc.report_id else f"/surveys/{survey_id}"
        return error_page(503, f"The report could not start: {exc}", back_url=back, back_label="Back")
    return _see_other(f"/reports/{report.id}")


def _report_exists(sessions: sessionmaker[Session], org: uuid.UUID, report_id: str) -> bool:
    with sessions() as session:
        return find_report(session, org, report_id) is not None


@router.post("/ui/reports/{report_id}/cancel")
async def cancel(
    report_id: str, request: Request, sessions: SessionsDep, org: OrganizationDep, temporal: TemporalDep,
) -> Response:
    """Cancel the running report, then show it."""
    await _check_small_form(request)
    back = f"/reports/{report_id}"
    if not await run_in_threadpool(_report_exists, sessions, org, report_id):
        return not_found(request, f"report {report_id} not found", back_url="/reports",
                         back_label="Back to reports")
    try:
        await cancel_report(sessions=sessions, client=temporal.client, organization_id=org,
                            report_id=uuid.UUID(report_id))
    except CancelRefused as exc:
        return error_page(exc.status, str(exc), back_url=back, back_label="Back to the report")
    except TemporalUnavailable as exc:
        return error_page(503, str(exc), back_url=back, back_label="Back to the report")
    return _see_other(back)


@router.post("/ui/reports/{report_id}/components/{component}/rerun")
async def rerun(
    report_id: str, component: str, request: Request, sessions: SessionsDep, org: OrganizationDep,
    settings: SettingsDep, temporal: TemporalDep,
) -> Response:
    """Rerun a component of a finished report (and what reads its result), then show the report."""
    await _check_small_form(request)
    back = f"/reports/{report_id}"
    if not await run_in_threadpool(_report_exists, sessions, org, report_id):
        return not_found(request, f"report {report_id} not found", back_url="/reports",
                         back_label="Back to reports")
    try:
        await rerun_component(sessions=sessions, settings=settings, client=temporal.client, organization_id=org,
                              report_id=uuid.UUID(report_id), component=component)
    except RerunRefused as exc:
        return error_page(exc.status, str(exc), back_url=back, back_label="Back to the report")
    except TemporalUnavailable as exc:
        return error_page(503, str(exc), back_url=back, back_label="Back to the report")
    return _see_other(back)

