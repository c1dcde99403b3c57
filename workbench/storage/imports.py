"""CRUD for background import jobs (keyword-only, session passed in, caller commits).

A job is created `queued` with its upload in a file (`upload_path`), becomes `running` when a worker thread takes
it and ends `completed` (its responses stored in the same transaction) or `failed` (nothing stored).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench.storage.models import ImportJob, utcnow
from workbench.surveys.validation import ImportIssue


class ImportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (ImportStatus.COMPLETED, ImportStatus.FAILED)


UNFINISHED = (ImportStatus.QUEUED.value, ImportStatus.RUNNING.value)


def uploads_dir(data_dir: Path) -> Path:
    """Where uploads wait for their job: `<data_dir>/imports`."""
    return data_dir / "imports"


def upload_path(data_dir: Path, job_id: uuid.UUID) -> Path:
    """The file holding a job's upload until the job ends."""
    return uploads_dir(data_dir) / f"{job_id}.upload"


def create_job(
    session: Session, *, job_id: uuid.UUID, organization_id: uuid.UUID, survey_id: uuid.UUID, fmt: str,
    size_bytes: int, options: dict[str, Any] | None = None,
) -> ImportJob:
    """Store a queued job for an upload already written to `upload_path`.

    Args:
        session: The session (the caller commits).
        job_id: The job's id (the upload file is named after it).
        organization_id: The organization owning the survey.
        survey_id: The survey the responses answer.
        fmt: The upload's import format.
        size_bytes: The upload's size.
        options: What the upload declared (`ImportMapping.options()`: columns, separator, ...); None: defaults.

    Returns:
        The queued job.
    """
    job = ImportJob(id=job_id, organization_id=organization_id, survey_id=survey_id, format=fmt,
                    size_bytes=size_bytes, status=ImportStatus.QUEUED.value, issue_total=0, options=options or None)
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, job_id: uuid.UUID, organization_id: uuid.UUID) -> ImportJob | None:
    job = session.get(ImportJob, job_id)
    return job if job is not None and job.organization_id == organization_id else None


def unfinished_jobs(session: Session) -> list[ImportJob]:
    """Jobs still `queued` or `running`, oldest first (after a restart: the ones to resume)."""
    stmt = select(ImportJob).where(ImportJob.status.in_(UNFINISHED)).order_by(ImportJob.created_at)
    return list(session.scalars(stmt))


def start_job(session: Session, *, job_id: uuid.UUID) -> ImportJob | None:
    """Mark the job running; None when it is unknown or already finished (nothing left to do)."""
    job = session.get(ImportJob, job_id, with_for_update=True)
    if job is None or job.status not in UNFINISHED:
        return None
    job.status = ImportStatus.RUNNING.value
    job.started_at = utcnow()
    session.flush()
    return job


def complete_job(session: Session, *, job_id: uuid.UUID, imported: int, response_count: int) -> None:
    """Mark the job completed; call it in the transaction that stores its responses."""
    job = session.get(ImportJob, job_id)
    if job is None:
        raise LookupError(f"import job {job_id} not found")
    job.status = ImportStatus.COMPLETED.value
    job.imported, job.response_count = imported, response_count
    job.completed_at = utcnow()
    session.flush()


def fail_job(
    session: Session, *, job_id: uuid.UUID, issues: Sequence[ImportIssue] = (), total: int | None = None,
    error: str | None = None,
) -> None:
    """Mark the job failed with the import's issues (a rejected upload) or an error message (anything else)."""
    job = session.get(ImportJob, job_id)
    if job is None:
        raise LookupError(f"import job {job_id} not found")
    job.status = ImportStatus.FAILED.value
    job.issues = [{"row": i.row, "field": i.field, "message": i.message} for i in issues]
    job.issue_total = total if total is not None else len(issues)
    job.error = error
    job.imported = 0
    job.completed_at = utcnow()
    session.flush()


def job_issues(job: ImportJob) -> tuple[list[ImportIssue], int]:
    """The stored issues of a failed job, and how many there were in all."""
    issues = [ImportIssue(i["row"], i["field"], i["message"]) for i in job.issues or []]
    return issues, max(job.issue_total, len(issues))
