"""Surveys and response imports."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import UploadFile

from api.deps import ImportRunnerDep, OrganizationDep, SessionDep, SessionsDep, SettingsDep, SurveyDep
from api.errors import import_error
from api.import_jobs import store_import
from api.routes.imports import job_status_url
from api.schemas import (
    ImportAccepted,
    ImportRejected,
    ImportResult,
    SurveyCreate,
    SurveyPublic,
    SurveysPublic,
    error_responses,
)
from workbench.storage import surveys as store
from workbench.storage.models import Survey
from workbench.surveys.imports import UnsupportedFormatError, resolve_format
from workbench.surveys.validation import ImportValidationError

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"], responses=error_responses(503))

MAX_PAGE = 500
MAX_OFFSET = 2**31 - 1  # every backend's integer holds it; more would overflow PostgreSQL's bigint binding


def _public(session: Session, survey: Survey) -> SurveyPublic:
    total, completed = store.count_responses(session, survey_id=survey.id)
    definition = store.survey_definition(survey)
    return SurveyPublic(
        id=survey.id, organization_id=survey.organization_id, title=survey.title, description=survey.description,
        questions=definition.questions, response_count=total, completed_count=completed, created_at=survey.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_survey(body: SurveyCreate, session: SessionDep, org: OrganizationDep) -> SurveyPublic:
    with session.begin():
        survey = store.create_survey(session, organization_id=org, definition=body)
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


def _too_large(limit: int) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the upload exceeds {limit} bytes")


async def _read_body(request: Request, limit: int) -> tuple[bytes, str]:
    """The upload's bytes and its format (a multipart upload's `file` part, or the raw body).

    Raises:
        HTTPException: 413 when too large, 415 when the format is not importable, 422 for a multipart body
            without a `file` part, 400 for a malformed multipart body.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)  # refuse before reading a byte
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    filename = None
    if content_type == "multipart/form-data":
        async with request.form() as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
                    "loc": ["body", "file"], "row": "-", "field": "file",
                    "msg": "a multipart upload needs a 'file' field", "type": "missing"}])
            data, media, filename = await upload.read(limit + 1), upload.content_type or "", upload.filename
    else:
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
        return data, resolve_format(media_type=media, filename=filename)
    except UnsupportedFormatError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from None


def _find_survey(sessions: sessionmaker[Session], org: uuid.UUID, survey_id: uuid.UUID) -> None:
    with sessions() as session:
        if store.get_survey(session, organization_id=org, survey_id=survey_id) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"survey {survey_id} not found")


def _import_now(sessions: sessionmaker[Session], org: uuid.UUID, survey_id: uuid.UUID, data: bytes,
                fmt: str) -> ImportResult:
    with sessions() as session:
        survey = store.get_survey(session, organization_id=org, survey_id=survey_id)
        if survey is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"survey {survey_id} not found")
        try:
            imported, total = store_import(session, survey=survey, data=data, fmt=fmt)
        except ImportValidationError as exc:
            raise import_error(exc) from None
    return ImportResult(survey_id=survey_id, imported=imported, response_count=total)


_IMPORT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    # The schemas live in components (api.openapi); a `$defs` reference here would not resolve.
    "application/json": {"schema": {"anyOf": [
        {"$ref": "#/components/schemas/ResponsesImport"},
        {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ResponseRecord"}},
    ]}},
    "text/csv": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}}}},
}}}


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
) -> ImportResult:
    """Import responses as JSON (`{"responses": [...]}`) or CSV; all or nothing, errors name row and field.

    The format comes from the uploaded file's suffix or the content type (`workbench.surveys.imports`). An upload
    larger than `background_import_bytes` is imported in the background: 202 with the job's status URL.
    """
    # Blocking work (database, parsing) runs in threads: the event loop keeps serving other requests.
    await run_in_threadpool(_find_survey, sessions, org, survey_id)  # 404 before reading the upload
    data, fmt = await _read_body(request, settings.max_upload_bytes)
    if len(data) > settings.background_import_bytes:
        job = await run_in_threadpool(
            lambda: runner.enqueue(organization_id=org, survey_id=survey_id, data=data, fmt=fmt))
        accepted = ImportAccepted(job_id=job.id, survey_id=survey_id, status=job.status,  # type: ignore[arg-type]
                                  status_url=job_status_url(job.id))
        return JSONResponse(accepted.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED,  # type: ignore[return-value]
                            headers={"Location": accepted.status_url})
    return await run_in_threadpool(_import_now, sessions, org, survey_id, data, fmt)
