"""Request and response models (XCreate / XPublic naming)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workbench.statuses import ComponentStatus, ReportStatus
from workbench.storage.imports import ImportStatus
from workbench.surveys.schema import Question, ResponseRecord, SurveyDefinition


def finite_parameters(parameters: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Component parameters, checked finite: JSON allows no NaN or Infinity; Python's parser does, and PostgreSQL
    would refuse to store them (the validator of every request that carries parameters)."""
    def check(value: Any) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
        for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
            check(item)

    check(parameters)
    return parameters


class SurveyCreate(SurveyDefinition):
    """A survey definition: title, description and typed questions; optionally its first responses.

    With `responses`, the survey and its responses are stored in one transaction: when a response is rejected
    (422 naming row and field, as an import would), nothing is stored, not even the survey.
    """

    responses: list[ResponseRecord] | None = Field(None, description=(
        "Responses to store with the survey, as in a JSON import; rows in errors are indexes in this list"))
    on_duplicate: Literal["reject", "keep-last"] = Field("reject", description=(
        "A respondent id twice in `responses`: reject the request, or keep the last occurrence"))


class SurveyPublic(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    title: str
    description: str
    questions: list[Question]
    segments: list[str] = Field(description="Keys of the declared segment questions (segments' default)")
    response_count: int
    completed_count: int
    created_at: datetime


class SurveysPublic(BaseModel):
    data: list[SurveyPublic]
    count: int


class Message(BaseModel):
    """An error explained in one sentence."""

    detail: str


class ResponsesImport(BaseModel):
    """JSON import body; CSV bodies are described in docs/api.md."""

    responses: list[ResponseRecord] = Field(min_length=1)


class ImportResult(BaseModel):
    survey_id: uuid.UUID
    imported: int
    response_count: int


class ImportIssuePublic(BaseModel):
    """One reason an import was rejected, shaped like FastAPI's validation errors plus `row` and `field`."""

    loc: list[int | str]
    row: int | str | None = Field(None, description="JSON: index in the list; CSV: spreadsheet row; '-': the whole")
    field: str | None = None
    msg: str
    type: str


class ImportRejected(BaseModel):
    """A rejected import: nothing was written."""

    detail: list[ImportIssuePublic]


class ImportAccepted(BaseModel):
    """A large upload accepted as a background job; poll `status_url`."""

    job_id: uuid.UUID
    survey_id: uuid.UUID
    status: ImportStatus
    status_url: str


class ImportJobPublic(BaseModel):
    job_id: uuid.UUID
    survey_id: uuid.UUID
    status: ImportStatus
    format: str
    size_bytes: int
    imported: int | None = Field(description="Responses stored by the job (0 when it failed; null until it ends)")
    response_count: int | None = Field(description="The survey's responses once the job completed")
    issues: list[ImportIssuePublic] = Field(
        description="Why a failed import was rejected: the `detail` a synchronous import would answer with 422")
    error: str | None = Field(description="Why a failed job could not import, when not the upload's fault")
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    status_url: str


class ReportCreate(BaseModel):
    survey_id: uuid.UUID
    components: list[str] | None = Field(
        None, description="Components to run (default: all); the components they need are added. "
                          "GET /api/v1/components lists them."
    )
    parameters: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Parameters per component, e.g. {\"themes\": {\"n_themes\": 8}}; each component's "
                    "parameter schema is in GET /api/v1/components. Unset ones take the notebook's default.",
        examples=[{"themes": {"n_themes": 8}}],
    )
    required_roles: list[Literal["viewer", "analyst", "admin"]] | None = Field(
        None, description="Roles that may read the report (admins always may); unset: everyone of the "
                          "organization. Others get 404, as for a missing report", max_length=3)

    @field_validator("parameters")
    @classmethod
    def _finite_numbers(cls, parameters: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return finite_parameters(parameters)


class _FromView(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ReportLinks(_FromView):
    status: str
    report: str
    page: str
    pdf: str
    notebooks: str = Field(description="Append /<component>.ipynb for a component's executed notebook")


class ReportAccepted(BaseModel):
    report_id: uuid.UUID
    status: ReportStatus
    status_url: str
    components: list[str] = Field(description="What will run: the requested components and what they need")
    links: ReportLinks


class ComponentStatusPublic(_FromView):
    name: str
    title: str
    status: ComponentStatus
    progress: float = Field(description="Share of cells executed, 0..1 (1 once finished)")
    cells_done: int
    cells_total: int
    attempts: int
    error: dict[str, Any] | None
    started_at: datetime | None
    completed_at: datetime | None


class ReportStatusPublic(_FromView):
    report_id: uuid.UUID
    survey_id: uuid.UUID
    status: ReportStatus
    progress: float = Field(description="Mean over components of the share of cells executed, 0..1")
    error: str | None
    failed_components: list[str] = Field(description="Components without a result: failed or skipped")
    components: list[ComponentStatusPublic]
    parameters: dict[str, Any] = Field(description="The parameters the request set, per component")
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    links: ReportLinks
    schedule_id: uuid.UUID | None = Field(None, description="The schedule whose run made the report (null: none)")
    batch_id: uuid.UUID | None = Field(None, description="The batch the report belongs to (null: none)")


class ComponentPublic(ComponentStatusPublic):
    result: dict[str, Any] | None
    provenance: dict[str, Any] | None = Field(
        None, description="Notebook hash and git commit, parameters used, kernel and package versions, input hashes"
    )


class ReportPublic(ReportStatusPublic):
    survey_title: str
    response_count: int | None
    components: list[ComponentPublic]  # type: ignore[assignment]


class ReportSummary(BaseModel):
    report_id: uuid.UUID
    survey_id: uuid.UUID
    status: ReportStatus
    created_at: datetime
    completed_at: datetime | None
    links: ReportLinks
    schedule_id: uuid.UUID | None = Field(None, description="The schedule whose run made the report (null: none)")
    batch_id: uuid.UUID | None = Field(None, description="The batch the report belongs to (null: none)")


class ReportsPublic(BaseModel):
    data: list[ReportSummary]
    count: int


class ParameterPublic(BaseModel):
    name: str
    type: str = Field(description="As annotated in the notebook's parameters cell")
    default: Any
    description: str


class ComponentSpecPublic(BaseModel):
    name: str
    title: str
    notebook: str
    needs: list[str]
    parameters: list[ParameterPublic]
    parameters_schema: dict[str, Any] = Field(description="JSON Schema of the parameters a report may set")
    result_schema: dict[str, Any] = Field(description="JSON Schema the component's result must satisfy")


class ComponentsPublic(BaseModel):
    data: list[ComponentSpecPublic]
    stages: list[list[str]] = Field(description="Components grouped by depth of their needs, for all components")


class LivePublic(BaseModel):
    status: str


class HealthPublic(BaseModel):
    status: str
    database: bool
    temporal: bool
    chromium: bool


_ERRORS: dict[int, dict[str, Any]] = {
    400: {"model": Message, "description": "Malformed request body (a multipart body without its boundary)"},
    401: {"model": Message, "description": "Not authenticated: no API key, or an unknown or revoked one"},
    403: {"model": Message, "description": "The caller's role does not allow this (or a stale CSRF token)"},
    404: {"model": Message, "description": "Not found (a malformed id names nothing either)"},
    409: {"model": Message, "description": "Conflicts with the resource's state"},
    413: {"model": Message, "description": "The upload exceeds the configured maximum"},
    415: {"model": Message, "description": "The upload is not an importable format"},
    429: {"model": Message, "description": "Too many requests; retry after `Retry-After` seconds",
          "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}},
    503: {"model": Message, "description": "The database is unavailable; retry after `Retry-After` seconds",
          "headers": {"Retry-After": {"description": "Seconds to wait before retrying",
                                      "schema": {"type": "integer"}}}},
}


def error_responses(*codes: int, json_only: bool = False, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route answers with (`{"detail": "..."}` bodies).

    Args:
        codes: HTTP statuses from the common set (400, 404, 409, 413, 415, 503).
        json_only: Declare the errors as JSON explicitly, for a route whose own answers are not JSON (FastAPI
            would list an error model under the route's media type, e.g. text/html).
        descriptions: Route-specific descriptions, keyed `e404=...`, replacing the common one.
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        response = {**_ERRORS[code]}
        if f"e{code}" in descriptions:
            response["description"] = descriptions[f"e{code}"]
        if json_only:
            model = response.pop("model")
            response["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
        responses[code] = response
    return responses
