"""Report runs: start (202), status, results, notebooks and PDF."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy.orm import Session

from api.access import AuditWriter
from api.caching import BodyCache, holds
from api.deps import (
    OrganizationDep,
    PrincipalDep,
    ProgressHubDep,
    ReportDep,
    SessionDep,
    SessionsDep,
    SettingsDep,
    TemporalDep,
)
from api.progress import events
from api.schemas import (
    ComponentPublic,
    ReportAccepted,
    ReportCreate,
    ReportLinks,
    ReportPublic,
    ReportsPublic,
    ReportStatusPublic,
    ReportSummary,
    error_responses,
)
from workbench.access import Principal
from workbench.rendering.pdf import PDF_TEMPLATE_VERSION, ChromiumUnavailable
from workbench.reports.links import ReportLinks as Links
from workbench.reports.request import ReportRequestError, SurveyNotFound, TooManyActiveReports
from workbench.reports.rerun import RerunRefused
from workbench.reports.views import NoPdf, component_status_view, ensure_stored_pdf, report_status_view
from workbench.statuses import ComponentStatus
from workbench.storage import reports as store
from workbench.storage import surveys as survey_store
from workbench.storage.models import Report, ReportComponent, ReportStatus
from workers.starter import CancelRefused, TemporalUnavailable, queue_report
from workers.starter import cancel_report as cancel_run
from workers.starter import rerun_component as start_rerun

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=error_responses(503))
MAX_OFFSET = 2**31 - 1  # every backend's integer holds it; more would overflow PostgreSQL's bigint binding
STILL_RUNNING: dict[int | str, dict[str, Any]] = {
    202: {"model": ReportStatusPublic, "description": "Still running: the report's status"}}


def status_public(report: Report) -> ReportStatusPublic:
    """The report's status, with the schedule or batch that made it (null: none)."""
    return ReportStatusPublic.model_validate(report_status_view(report))


def component_public(row: ReportComponent) -> ComponentPublic:
    view = asdict(component_status_view(row))
    return ComponentPublic.model_validate({**view, "result": row.result, "provenance": row.provenance})


def accepted_while_running(report: Report) -> JSONResponse:
    """A report that is not finished answers 202 with its status, wherever the finished one answers 200."""
    return JSONResponse(status_public(report).model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)


def _request_error(exc: ReportRequestError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
        "loc": ["body", *exc.field.split(".")], "msg": str(exc), "type": "value_error"}])


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses={
    **error_responses(404, 429, 503, e404="Unknown survey",
                      e429="The organization has WORKBENCH_MAX_ACTIVE_REPORTS reports queued or running, or the "
                           "key's rate limit is spent (with `Retry-After`)",
                      e503="Temporal unreachable (the report is marked failed), or the database is unavailable "
                           "(with `Retry-After`)")})
async def create_report(
    body: ReportCreate, org: OrganizationDep, settings: SettingsDep, temporal: TemporalDep, sessions: SessionsDep,
    response: Response,
) -> ReportAccepted:
    """Queue a report run: validates now (422), runs on the workers, answers 202 with the status URL."""
    try:
        report = await queue_report(
            sessions=sessions, settings=settings, client=temporal.client, organization_id=org,
            survey_id=body.survey_id, components=body.components, parameters=body.parameters,
            required_roles=list(body.required_roles) if body.required_roles else None,
        )
    except SurveyNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except TooManyActiveReports as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers={"Retry-After": "30"}) from exc
    except ReportRequestError as exc:
        raise _request_error(exc) from exc
    except TemporalUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    links = Links.of(report.id)
    response.headers["Location"] = links.status
    return ReportAccepted(report_id=report.id, status=report.status, status_url=links.status,
                          components=list(report.component_names), links=ReportLinks.model_validate(links))


