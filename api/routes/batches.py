"""Report batches: many reports at once (several surveys, or one survey split by a segment question), and their
progress counted from the stored reports (so it reads while Temporal is slow or down)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from api.deps import OrganizationDep, SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.schemas import error_responses, finite_parameters
from workbench.reports.batches import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, MAX_REPORTS, BatchCancelRefused
from workbench.reports.links import API_PREFIX, ReportLinks
from workbench.reports.request import ReportRequestError, SurveyNotFound
from workbench.statuses import ReportStatus
from workbench.storage import batches as store
from workbench.storage.models import ReportBatch
from workers.starter import TemporalUnavailable, cancel_batch, queue_batch

router = APIRouter(prefix="/api/v1/report-batches", tags=["batches"], responses=error_responses(503))


def batch_url(batch_id: uuid.UUID | str) -> str:
    return f"{API_PREFIX}/report-batches/{batch_id}"


class BatchCreate(BaseModel):
    survey_ids: list[uuid.UUID] | None = Field(
        None, max_length=MAX_REPORTS, description="One report per survey (or give survey_id and split_by)")
    survey_id: uuid.UUID | None = Field(None, description="The survey to split (with split_by)")
    split_by: str | None = Field(
        None, max_length=63, description="Key of a single_choice or ordinal question of survey_id: one report per "
                                         "answer given to it, each on the responses with that answer only")
    components: list[str] | None = Field(None, description="As for POST /api/v1/reports (default: all)")
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                  description="As for POST /api/v1/reports, for every report")
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY,
                             description="Reports of the batch running at once")

    @field_validator("parameters")
    @classmethod
    def _finite_numbers(cls, parameters: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return finite_parameters(parameters)


class BatchAccepted(BaseModel):
    batch_id: uuid.UUID
    status: str
    status_url: str
    total: int = Field(description="Reports the batch makes")
    concurrency: int
    components: list[str]


class Segment(BaseModel):
    question: str
    value: Any


class BatchReport(BaseModel):
    index: int
    report_id: uuid.UUID
    survey_id: uuid.UUID
    segment: Segment | None
    status: ReportStatus
    status_url: str


class BatchItemFailure(BaseModel):
    index: int
    survey_id: uuid.UUID
    segment: Segment | None
    error: str


class BatchPublic(BaseModel):
    batch_id: uuid.UUID
    status: str = Field(description="queued, running, completed (every report ended: see failed), failed (the "
                                    "batch could not start: see error) or cancelled (by request)")
    total: int = Field(description="Items of the batch: done + failed + cancelled + running + waiting")
    done: int = Field(description="Reports completed or partial")
    failed: int = Field(description="Reports failed, and items that could not become a report")
    cancelled: int = Field(description="Reports cancelled (with the batch, or alone), and the items a cancelled "
                                       "batch never made a report of")
    running: int = Field(description="Reports queued or running")
    waiting: int = Field(description="Reports not made yet (0 once the batch is cancelled)")
    concurrency: int
    split_by: str | None
    components: list[str]
    parameters: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    status_url: str
    reports: list[BatchReport]
    failures: list[BatchItemFailure]


def _request_error(exc: ReportRequestError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
        "loc": ["body", *exc.field.split(".")], "msg": str(exc), "type": "value_error"}])


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=error_responses(
    404, 503, e404="Unknown survey (or another organization's)",
    e503="Temporal unreachable (the batch is marked failed), or the database is unavailable (with `Retry-After`)"))
async def create_batch(
    body: BatchCreate, org: OrganizationDep, settings: SettingsDep, temporal: TemporalDep, sessions: SessionsDep,
    response: Response,
) -> BatchAccepted:
    """Queue a batch: one report per survey of `survey_ids`, or per answer to `split_by` in `survey_id`. Checked
    now (422 naming the field, 404), run on the workers `concurrency` reports at a time; 202 with the status URL."""
    try:
        batch = await queue_batch(
            sessions=sessions, settings=settings, client=temporal.client, organization_id=org,
            survey_ids=body.survey_ids, survey_id=body.survey_id, split_by=body.split_by,
            components=body.components, parameters=body.parameters, concurrency=body.concurrency,
        )
    except SurveyNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ReportRequestError as exc:
        raise _request_error(exc) from exc
    except TemporalUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    url = batch_url(batch.id)
    response.headers["Location"] = url
    return BatchAccepted(batch_id=batch.id, status=batch.status, status_url=url, total=len(batch.items),
                         concurrency=batch.concurrency, components=list(batch.component_names))


def batch_public(session: Session, batch: ReportBatch) -> BatchPublic:
    counts = store.batch_counts(session, batch)
    reports = [BatchReport(index=r.batch_index or 0, report_id=r.id, survey_id=r.survey_id, segment=r.segment_filter,
                           status=r.status, status_url=ReportLinks.of(r.id).status)
               for r in store.batch_reports(session, batch_id=batch.id)]
    failures = [BatchItemFailure(index=int(i), survey_id=batch.items[int(i)]["survey_id"],
                                 segment=batch.items[int(i)].get("segment"), error=str(message))
                for i, message in sorted((batch.item_errors or {}).items(), key=lambda kv: int(kv[0]))]
    return BatchPublic(
        batch_id=batch.id, status=batch.status, **counts.as_dict(), concurrency=batch.concurrency,
        split_by=batch.split_by, components=list(batch.component_names), parameters=dict(batch.parameters or {}),
        error=batch.error, created_at=batch.created_at, started_at=batch.started_at,
        completed_at=batch.completed_at, status_url=batch_url(batch.id), reports=reports, failures=failures,
    )


@router.get("/{batch_id}", responses=error_responses(404, e404="Unknown batch (or another organization's)"))
def get_batch(batch_id: uuid.UUID, session: SessionDep, org: OrganizationDep) -> BatchPublic:
    """The batch's progress and its reports, from the database."""
    batch = store.get_batch(session, organization_id=org, batch_id=batch_id)
    if batch is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"batch {batch_id} not found")
    return batch_public(session, batch)


@router.post("/{batch_id}/cancel", status_code=status.HTTP_202_ACCEPTED, responses={
    200: {"model": BatchPublic, "description": "Cancelled at once (its workflow had not started): the batch"},
    **error_responses(404, 409, 503, e404="Unknown batch (or another organization's)",
                      e409="The batch has already finished (completed, failed or cancelled)",
                      e503="Temporal unreachable (nothing changed), or the database is unavailable")})
async def cancel_batch_route(
    batch_id: uuid.UUID, org: OrganizationDep, temporal: TemporalDep, sessions: SessionsDep, response: Response,
) -> BatchPublic:
    """Cancel a queued or running batch: no further report of it starts, its running reports are cancelled (as
    `POST /api/v1/reports/{id}/cancel` cancels one; completed ones keep their results), then the batch becomes
    `cancelled`. 202 with the batch while its workflow does that (poll `status_url`); 200 when it was settled at
    once."""
    try:
        _, settled = await cancel_batch(sessions=sessions, client=temporal.client, organization_id=org,
                                        batch_id=batch_id)
    except BatchCancelRefused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except TemporalUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc

    def read() -> BatchPublic:
        with sessions() as session:
            batch = store.get_batch(session, organization_id=org, batch_id=batch_id)
            if batch is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"batch {batch_id} not found")
            return batch_public(session, batch)

    body = await asyncio.to_thread(read)
    if settled:
        response.status_code = status.HTTP_200_OK
    return body
