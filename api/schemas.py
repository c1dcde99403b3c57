"""Request and response models (XCreate / XPublic naming)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workbench.statuses import ComponentStatus, ReportStatus
from workbench.surveys.schema import Question, ResponseRecord, SurveyDefinition


class SurveyCreate(SurveyDefinition):
    """A survey definition: title, description and typed questions."""


class SurveyPublic(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    title: str
    description: str
    questions: list[Question]
    response_count: int
    completed_count: int
    created_at: datetime


class SurveysPublic(BaseModel):
    data: list[SurveyPublic]
    count: int


class ResponsesImport(BaseModel):
    """JSON import body; CSV bodies are described in docs/api.md."""

    responses: list[ResponseRecord] = Field(min_length=1)


class ImportResult(BaseModel):
    survey_id: uuid.UUID
    imported: int
    response_count: int


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


class HealthPublic(BaseModel):
    status: str
    database: bool
    temporal: bool
    chromium: bool