@router.get("")
def list_reports(
    session: SessionDep, principal: PrincipalDep, survey_id: uuid.UUID | None = None,
    limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> ReportsPublic:
    """Reports, newest first (`survey_id` narrows them to one survey's); those whose `required_roles` leave the
    caller out are not listed."""
    reports = store.list_reports(session, organization_id=principal.organization_id, survey_id=survey_id,
                                 limit=limit, offset=offset, readable_by=principal)
    return ReportsPublic(
        data=[ReportSummary(report_id=r.id, survey_id=r.survey_id, status=r.status, created_at=r.created_at,
                            completed_at=r.completed_at, links=ReportLinks.model_validate(Links.of(r.id)),
                            schedule_id=r.schedule_id, batch_id=r.batch_id)
              for r in reports],
        count=len(reports),
    )


def not_modified(request: Request, response: Response, etag: str) -> Response | None:
    """A 304 when the client holds this version; else the validator is set on `response`."""
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "private, no-cache"  # revalidate every time; never in a shared cache
    if holds(request, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=dict(response.headers))
    return None


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified (`If-None-Match` held the ETag)"}}


# The hot reads (status, report JSON, PDF) are what pollers, pages and dashboards ask again and again. They ask
# the report's version first (one query of a few columns), answer 304 from it, and build a body only when this
# process has none for that version yet; the body is kept by its ETag (`api.caching`). Access is checked on the
# version, before any body is looked at.

def readable_version(session: Session, report_id: uuid.UUID, principal: Principal) -> store.ReportVersion:
    version = store.report_version(session, report_id=report_id)
    # Another organization's report, or one the caller's role may not read, answers as a missing one does.
    if version is None or version.organization_id != principal.organization_id \
            or not principal.may_read(version.required_roles):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report_id} not found")
    return version


def cached_body(request: Request, version: store.ReportVersion, kind: str,
                build: Callable[[], tuple[str, bytes]]) -> tuple[str, bytes]:
    """(etag, body) of this version of the report from this process's cache, else from `build`, which loads the
    report and returns its body with the ETag of what it loaded (the report may have moved since its version was
    read: the body is filed under the version it shows)."""
    bodies: BodyCache | None = getattr(request.app.state, "bodies", None)
    body = bodies.get((version.id, kind, version.etag)) if bodies is not None else None
    if body is not None:
        return version.etag, body
    etag, body = build()
    if bodies is not None:
        bodies.put((version.id, kind, etag), body)
    return etag, body


def _json(body: bytes, etag: str, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(body, status_code=status_code, media_type="application/json",
                    headers={"ETag": etag, "Cache-Control": "private, no-cache"})


def _status_body(request: Request, session: Session, version: store.ReportVersion) -> tuple[str, bytes]:
    def build() -> tuple[str, bytes]:
        report = store.load_report(session, report_id=version.id, with_results=False)
        assert report is not None  # reports are deleted only with their survey; the version was just read
        return store.report_etag(report), status_public(report).model_dump_json().encode()

    return cached_body(request, version, "status", build)


@router.get("/{report_id}/status", response_model=ReportStatusPublic,
            responses={**NOT_MODIFIED, **error_responses(404)})
def get_status(report_id: uuid.UUID, sessions: SessionsDep, principal: PrincipalDep, request: Request,
               response: Response) -> Response:
    """The report's status and progress; with `ETag` (send it back as `If-None-Match`: 304 until it changes)."""
    with sessions() as session:
        version = readable_version(session, report_id, principal)
        unchanged = not_modified(request, response, version.etag)
        if unchanged is not None:
            return unchanged
        etag, body = _status_body(request, session, version)
        return _json(body, etag)


@router.get("/{report_id}", response_model=ReportPublic,
            responses={**STILL_RUNNING, **NOT_MODIFIED, **error_responses(404)})
def get_report(report_id: uuid.UUID, sessions: SessionsDep, principal: PrincipalDep, request: Request,
               response: Response) -> Response:
    """The report's metadata and every component's JSON result; with `ETag` (304 for `If-None-Match`)."""
    with sessions() as session:
        version = readable_version(session, report_id, principal)
        if not version.status.finished:
            etag, body = _status_body(request, session, version)
            return _json(body, etag, status.HTTP_202_ACCEPTED)
        unchanged = not_modified(request, response, version.etag)
        if unchanged is not None:
            return unchanged

        def build() -> tuple[str, bytes]:
            report = store.load_report(session, report_id=report_id)
            assert report is not None
            survey = survey_store.get_survey(session, organization_id=report.organization_id,
                                             survey_id=report.survey_id)
            base = status_public(report).model_dump(exclude={"components"})
            return store.report_etag(report), ReportPublic(
                **base, survey_title=survey.title if survey else "",
                response_count=store.snapshot_response_count(session, report_id=report.id),
                components=[component_public(c) for c in report.components],
            ).model_dump_json().encode()

        etag, body = cached_body(request, version, "report", build)
        return _json(body, etag)


@router.get("/{report_id}/components/{component}",
            responses={**STILL_RUNNING, **error_responses(404, e404="Unknown report, or no such component in it")})
def get_component(report: ReportDep, component: str) -> ComponentPublic:
    row = next((c for c in report.components if c.component_type == component), None)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report.id} has no component '{component}'")
    if row.status in (ComponentStatus.PENDING, ComponentStatus.RUNNING):
        return accepted_while_running(report)  # type: ignore[return-value]
    return component_public(row)


