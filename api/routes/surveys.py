"""Surveys and response imports."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.deps import OrganizationDep, SessionDep, SettingsDep
from api.errors import import_error, json_import_error
from api.schemas import ImportResult, ResponsesImport, SurveyCreate, SurveyPublic, SurveysPublic
from workbench.storage import surveys as store
from workbench.storage.models import Survey
from workbench.surveys.csv_import import parse_responses_csv
from workbench.surveys.validation import ImportIssue, ImportValidationError, validate_records

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])


def _public(session: SessionDep, survey: Survey) -> SurveyPublic:
    total, completed = store.count_responses(session, survey_id=survey.id)
    definition = store.survey_definition(survey)
    return SurveyPublic(
        id=survey.id, organization_id=survey.organization_id, title=survey.title, description=survey.description,
        questions=definition.questions, response_count=total, completed_count=completed, created_at=survey.created_at,
    )


def _survey_or_404(session: SessionDep, organization_id: uuid.UUID, survey_id: uuid.UUID) -> Survey:
    survey = store.get_survey(session, organization_id=organization_id, survey_id=survey_id)
    if survey is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"survey {survey_id} not found")
    return survey


@router.post("", status_code=status.HTTP_201_CREATED)
def create_survey(body: SurveyCreate, session: SessionDep, org: OrganizationDep) -> SurveyPublic:
    with session.begin():
        survey = store.create_survey(session, organization_id=org, definition=body)
    return _public(session, survey)


@router.get("")
def list_surveys(session: SessionDep, org: OrganizationDep, limit: int = 100, offset: int = 0) -> SurveysPublic:
    surveys = store.list_surveys(session, organization_id=org, limit=min(limit, 500), offset=offset)
    return SurveysPublic(data=[_public(session, s) for s in surveys], count=len(surveys))


@router.get("/{survey_id}")
def get_survey(survey_id: uuid.UUID, session: SessionDep, org: OrganizationDep) -> SurveyPublic:
    return _public(session, _survey_or_404(session, org, survey_id))


async def _read_body(request: Request, limit: int) -> tuple[bytes, str]:
    """The upload's bytes and its media type (a multipart upload's `file` part, or the raw body)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "multipart upload needs a 'file' field")
        data = await upload.read(limit + 1)
        name = (upload.filename or "").lower()
        media = "application/json" if name.endswith(".json") else "text/csv" if name.endswith(".csv") else (
            (upload.content_type or "").split(";")[0].lower())
    else:
        data, media = await request.body(), content_type
    if len(data) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the upload exceeds {limit} bytes")
    if not data.strip():
        raise import_error(ImportValidationError([ImportIssue("-", "body", "the body is empty")]))
    return data, media


@router.post(
    "/{survey_id}/responses",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={"requestBody": {"content": {
        "application/json": {"schema": ResponsesImport.model_json_schema()},
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string",
                                                                                    "format": "binary"}}}},
    }}},
)
async def import_responses(
    survey_id: uuid.UUID, request: Request, session: SessionDep, org: OrganizationDep, settings: SettingsDep
) -> ImportResult:
    """Import responses as JSON (`{"responses": [...]}`) or CSV; all or nothing, errors name row and field."""
    survey = _survey_or_404(session, org, survey_id)
    data, media = await _read_body(request, settings.max_upload_bytes)
    definition = store.survey_definition(survey)
    existing = store.existing_respondents(session, survey_id=survey.id)
    try:
        if media in ("application/json", ""):
            try:
                body = ResponsesImport.model_validate_json(data)
            except ValidationError as exc:
                raise json_import_error(exc) from None
            records = validate_records(definition, body.responses, None, existing)
        elif media in ("text/csv", "application/csv", "text/plain"):
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise import_error(ImportValidationError([ImportIssue("-", "body", "the CSV is not UTF-8")])) from None
            records = parse_responses_csv(definition, text, existing)
        else:
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"send application/json or text/csv, not '{media}'"
            )
    except ImportValidationError as exc:
        raise import_error(exc) from None
    session.rollback()  # close the read transaction; the import gets one of its own
    with session.begin():
        imported = store.add_responses(session, survey_id=survey.id, records=records)
    total, _ = store.count_responses(session, survey_id=survey.id)
    return ImportResult(survey_id=survey.id, imported=imported, response_count=total)
