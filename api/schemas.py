"""Request and response models (XCreate / XPublic naming)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

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
        None, description="Subset of components to run (default: all); basic_stats always runs first"
    )


class ReportLinks(BaseModel):
    status: str
    report: str
    page: str
    pdf: str


class ReportAccepted(BaseModel):
    report_id: uuid.UUID
    status: str
    status_url: str
    links: ReportLinks


class ComponentStatusPublic(BaseModel):
    name: str
    status: str
    cells_done: int
    cells_total: int
    attempts: int
    error: dict[str, Any] | None
    started_at: datetime | None
    completed_at: datetime | None


class ReportStatusPublic(BaseModel):
    report_id: uuid.UUID
    survey_id: uuid.UUID
    status: str
    progress: float = Field(description="Mean over components of the share of cells executed, 0..1")
    error: str | None
    failed_components: list[str]
    components: list[ComponentStatusPublic]
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    links: ReportLinks


class ComponentPublic(ComponentStatusPublic):
    result: dict[str, Any] | None


class ReportPublic(ReportStatusPublic):
    survey_title: str
    response_count: int | None
    components: list[ComponentPublic]  # type: ignore[assignment]


class ReportSummary(BaseModel):
    report_id: uuid.UUID
    survey_id: uuid.UUID
    status: str
    created_at: datetime
    completed_at: datetime | None
    links: ReportLinks


class ReportsPublic(BaseModel):
    data: list[ReportSummary]
    count: int


class HealthPublic(BaseModel):
    status: str
    database: bool
    temporal: bool
    chromium: bool
