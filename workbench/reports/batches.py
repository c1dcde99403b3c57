"""Batches of reports: check a batch request before anything is queued, and make each of its reports (through
`create_report_run`, as a report asked alone is made) when the batch's workflow gets to it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from workbench.reports.request import ReportRequestError, SurveyNotFound, create_report_run, resolve_request
from workbench.storage import batches as store
from workbench.storage import surveys as survey_store
from workbench.storage.db import transaction
from workbench.storage.models import ReportBatch, Response, Survey
from workbench.surveys.schema import SEGMENT_KINDS

DEFAULT_CONCURRENCY = 4  # reports of one batch running at once, unless the request says otherwise
MAX_CONCURRENCY = 64
MAX_REPORTS = 5000  # reports per batch


def segment_values(session: Session, survey: Survey, key: str) -> list[str]:
    """The answers given to the segment question `key`, in the question's option order (answers that are not
    options, should a stored one be, follow in sorted order)."""
    question = next(q for q in survey.questions if q.key == key)
    seen: set[str] = set()
    for answers in session.scalars(select(Response.answers).where(Response.survey_id == survey.id)):
        value = answers.get(key) if isinstance(answers, dict) else None
        if isinstance(value, str):
            seen.add(value)
    options = [o for o in question.options or [] if isinstance(o, str)]
    return [o for o in options if o in seen] + sorted(seen - set(options))


def _survey(session: Session, organization_id: uuid.UUID, survey_id: uuid.UUID, field: str) -> Survey:
    survey = survey_store.get_survey(session, organization_id=organization_id, survey_id=survey_id)
    if survey is None:
        raise SurveyNotFound(field, f"survey {survey_id} not found")
    total, _ = survey_store.count_responses(session, survey_id=survey.id)
    if total == 0:
        raise ReportRequestError(field, f"survey {survey_id} has no responses yet")
    return survey


def plan_items(
    session: Session, *, organization_id: uuid.UUID, survey_ids: list[uuid.UUID] | None,
    survey_id: uuid.UUID | None, split_by: str | None,
) -> list[dict[str, Any]]:
    """One item per report: each survey of `survey_ids`, or each segment of `survey_id` by `split_by`."""
    if survey_ids is not None and (survey_id is not None or split_by is not None):
        raise ReportRequestError("survey_ids", "give survey_ids, or survey_id with split_by; not both")
    if survey_ids is not None:
        if not survey_ids:
            raise ReportRequestError("survey_ids", "give at least one survey id")
        if len(survey_ids) > MAX_REPORTS:
            raise ReportRequestError("survey_ids", f"at most {MAX_REPORTS} surveys per batch")
        seen: dict[uuid.UUID, int] = {}
        for i, sid in enumerate(survey_ids):
            if sid in seen:
                raise ReportRequestError(f"survey_ids.{i}", f"survey {sid} is listed twice (at {seen[sid]} and {i})")
            seen[sid] = i
            _survey(session, organization_id, sid, f"survey_ids.{i}")
        return [{"survey_id": str(sid), "segment": None} for sid in survey_ids]
    if survey_id is None:
        raise ReportRequestError("survey_ids" if split_by is None else "survey_id",
                                 "give survey_ids, or survey_id with split_by" if split_by is None
                                 else "split_by needs the survey_id of the survey to split")
    if split_by is None:
        raise ReportRequestError("split_by", "give the key of the question to split the survey by (one report per "
                                             "answer), or survey_ids for one report per survey")
    survey = _survey(session, organization_id, survey_id, "survey_id")
    question = next((q for q in survey.questions if q.key == split_by), None)
    if question is None:
        raise ReportRequestError("split_by", f"the survey has no question '{split_by[:63]}'")
    if question.type not in SEGMENT_KINDS:
        raise ReportRequestError("split_by", f"'{split_by}' is a {question.type} question; a batch splits by a "
                                             f"{' or '.join(SEGMENT_KINDS)} question")
    values = segment_values(session, survey, split_by)
    if not values:
        raise ReportRequestError("split_by", f"no response answers '{split_by}'")
    return [{"survey_id": str(survey.id), "segment": {"question": split_by, "value": v}} for v in values]


def create_batch(
    session: Session, *, organization_id: uuid.UUID, survey_ids: list[uuid.UUID] | None = None,
    survey_id: uuid.UUID | None = None, split_by: str | None = None, component_names: list[str] | None = None,
    parameters: Mapping[str, Any] | None = None, concurrency: int | None = None, notebooks_dir: Path,
    remote_engines: bool = False,
) -> ReportBatch:
    """Check the request (components and parameters as for one report, then the surveys) and store the queued
    batch (the caller commits, then starts its workflow). Raises `ReportRequestError` naming the field, or
    `SurveyNotFound` (unknown survey, or another organization's)."""
    names, checked = resolve_request(component_names, parameters, notebooks_dir, remote_engines=remote_engines)
    chosen = DEFAULT_CONCURRENCY if concurrency is None else concurrency
    if not 1 <= chosen <= MAX_CONCURRENCY:
        raise ReportRequestError("concurrency", f"concurrency must be 1..{MAX_CONCURRENCY}")
    items = plan_items(session, organization_id=organization_id, survey_ids=survey_ids, survey_id=survey_id,
                       split_by=split_by)
    return store.create_batch(session, organization_id=organization_id, items=items, split_by=split_by,
                              component_names=names, parameters=checked, concurrency=chosen)


class BatchGone(LookupError):
    """The batch row no longer exists."""


def create_batch_report(
    session: Session, *, batch_id: uuid.UUID, index: int, notebooks_dir: Path, remote_engines: bool = False,
) -> uuid.UUID | None:
    """Store the queued report of item `index` of the batch, once (a repeat returns the one stored); None when the
    item cannot become a report (its survey was deleted or emptied since the request): the reason is recorded on
    the batch. Not bounded by `max_active_reports`: the batch bounds its own reports (`concurrency`)."""
    existing = store.batch_report(session, batch_id=batch_id, index=index)
    if existing is not None:
        return existing.id
    batch = store.load_batch(session, batch_id=batch_id)
    if batch is None:
        raise BatchGone(f"batch {batch_id} does not exist")
    if str(index) in (batch.item_errors or {}):
        return None
    item = batch.items[index]
    try:
        report = create_report_run(
            session, organization_id=batch.organization_id, survey_id=uuid.UUID(item["survey_id"]),
            component_names=list(batch.component_names), parameters=batch.parameters, notebooks_dir=notebooks_dir,
            remote_engines=remote_engines, max_active=None,
        )
    except ReportRequestError as exc:
        store.record_item_error(session, batch_id=batch_id, index=index, message=str(exc))
        return None
    report.batch_id, report.batch_index, report.segment_filter = batch.id, index, item.get("segment")
    session.flush()
    return report.id



CANCEL_REASON = "cancelled with its batch"


class BatchCancelRefused(ValueError):
    """The batch cannot be cancelled (`status`: 404 unknown or another organization's, 409 already finished)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_cancellable(batch: ReportBatch | None, batch_id: uuid.UUID) -> ReportBatch:
    """The batch, if it can be cancelled; raises `BatchCancelRefused`."""
    if batch is None:
        raise BatchCancelRefused(404, f"batch {batch_id} not found")
    if batch.status in store.FINISHED:
        raise BatchCancelRefused(409, f"batch {batch_id} has already finished ({batch.status}); nothing to cancel")
    return batch


def cancel_batch_rows(sessions: sessionmaker[Session], *, batch_id: uuid.UUID,
                      reason: str = CANCEL_REASON) -> list[uuid.UUID]:
    """Mark the batch cancelled (unless it has finished meanwhile), then its reports that have not finished:
    those whose workflow never started (a running report's own workflow settles it when cancelled; here it
    has ended or never began). Returns the reports cancelled here. Idempotent."""
    from workbench.reports import steps

    with transaction(sessions) as session:
        store.set_batch_status(session, batch_id=batch_id, status=store.BatchStatus.CANCELLED,
                               only_from=(store.BatchStatus.QUEUED, store.BatchStatus.RUNNING))
        leftover = store.unfinished_batch_reports(session, batch_id=batch_id)
    for report_id in leftover:
        steps.cancel_report(sessions, report_id, reason)  # nothing when it finished meanwhile
    return leftover
