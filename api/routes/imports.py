"""Background import jobs: the status of a large upload imported after its 202."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, status

from api.deps import OrganizationDep, SessionDep
from api.errors import import_issue_detail
from api.schemas import ImportIssuePublic, ImportJobPublic, error_responses
from workbench.storage import imports as store
from workbench.storage.imports import ImportStatus

router = APIRouter(prefix="/api/v1/imports", tags=["imports"], responses=error_responses(503))


def job_status_url(job_id: uuid.UUID) -> str:
    return f"{router.prefix}/{job_id}"


@router.get("/{job_id}", responses=error_responses(404))
def get_import(job_id: uuid.UUID, session: SessionDep, org: OrganizationDep) -> ImportJobPublic:
    """A background import: `queued`, `running`, `completed` (with counts) or `failed` (with its issues)."""
    job = store.get_job(session, job_id=job_id, organization_id=org)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"import job {job_id} not found")
    issues, total = store.job_issues(job)
    return ImportJobPublic(
        job_id=job.id, survey_id=job.survey_id, status=ImportStatus(job.status), format=job.format,
        size_bytes=job.size_bytes, imported=job.imported, response_count=job.response_count,
        issues=[ImportIssuePublic.model_validate(d) for d in import_issue_detail(issues, total)], error=job.error,
        created_at=job.created_at, started_at=job.started_at, completed_at=job.completed_at,
        status_url=job_status_url(job.id),
    )
