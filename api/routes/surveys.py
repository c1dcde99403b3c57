"""Surveys and response imports."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from starlette.datastructures import UploadFile

from api.deps import OrganizationDep, SessionDep, SettingsDep, SurveyDep
from api.errors import import_error
from api.schemas import ImportResult, ResponsesImport, SurveyCreate, SurveyPublic, SurveysPublic
from workbench.storage import surveys as store
from workbench.storage.models import Survey
from workbench.surveys.imports import UnsupportedFormatError, parse_responses, resolve_format
from workbench.surveys.validation import ImportValidationError

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])


def _public(session: SessionDep, survey: Survey) -> SurveyPublic:
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
def list_surveys(session: SessionDep, org: OrganizationDep, limit: int = 100, offset: int = 0) -> SurveysPublic:
    surveys = store.list_surveys(session, organization_id=org, limit=min(limit, 500), offset=offset)
    return SurveysPublic(data=[_public(session, s) for s in surveys], count=len(surveys))


@router.get("/{survey_id}")
def get_survey(survey: SurveyDep, session: SessionDep) -> SurveyPublic:
    return _public(session, survey)


async def _read_body(request: Request, limit: int) -> tuple[bytes, str]:
    """The upload's bytes and its format (a multipart upload's `file` part, or the raw body).

    Raises:
        HTTPException: 413 when too large, 415 when the format is not importable.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    filename = None
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "multipart upload needs a 'file' field")
        data, media, filename = await upload.read(limit + 1), upload.content_type or "", upload.filename
    else:
        # A body without a content type is taken as JSON, as FastAPI does for its own bodies.
        data, media = await request.body(), content_type or "application/json"
    if len(data) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the upload exceeds {limit} bytes")
    try:
        return data, resolve_format(media_type=media, filename=filename)
    except UnsupportedFormatError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from None


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
    survey: SurveyDep, request: Request, session: SessionDep, settings: SettingsDep
) -> ImportResult:
    """Import responses as JSON (`{"responses": [...]}`) or CSV; all or nothing, errors name row and field.

    The format comes from the uploaded file's suffix or the content type (`workbench.surveys.imports`).
    """
    data, fmt = await _read_body(request, settings.max_upload_bytes)
    definition = store.survey_definition(survey)
    existing = store.existing_respondents(session, survey_id=survey.id)
    try:
        records = parse_responses(definition, data, fmt=fmt, existing=existing)
    except ImportValidationError as exc:
        raise import_error(exc) from None
    session.rollback()  # close the read transaction; the import gets one of its own
    with session.begin():
        imported = store.add_responses(session, survey_id=survey.id, records=records)
    total, _ = store.count_responses(session, survey_id=survey.id)
    return ImportResult(survey_id=survey.id, imported=imported, response_count=total)