@router.get("/{report_id}/notebooks/{component}.ipynb", response_class=Response, responses={
    200: {"content": {"application/x-ipynb+json": {"schema": {"type": "object"}}},
          "description": "The executed notebook (nbformat 4)"},
    **STILL_RUNNING, **error_responses(404, e404="Unknown report or component, or the component stored no notebook")})
def get_notebook(report: ReportDep, component: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """The executed notebook of one component (also for a failed one, with its error cell)."""
    report_id = report.id
    row = store.get_component(session, report_id=report.id, name=component, with_documents=True)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report_id} has no component '{component}'")
    if row.notebook is None:
        if row.status in (ComponentStatus.PENDING, ComponentStatus.RUNNING):
            return accepted_while_running(report)
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"component '{component}' stored no notebook")
    store.record_download(session, report_id=report_id, kind=f"notebook:{component}"[:20], who=principal.label,
                          cached=True, size=len(row.notebook))
    session.commit()
    return Response(row.notebook, media_type="application/x-ipynb+json", headers={
        "Content-Disposition": f'attachment; filename="{report_id}-{component}.ipynb"'})


@router.get("/{report_id}/pdf", response_class=Response, responses={
    200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The report as a PDF"},
    **STILL_RUNNING, **error_responses(404, 409, e409="The report failed or was cancelled: it has no PDF"),
    **error_responses(503, e503="No Chromium installed for PDF rendering, or the database is unavailable")})
def get_pdf(report_id: uuid.UUID, sessions: SessionsDep, settings: SettingsDep, principal: PrincipalDep,
            request: Request) -> Response:
    """The report as a PDF: rendered on the first download and stored, served from storage after that
    (`X-Workbench-Cache: hit | miss`). A failed or cancelled report has none (409)."""
    with sessions() as session:
        version = readable_version(session, report_id, principal)
        if not version.status.finished:
            etag, body = _status_body(request, session, version)
            return _json(body, etag, status.HTTP_202_ACCEPTED)
        pdf = None
        if version.status not in (ReportStatus.FAILED, ReportStatus.CANCELLED):
            pdf = _stored_pdf(request, session, version)
        cached = pdf is not None
        if pdf is None:  # the first download (or a failed report: 409 below), with the report loaded
            report = store.load_report(session, report_id=report_id)
            assert report is not None
            try:
                pdf, cached = ensure_stored_pdf(session, report, settings.chromium_path)
            except NoPdf as exc:
                raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
            except ChromiumUnavailable as exc:
                raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
            session.commit()
    record_download(request, report_id=report_id, kind="pdf", who=principal.label, cached=cached, size=len(pdf))
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="report-{report_id}.pdf"',
        "X-Workbench-Cache": "hit" if cached else "miss"})


