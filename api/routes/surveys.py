"""Surveys and response imports."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import anyio.from_thread
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import UploadFile

from api.deps import ImportRunnerDep, OrganizationDep, SessionDep, SessionsDep, SettingsDep, SurveyDep, TemporalDep
from api.errors import import_error
from api.import_jobs import store_import, store_survey_import
from api.routes.imports import job_status_url
from api.routes.schedules import stop_schedules
from api.schemas import (
    ImportAccepted,
    ImportRejected,
    ImportResult,
    SurveyCreate,
    SurveyPublic,
    SurveysPublic,
    error_responses,
)
from workbench.storage import deletion
from workbench.storage import surveys as store
from workbench.storage.models import Survey
from workbench.surveys.imports import UnsupportedFormatError, check_records, resolve_format
from workbench.surveys.mapping import ImportMapping, parse_mapping
from workbench.surveys.validation import ImportIssue, ImportValidationError

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"], responses=error_responses(503))
log = logging.getLogger(__name__)

MAX_PAGE = 500
MAX_OFFSET = 2**31 - 1  # every backend's integer holds it; more would overflow PostgreSQL's bigint binding


def _public(session: Session, survey: Survey) -> SurveyPublic:
    total, completed = store.count_responses(session, survey_id=survey.id)
    definition = store.survey_definition(survey)
    return SurveyPublic(
        id=survey.id, organization_id=survey.organization_id, title=survey.title, description=survey.description,
        questions=definition.questions, segments=list(definition.segments), response_count=total,
        completed_count=completed, created_at=survey.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED,
             responses={422: {"description": "The survey or its responses were rejected (nothing written)"}})
def create_survey(body: SurveyCreate, session: SessionDep, org: OrganizationDep) -> SurveyPublic:
    """Create a survey; with `responses`, store them in the same transaction (a rejection leaves nothing)."""
    records = body.responses or []
    if records:
        try:
            records = check_records(body, records, on_duplicate=body.on_duplicate)
        except ImportValidationError as exc:
            raise import_error(exc) from None
    with session.begin():
        survey = store.create_survey_with_responses(session, organization_id=org, definition=body, records=records)
    return _public(session, survey)


@router.get("")
def list_surveys(
    session: SessionDep, org: OrganizationDep,
    limit: int = Query(100, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> SurveysPublic:
    """Surveys, newest first, with their response counts."""
    surveys = store.list_surveys(session, organization_id=org, limit=limit, offset=offset)
    return SurveysPublic(data=[_public(session, s) for s in surveys], count=len(surveys))


@router.get("/{survey_id}", responses=error_responses(404))
def get_survey(survey: SurveyDep, session: SessionDep) -> SurveyPublic:
    return _public(session, survey)


@router.delete("/{survey_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=error_responses(404, 409, e409="A report of the survey is queued or running, or an "
                                                       "import of it is running: nothing was deleted"))
def delete_survey(survey: SurveyDep, session: SessionDep, org: OrganizationDep, settings: SettingsDep,
                  temporal: TemporalDep) -> Response:
    """Delete the survey and everything derived from it, in one transaction: responses, import jobs, reports with
    their snapshots, components, PDFs, downloads, share links, webhook deliveries, token-ledger rows and cached
    model replies, report schedules; then their files (docs/data-retention.md) and the schedules' Temporal
    Schedules. Refused (409) while a report of it is queued or running: cancel it first."""
    try:
        summary = deletion.delete_survey(session, organization_id=org, survey_id=survey.id)
        session.commit()
    except deletion.SurveyNotFound as exc:  # deleted by another request meanwhile
        session.rollback()
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except deletion.SurveyBusy as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    deletion.remove_files(summary, settings.data_dir)
    if summary.schedule_ids:
        anyio.from_thread.run(stop_schedules, temporal, summary.schedule_ids)
    log.info("deleted survey %s: %s", summary.survey_id, summary.as_dict())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the upload exceeds {limit} bytes")


MAX_MAPPING_BYTES = 1024 * 1024
CROSS_SITE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded"})


@dataclass
class _Upload:
    data: bytes
    fmt: str
    mapping: bytes | str | None  # the `mapping` part of a multipart upload, as sent


async def _read_body(request: Request, limit: int) -> _Upload:
    """The upload's bytes and format (a multipart upload's `file` part, or the raw body), and its `mapping` part.

    Raises:
        HTTPException: 413 when too large, 415 when the format is not importable, 422 for a multipart body
            without a `file` part, 400 for a malformed multipart body.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MAX_MAPPING_BYTES:
        raise _too_large(limit)  # refuse before reading a byte
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    filename = None
    mapping: bytes | str | None = None
    if content_type == "multipart/form-data":
        async with request.form() as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
                    "loc": ["body", "file"], "row": "-", "field": "file",
                    "msg": "a multipart upload needs a 'file' field", "type": "missing"}])
            data, media, filename = await upload.read(limit + 1), upload.content_type or "", upload.filename
            part = form.get("mapping")
            mapping = await part.read(MAX_MAPPING_BYTES + 1) if isinstance(part, UploadFile) else part
            if mapping is not None and len(mapping) > MAX_MAPPING_BYTES:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                    f"the mapping exceeds {MAX_MAPPING_BYTES} bytes")
    else:
        if content_type in CROSS_SITE_TYPES:
            # What a form on another site can send without asking the browser first (no preflight): refused, so
            # a page a user opens cannot post an import blind. CSV comes as text/csv, JSON as application/json.
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, (
                f"a raw upload must be text/csv or application/json, not {content_type} (or send multipart "
                "form data with a 'file' field)"))
        # A body without a content type is taken as JSON, as FastAPI does for its own bodies.
        media = content_type or "application/json"
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > limit:
                raise _too_large(limit)
        data = bytes(chunks)
    if len(data) > limit:
        raise _too_large(limit)
    try:
        return _Upload(data, resolve_format(media_type=media, filename=filename), mapping)
    except UnsupportedFormatError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from None


