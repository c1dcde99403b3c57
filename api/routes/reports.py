"""Report runs: start (202), status, results, notebooks and PDF."""

from __future__ import annotations

import logging
import uuid

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.deps import OrganizationDep, SessionDep, SettingsDep
from api.schemas import (
    ComponentPublic,
    ComponentStatusPublic,
    ReportAccepted,
    ReportCreate,
    ReportLinks,
    ReportPublic,
    ReportsPublic,
    ReportStatusPublic,
    ReportSummary,
)
from workbench.rendering.pdf import ChromiumUnavailable
from workbench.report_runs import ReportRequestError, SurveyNotFound, create_report_run
from workbench.report_views import report_pdf
from workbench.storage import reports as store
from workbench.storage import surveys as survey_store
from workbench.storage.models import ComponentStatus, Report, ReportComponent, ReportStatus
from workers.starter import start_report

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


def links(report_id: uuid.UUID) -> ReportLinks:
    return ReportLinks(
        status=f"/api/v1/reports/{report_id}/status", report=f"/api/v1/reports/{report_id}",
        page=f"/reports/{report_id}", pdf=f"/api/v1/reports/{report_id}/pdf",
    )


def _component_status(c: ReportComponent) -> dict:
    return {
        "name": c.component_type, "status": c.status, "cells_done": c.cells_done, "cells_total": c.cells_total,
        "attempts": c.attempts, "error": c.error, "started_at": c.started_at, "completed_at": c.completed_at,
    }


def component_progress(c: ReportComponent) -> float:
    if c.status in (ComponentStatus.COMPLETED, ComponentStatus.FAILED):
        return 1.0
    return c.cells_done / c.cells_total if c.cells_total else 0.0


def status_of(report: Report) -> ReportStatusPublic:
    # Each component weighs the same, so progress never goes back when a component learns its cell count.
    shares = [component_progress(c) for c in report.components]
    done = sum(shares) / len(shares) if shares else 0.0
    finished = ReportStatus(report.status).finished
    return ReportStatusPublic(
        report_id=report.id, survey_id=report.survey_id, status=report.status,
        progress=1.0 if finished else round(min(done, 1.0), 4), error=report.error,
        failed_components=[c.component_type for c in report.components if c.status == ComponentStatus.FAILED],
        components=[ComponentStatusPublic(**_component_status(c)) for c in report.components],
        created_at=report.created_at, started_at=report.started_at, completed_at=report.completed_at,
        links=links(report.id),
    )


def report_or_404(session: Session, org: uuid.UUID, report_id: uuid.UUID) -> Report:
    report = store.get_report(session, report_id=report_id, organization_id=org)
    if report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report_id} not found")
    return report


def still_running(report: Report) -> JSONResponse:
    """A report that is not finished answers 202 with its status, wherever the finished one answers 200."""
    return JSONResponse(status_of(report).model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def create_report(
    body: ReportCreate, session: SessionDep, org: OrganizationDep, settings: SettingsDep, request: Request,
    response: Response,
) -> ReportAccepted:
    """Queue a report run: validates now (422), runs on the workers, answers 202 with the status URL."""
    try:
        report = create_report_run(session, organization_id=org, survey_id=body.survey_id,
                                   component_names=body.components)
    except SurveyNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ReportRequestError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", exc.field], "msg": str(exc), "type": "value_error"}]) from exc
    names = list(report.component_names)
    session.commit()
    try:
        # Connect only now: a bad request gets its 4xx even while Temporal is down.
        client = await request.app.state.temporal.client()
        await start_report(client, settings, str(report.id), names)
    except Exception as exc:
        store.set_report_status(session, report_id=report.id, status=ReportStatus.FAILED,
                                error=f"could not start the run: {exc}")
        session.commit()
        log.exception("starting the workflow for report %s failed", report.id)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"could not start the report run: {exc}") from exc
    response.headers["Location"] = links(report.id).status
    return ReportAccepted(report_id=report.id, status=ReportStatus.QUEUED, status_url=links(report.id).status,
                          links=links(report.id))


@router.get("")
def list_reports(
    session: SessionDep, org: OrganizationDep, survey_id: uuid.UUID | None = None, limit: int = 50, offset: int = 0
) -> ReportsPublic:
    reports = store.list_reports(session, organization_id=org, survey_id=survey_id, limit=min(limit, 500),
                                 offset=offset)
    return ReportsPublic(
        data=[ReportSummary(report_id=r.id, survey_id=r.survey_id, status=r.status, created_at=r.created_at,
                            completed_at=r.completed_at, links=links(r.id)) for r in reports],
        count=len(reports),
    )


@router.get("/{report_id}/status")
def get_status(report_id: uuid.UUID, session: SessionDep, org: OrganizationDep) -> ReportStatusPublic:
    return status_of(report_or_404(session, org, report_id))


@router.get("/{report_id}", responses={202: {"model": ReportStatusPublic, "description": "Still running"}})
def get_report(report_id: uuid.UUID, session: SessionDep, org: OrganizationDep) -> ReportPublic:
    report = report_or_404(session, org, report_id)
    if not ReportStatus(report.status).finished:
        return still_running(report)  # type: ignore[return-value]
    survey = survey_store.get_survey(session, organization_id=org, survey_id=report.survey_id)
    snapshot_count = store.snapshot_response_count(session, report_id=report.id)
    base = status_of(report).model_dump(exclude={"components"})
    return ReportPublic(
        **base, survey_title=survey.title if survey else "", response_count=snapshot_count,
        components=[ComponentPublic(**_component_status(c), result=c.result) for c in report.components],
    )


@router.get("/{report_id}/components/{component}",
            responses={202: {"model": ReportStatusPublic, "description": "Still running"}})
def get_component(report_id: uuid.UUID, component: str, session: SessionDep, org: OrganizationDep) -> ComponentPublic:
    report = report_or_404(session, org, report_id)
    row = next((c for c in report.components if c.component_type == component), None)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report_id} has no component '{component}'")
    if row.status in (ComponentStatus.PENDING, ComponentStatus.RUNNING):
        return still_running(report)  # type: ignore[return-value]
    return ComponentPublic(**_component_status(row), result=row.result)


@router.get("/{report_id}/notebooks/{component}.ipynb", response_class=Response,
            responses={200: {"content": {"application/x-ipynb+json": {}}}})
def get_notebook(report_id: uuid.UUID, component: str, session: SessionDep, org: OrganizationDep) -> Response:
    """The executed notebook of one component (also for a failed one, with its error cell)."""
    report = report_or_404(session, org, report_id)
    row = store.get_component(session, report_id=report.id, name=component, with_documents=True)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report_id} has no component '{component}'")
    if row.notebook is None:
        if row.status in (ComponentStatus.PENDING, ComponentStatus.RUNNING):
            return still_running(report)
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"component '{component}' stored no notebook")
    return Response(row.notebook, media_type="application/x-ipynb+json", headers={
        "Content-Disposition": f'attachment; filename="{report_id}-{component}.ipynb"'})


@router.get("/{report_id}/pdf", response_class=Response, responses={
    200: {"content": {"application/pdf": {}}}, 202: {"model": ReportStatusPublic, "description": "Still running"},
    503: {"description": "No Chromium installed for PDF rendering"}})
async def get_pdf(report_id: uuid.UUID, session: SessionDep, org: OrganizationDep, settings: SettingsDep) -> Response:
    report = report_or_404(session, org, report_id)
    if not ReportStatus(report.status).finished:
        return still_running(report)
    try:
        pdf = await run_in_threadpool(report_pdf, session, report, settings.chromium_path)
    except ChromiumUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="report-{report_id}.pdf"'})