def _stored_pdf(request: Request, session: Session, version: store.ReportVersion) -> bytes | None:
    """The stored PDF of this version of the report: from this process's body cache, else from the database
    (a PDF of a few hundred KB read from the database on every download was most of the route's time)."""
    bodies: BodyCache | None = getattr(request.app.state, "bodies", None)
    key = (version.id, f"pdf:{PDF_TEMPLATE_VERSION}", version.etag)
    pdf = bodies.get(key) if bodies is not None else None
    if pdf is None:
        pdf = store.get_document(session, report_id=version.id, kind="pdf", template_version=PDF_TEMPLATE_VERSION)
        if pdf is not None and bodies is not None:
            bodies.put(key, pdf)
    return pdf


def record_download(request: Request, **record: Any) -> None:
    """Record a download through the app's background writer (one transaction for many; a download is a read
    and should not take the database's write lock in its own request), or here for an app run without one."""
    writer: AuditWriter | None = getattr(request.app.state, "audit", None)
    if writer is not None:
        writer.put(functools.partial(store.record_download, **record))
        return
    with request.app.state.sessions() as session:
        store.record_download(session, **record)
        session.commit()


@router.post("/{report_id}/cancel", status_code=status.HTTP_202_ACCEPTED, responses={
    **error_responses(404, 409, 503, e409="The report has already finished",
                      e503="Temporal unreachable, or the database is unavailable")})
async def cancel_report(
    report_id: uuid.UUID, org: OrganizationDep, temporal: TemporalDep, sessions: SessionsDep,
) -> ReportStatusPublic:
    """Cancel a queued or running report: running kernels are stopped, unfinished components and the report
    become `cancelled` (completed components keep their results). Answers 202 with the status; poll it."""
    try:
        report = await cancel_run(sessions=sessions, client=temporal.client, organization_id=org,
                                  report_id=report_id)
    except CancelRefused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except TemporalUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return status_public(report)


@router.post("/{report_id}/components/{component}/rerun", status_code=status.HTTP_202_ACCEPTED, responses={
    **error_responses(404, 409, 503, e404="Unknown report, or no such component in it",
                      e409="The report is still running, or never started, or the component's inputs are missing",
                      e503="Temporal unreachable (the rerun components are marked failed)")})
async def rerun_component(
    report_id: uuid.UUID, component: str, org: OrganizationDep, settings: SettingsDep, temporal: TemporalDep,
    sessions: SessionsDep, response: Response,
) -> ReportStatusPublic:
    """Rerun one component of a finished report, and the components that read its result, with the current
    notebook on the report's frozen snapshot. The others keep their results; the stored PDF is dropped and
    rendered again on the next download. Answers 202 with the status (`Location`: the status URL)."""
    try:
        await start_rerun(sessions=sessions, settings=settings, client=temporal.client, organization_id=org,
                          report_id=report_id, component=component)
    except RerunRefused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except TemporalUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    response.headers["Location"] = Links.of(report_id).status
    with sessions() as session:
        current = store.load_report(session, report_id=report_id)
        assert current is not None  # it was there a moment ago; reports are not deleted
        return status_public(current)


@router.get("/{report_id}/events", response_class=EventSourceResponse, responses=error_responses(404))
async def report_events(report: ReportDep, hub: ProgressHubDep, request: Request) -> AsyncIterator[ServerSentEvent]:
    """Live progress as Server-Sent Events: `state` (the whole status, first), then `component` (a component
    started, advanced a cell, completed, failed...), `report` (the report's status or progress changed) and
    `end` (it finished; the stream closes). Event ids count the states; a client that reconnects with
    `Last-Event-ID` gets the current `state` and continues from there. Every reader of a report shares one
    database poller."""
    previous: dict[str, Any] | None = None
    last = 0
    async for version, state in hub.watch(report.id):
        if await request.is_disconnected():
            return
        if version == last:
            yield ServerSentEvent(comment="keep-alive")
            continue
        for name, data in events(previous, state):
            yield ServerSentEvent(event=name, data=data, id=str(version), retry=2000)
        previous, last = state, version