def _import_mapping(
    raw: bytes | str | None, *, separator: str | None, on_duplicate: str | None, date_format: str | None,
    need_survey: bool,
) -> ImportMapping | None:
    """The import's mapping: the `mapping` part (or query parameter), with the query's options overriding it.

    Raises:
        HTTPException: 422 naming the field when the mapping is invalid (or lacks the survey it needs).
    """
    overrides = {k: v for k, v in (("separator", separator), ("on_duplicate", on_duplicate),
                                   ("date_format", date_format)) if v is not None}
    if raw is None and not overrides and not need_survey:
        return None
    try:
        data: Any = {}
        if raw is not None:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ImportValidationError([ImportIssue("-", "mapping", "a mapping is a JSON object")])
        mapping = parse_mapping({**data, **overrides})
    except json.JSONDecodeError as exc:
        raise import_error(ImportValidationError([ImportIssue("-", "mapping", f"not valid JSON: {exc}")])) from None
    except UnicodeDecodeError:
        raise import_error(ImportValidationError([ImportIssue("-", "mapping", "the mapping is not UTF-8")])) from None
    except ImportValidationError as exc:
        raise import_error(exc) from None
    if need_survey and mapping.survey is None:
        raise import_error(ImportValidationError([ImportIssue(
            "-", "mapping.survey", "the mapping needs the survey definition to create the survey from")]))
    return mapping


def _find_survey(sessions: sessionmaker[Session], org: uuid.UUID, survey_id: uuid.UUID) -> None:
    with sessions() as session:
        if store.get_survey(session, organization_id=org, survey_id=survey_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"survey {survey_id} not found")


def _import_now(sessions: sessionmaker[Session], org: uuid.UUID, survey_id: uuid.UUID, data: bytes,
                fmt: str, mapping: ImportMapping | None = None) -> ImportResult:
    with sessions() as session:
        survey = store.get_survey(session, organization_id=org, survey_id=survey_id)
        if survey is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"survey {survey_id} not found")
        try:
            imported, total = store_import(session, survey=survey, data=data, fmt=fmt, mapping=mapping)
        except ImportValidationError as exc:
            raise import_error(exc) from None
    return ImportResult(survey_id=survey_id, imported=imported, response_count=total)


def _create_now(sessions: sessionmaker[Session], org: uuid.UUID, upload: _Upload,
                mapping: ImportMapping) -> SurveyPublic:
    assert mapping.survey is not None
    with sessions() as session:
        try:
            survey_id, _ = store_survey_import(session, organization_id=org, definition=mapping.survey,
                                               data=upload.data, fmt=upload.fmt, mapping=mapping)
        except ImportValidationError as exc:
            raise import_error(exc) from None
        survey = store.get_survey(session, organization_id=org, survey_id=survey_id)
        assert survey is not None
        return _public(session, survey)


