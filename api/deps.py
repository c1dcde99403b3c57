"""Dependencies declared once and used by every route."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.access import principal_of
from api.import_jobs import ImportRunner
from api.progress import ProgressHub
from api.temporal import TemporalGateway
from workbench.access import Principal
from workbench.config import Settings
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.models import Report, Survey


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for the request. Opening one does no I/O (it connects on first use), so it is made here rather
    than in the thread pool; closing it hands its connection back (I/O), so that happens in a thread."""
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        await run_in_threadpool(_close, session)


def _close(session: Session) -> None:
    """Close without raising: this runs after the answer is decided (during an outage, a 503 already on its way),
    and the rollback of a connection the database dropped would fail; that connection is discarded instead."""
    try:
        session.close()
    except Exception:
        with contextlib.suppress(Exception):
            session.invalidate()


async def get_sessions(request: Request) -> sessionmaker[Session]:
    """The session factory, for work that opens its own transactions (in a thread: queueing a report)."""
    return request.app.state.sessions


async def get_principal(request: Request) -> Principal:
    """The caller `api.access.authorize` found (every non-public route has one)."""
    return principal_of(request)


async def get_organization_id(request: Request) -> uuid.UUID:
    return principal_of(request).organization_id


async def get_temporal(request: Request) -> TemporalGateway:
    return request.app.state.temporal


async def get_import_runner(request: Request) -> ImportRunner:
    return request.app.state.imports


async def get_progress_hub(request: Request) -> ProgressHub:
    """The app's one hub of report pollers, made on first use (from the app's own session factory)."""
    state = request.app.state
    if getattr(state, "progress", None) is None:
        sessions: sessionmaker[Session] = state.sessions

        def load(report_id: uuid.UUID) -> dict[str, Any] | None:
            from api.schemas import ReportStatusPublic
            from workbench.reports.views import report_status_view

            with sessions() as session:
                report = report_store.load_report(session, report_id=report_id, with_results=False)
                if report is None:
                    return None
                return ReportStatusPublic.model_validate(report_status_view(report)).model_dump(mode="json")

        state.progress = ProgressHub(load)
    return state.progress


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
OrganizationDep = Annotated[uuid.UUID, Depends(get_organization_id)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
TemporalDep = Annotated[TemporalGateway, Depends(get_temporal)]
ImportRunnerDep = Annotated[ImportRunner, Depends(get_import_runner)]
ProgressHubDep = Annotated[ProgressHub, Depends(get_progress_hub)]


def get_report_or_404(report_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Report:
    report = report_store.get_report(session, report_id=report_id, organization_id=principal.organization_id,
                                     with_results=False)
    # A report the caller's role may not read answers as a missing one does.
    if report is None or not principal.may_read(report.required_roles):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report_id} not found")
    return report


ReportDep = Annotated[Report, Depends(get_report_or_404)]


def get_survey_or_404(survey_id: uuid.UUID, session: SessionDep, org: OrganizationDep) -> Survey:
    survey = survey_store.get_survey(session, organization_id=org, survey_id=survey_id)
    if survey is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"survey {survey_id} not found")
    return survey


SurveyDep = Annotated[Survey, Depends(get_survey_or_404)]
