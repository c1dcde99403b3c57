"""Report batches: the batch row, its reports and its progress counted from them (the API's source, so progress
reads without Temporal)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workbench.statuses import ReportStatus
from workbench.storage.models import Report, ReportBatch, utcnow


class BatchStatus:
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"  # every item ended (some reports may have failed: see the counts)
    FAILED = "failed"  # the batch itself could not run (its workflow could not be started)


# How a report's status counts in its batch's progress.
DONE = (ReportStatus.COMPLETED, ReportStatus.PARTIAL)
FAILED = (ReportStatus.FAILED, ReportStatus.CANCELLED)


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
    return list(session.scalars(select(Report).where(Report.batch_id == batch_id).order_by(Report.batch_index)))


def record_item_error(session: Session, *, batch_id: uuid.UUID, index: int, message: str) -> None:
    batch = session.get(ReportBatch, batch_id, with_for_update=True)
    if batch is not None:
        batch.item_errors = {**(batch.item_errors or {}), str(index): message}


def set_batch_status(session: Session, *, batch_id: uuid.UUID, status: str, error: str | None = None) -> None:
    values: dict[str, Any] = {"status": status, "error": error}
    if status == BatchStatus.RUNNING:
        values["started_at"] = utcnow()
    if status in (BatchStatus.COMPLETED, BatchStatus.FAILED):
        values["completed_at"] = utcnow()
    session.execute(update(ReportBatch).where(ReportBatch.id == batch_id).values(**values))


@dataclass(frozen=True)
class BatchCounts:
    total: int
    done: int  # reports completed or partial
    failed: int  # reports failed or cancelled, and items that could not become a report
    running: int  # reports queued or running
    waiting: int  # items whose report is not made yet

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "done": self.done, "failed": self.failed, "running": self.running,
                "waiting": self.waiting}


def batch_counts(session: Session, batch: ReportBatch) -> BatchCounts:
    by_status: dict[Any, int] = {status: n for status, n in session.execute(
        select(Report.status, func.count()).where(Report.batch_id == batch.id).group_by(Report.status))}
    done = sum(by_status.get(s, 0) for s in DONE)
    failed = sum(by_status.get(s, 0) for s in FAILED) + len(batch.item_errors or {})
    running = sum(by_status.get(s, 0) for s in (ReportStatus.QUEUED, ReportStatus.RUNNING))
    total = len(batch.items)
    return BatchCounts(total=total, done=done, failed=failed, running=running,
                       waiting=max(total - done - failed - running, 0))
