"""Report batches: the batch row, its reports and its progress counted from them (the API's source, so progress
reads without Temporal)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workbench.statuses import ReportStatus
from workbench.storage.models import Report, ReportBatch, utcnow
from workbench.storage.reports import WITHOUT_COMPONENTS


class BatchStatus:
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"  # every item ended (some reports may have failed: see the counts)
    FAILED = "failed"  # the batch itself could not run (its workflow could not be started)
    CANCELLED = "cancelled"  # cancelled by request: no further report starts, running ones were cancelled


FINISHED = (BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLED)


# How a report's status counts in its batch's progress.
DONE = (ReportStatus.COMPLETED, ReportStatus.PARTIAL)
FAILED = (ReportStatus.FAILED,)
CANCELLED = (ReportStatus.CANCELLED,)


def create_batch(
    session: Session, *, organization_id: uuid.UUID, items: list[dict[str, Any]], split_by: str | None,
    component_names: list[str], parameters: Mapping[str, Any], concurrency: int,
) -> ReportBatch:
    batch = ReportBatch(organization_id=organization_id, items=items, split_by=split_by,
                        component_names=list(component_names), parameters=dict(parameters), concurrency=concurrency,
                        status=BatchStatus.QUEUED)
    session.add(batch)
    session.flush()
    return batch


def get_batch(session: Session, *, organization_id: uuid.UUID, batch_id: uuid.UUID) -> ReportBatch | None:
    """The batch, if it belongs to `organization_id` (another organization's is not found)."""
    batch = session.get(ReportBatch, batch_id)
    return batch if batch is not None and batch.organization_id == organization_id else None


def load_batch(session: Session, *, batch_id: uuid.UUID) -> ReportBatch | None:
    """By id alone: for the workers, which act for no caller."""
    return session.get(ReportBatch, batch_id)


def batch_report(session: Session, *, batch_id: uuid.UUID, index: int) -> Report | None:
    return session.scalars(select(Report).where(Report.batch_id == batch_id, Report.batch_index == index)).first()


def batch_reports(session: Session, *, batch_id: uuid.UUID) -> list[Report]:
    return list(session.scalars(select(Report).options(WITHOUT_COMPONENTS).where(Report.batch_id == batch_id)
                                .order_by(Report.batch_index)))


def record_item_error(session: Session, *, batch_id: uuid.UUID, index: int, message: str) -> None:
    batch = session.get(ReportBatch, batch_id, with_for_update=True)
    if batch is not None:
        batch.item_errors = {**(batch.item_errors or {}), str(index): message}


def set_batch_status(session: Session, *, batch_id: uuid.UUID, status: str, error: str | None = None,
                     only_from: tuple[str, ...] | None = None) -> bool:
    """Set the batch's status (and when it started or ended); with `only_from`, only from one of those statuses
    (a cancelled batch is not made running or completed again). Whether the row changed."""
    values: dict[str, Any] = {"status": status, "error": error}
    if status == BatchStatus.RUNNING:
        values["started_at"] = utcnow()
    if status in FINISHED:
        values["completed_at"] = utcnow()
    stmt = update(ReportBatch).where(ReportBatch.id == batch_id)
    if only_from is not None:
        stmt = stmt.where(ReportBatch.status.in_(only_from))
    return bool(getattr(session.execute(stmt.values(**values)), "rowcount", 0))


def queued_batches(session: Session, *, older_than: timedelta) -> list[ReportBatch]:
    """Batches still `queued` after `older_than`: their workflow may never have been started (the API died
    between storing the batch and starting it). Those whose workflow runs but has not begun are listed too:
    starting them again is a no-op."""
    stmt = select(ReportBatch).where(ReportBatch.status == BatchStatus.QUEUED,
                                     ReportBatch.created_at < utcnow() - older_than)
    return list(session.scalars(stmt.order_by(ReportBatch.created_at)))


def unfinished_batch_reports(session: Session, *, batch_id: uuid.UUID) -> list[uuid.UUID]:
    """The batch's reports not finished yet (queued or running), by index."""
    return list(session.scalars(select(Report.id).where(
        Report.batch_id == batch_id, Report.status.in_((ReportStatus.QUEUED, ReportStatus.RUNNING)))
        .order_by(Report.batch_index)))


@dataclass(frozen=True)
class BatchCounts:
    total: int
    done: int  # reports completed or partial
    failed: int  # reports failed, and items that could not become a report
    running: int  # reports queued or running
    waiting: int  # items whose report is not made yet (0 once the batch was cancelled)
    cancelled: int = 0  # reports cancelled, and the items a cancelled batch never made a report of

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "done": self.done, "failed": self.failed, "running": self.running,
                "waiting": self.waiting, "cancelled": self.cancelled}


def batch_counts(session: Session, batch: ReportBatch) -> BatchCounts:
    by_status: dict[Any, int] = {status: n for status, n in session.execute(
        select(Report.status, func.count()).where(Report.batch_id == batch.id).group_by(Report.status))}
    done = sum(by_status.get(s, 0) for s in DONE)
    failed = sum(by_status.get(s, 0) for s in FAILED) + len(batch.item_errors or {})
    cancelled = sum(by_status.get(s, 0) for s in CANCELLED)
    running = sum(by_status.get(s, 0) for s in (ReportStatus.QUEUED, ReportStatus.RUNNING))
    total = len(batch.items)
    waiting = max(total - done - failed - cancelled - running, 0)
    if batch.status == BatchStatus.CANCELLED:  # what was not made yet never will be
        cancelled, waiting = cancelled + waiting, 0
    return BatchCounts(total=total, done=done, failed=failed, running=running, waiting=waiting,
                       cancelled=cancelled)