_IMPORT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    # The schemas live in components (api.openapi); a `$defs` reference here would not resolve.
    "application/json": {"schema": {"anyOf": [
        {"$ref": "#/components/schemas/ResponsesImport"},
        {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ResponseRecord"}},
    ]}},
    "text/csv": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"},
        "mapping": {"type": "string", "description": (
            "Optional JSON: the column mapping and import options (docs/api.md, 'Raw exports'); its `survey`, if "
            "any, is not used")}}}},
}}}
_CREATE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file", "mapping"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "The responses: a CSV (or JSON) file"},
        "mapping": {"type": "string", "description": (
            "JSON: `survey` (the definition to create), `columns` (raw header or `#position` -> question key, "
            "respondent_id, started_at, completed_at or null), `ignore_unmapped`, `separator`, `date_format`, "
            "`on_duplicate`, `encoding`")}}}},
}}}
_OPTION_QUERY: dict[str, Any] = {
    "separator": Query(None, max_length=5, description="What separates a multi-choice cell's options (default |)"),
    "on_duplicate": Query(None, description="A respondent id twice in the upload: reject (default) or keep-last"),
    "date_format": Query(None, max_length=50, description="strptime format of non-ISO started_at/completed_at"),
}


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    responses={
        422: {"model": ImportRejected, "description": "The survey or its responses were rejected (nothing written)"},
        **error_responses(400, 413, 415),
    },
    openapi_extra=_CREATE_BODY,
)
async def import_survey(
    request: Request, sessions: SessionsDep, org: OrganizationDep, settings: SettingsDep,
    separator: str | None = _OPTION_QUERY["separator"],
    on_duplicate: Literal["reject", "keep-last"] | None = _OPTION_QUERY["on_duplicate"],
    date_format: str | None = _OPTION_QUERY["date_format"],
) -> SurveyPublic:
    """Create a survey and import its responses from a raw export in one transaction; all or nothing.

    A multipart upload: `file` (the CSV) and `mapping` (JSON with the survey definition and the column mapping,
    as `workbench survey infer` writes it). Imported while the request waits, whatever its size.
    """
    upload = await _read_body(request, settings.max_upload_bytes)
    mapping = _import_mapping(upload.mapping, separator=separator, on_duplicate=on_duplicate,
                              date_format=date_format, need_survey=True)
    assert mapping is not None
    return await run_in_threadpool(_create_now, sessions, org, upload, mapping)


@router.post(
    "/{survey_id}/responses",
    status_code=status.HTTP_201_CREATED,
    responses={
        202: {"model": ImportAccepted, "description": "A large upload, imported as a background job"},
        422: {"model": ImportRejected, "description": "The upload was rejected (nothing written): row and field"},
        **error_responses(400, 404, 413, 415),
    },
    openapi_extra=_IMPORT_BODY,
)
async def import_responses(
    survey_id: uuid.UUID, request: Request, sessions: SessionsDep, org: OrganizationDep, settings: SettingsDep,
    runner: ImportRunnerDep,
    separator: str | None = _OPTION_QUERY["separator"],
    on_duplicate: Literal["reject", "keep-last"] | None = _OPTION_QUERY["on_duplicate"],
    date_format: str | None = _OPTION_QUERY["date_format"],
    mapping: str | None = Query(None, max_length=8_000, description=(
        "The column mapping as JSON, for a raw (non-multipart) body; a multipart upload sends it as a part")),
) -> ImportResult:
    """Import responses as JSON (`{"responses": [...]}`) or CSV; all or nothing, errors name row and field.

    The format comes from the uploaded file's suffix or the content type (`workbench.surveys.imports`). A raw
    export's columns are read through a mapping (a multipart `mapping` part, or the `mapping` query parameter);
    the query's `separator`, `on_duplicate` and `date_format` override the mapping's. An upload larger than
    `background_import_bytes` is imported in the background with the same options: 202 with the job's status URL.
    """
    # Blocking work (database, parsing) runs in threads: the event loop keeps serving other requests.
    await run_in_threadpool(_find_survey, sessions, org, survey_id)  # 404 before reading the upload
    upload = await _read_body(request, settings.max_upload_bytes)
    options = _import_mapping(upload.mapping if upload.mapping is not None else mapping, separator=separator,
                              on_duplicate=on_duplicate, date_format=date_format, need_survey=False)
    data, fmt = upload.data, upload.fmt
    if len(data) > settings.background_import_bytes:
        job = await run_in_threadpool(
            lambda: runner.enqueue(organization_id=org, survey_id=survey_id, data=data, fmt=fmt, mapping=options))
        accepted = ImportAccepted(job_id=job.id, survey_id=survey_id, status=job.status,  # type: ignore[arg-type]
                                  status_url=job_status_url(job.id))
        return JSONResponse(accepted.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED,  # type: ignore[return-value]
                            headers={"Location": accepted.status_url})
    return await run_in_threadpool(_import_now, sessions, org, survey_id, data, fmt, options)
