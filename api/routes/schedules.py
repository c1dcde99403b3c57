"""Recurring reports (a Temporal Schedule per report schedule, owned by an organization through its row) and a
survey's latest report (a link that stays valid: "the latest weekly report")."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session, sessionmaker

from api.deps import OrganizationDep, PrincipalDep, SessionDep, SessionsDep, SettingsDep, TemporalDep
from api.routes.pages import not_found
from api.routes.reports import status_public
from api.schemas import ReportLinks, ReportStatusPublic, error_responses, finite_parameters
from api.temporal import TemporalGateway
from workbench.reports.links import API_PREFIX
from workbench.reports.links import ReportLinks as Links
from workbench.reports.request import ReportRequestError, SurveyNotFound
from workbench.reports.schedules import MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS, ScheduleGone
from workbench.statuses import ReportStatus
from workbench.storage import schedules as store
from workbench.storage import surveys as survey_store
from workbench.storage.models import ReportSchedule
from workers import schedules as temporal_schedules
from workers.starter import TemporalUnavailable

log = logging.getLogger(__name__)
router = APIRouter(tags=["schedules"], responses=error_responses(503))
pages = APIRouter(tags=["pages"], include_in_schema=False)
SCHEDULES = f"{API_PREFIX}/schedules"
MAX_OFFSET = 2**31 - 1
RECENT_REPORTS = 10
NEXT_TIMES = 5


def schedule_url(schedule_id: uuid.UUID | str) -> str:
    return f"{SCHEDULES}/{schedule_id}"


def latest_url(survey_id: uuid.UUID | str) -> str:
    return f"{API_PREFIX}/surveys/{survey_id}/reports/latest"


class ScheduleCreate(BaseModel):
    survey_id: uuid.UUID
    cron: str | None = Field(None, max_length=200, description="When to run, as a cron expression (minute hour "
                                                              "day-of-month month day-of-week, e.g. '0 9 * * MON', "
                                                              "or @daily, @weekly, ...), read in time_zone; or give "
                                                              "interval_seconds", examples=["0 9 * * MON"])
    interval_seconds: int | None = Field(None, ge=MIN_INTERVAL_SECONDS, le=MAX_INTERVAL_SECONDS,
                                         description="Run every this many seconds (instead of cron)")
    time_zone: str = Field("UTC", max_length=64, description="IANA time zone of the cron expression",
                           examples=["Europe/Berlin"])
    components: list[str] | None = Field(None, description="As for POST /api/v1/reports (default: all)")
    parameters: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                  description="As for POST /api/v1/reports, for every run")
    paused: bool = Field(False, description="Create it paused (resume it later, or trigger runs by hand)")

    @field_validator("parameters")
    @classmethod
    def _finite_numbers(cls, parameters: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return finite_parameters(parameters)


class ScheduleChange(BaseModel):
    """Only the fields given change; the others keep their values."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(None, max_length=200, description="New times as a cron expression (replaces "
                                                              "interval_seconds)", examples=["0 9 * * MON"])
    interval_seconds: int | None = Field(None, ge=MIN_INTERVAL_SECONDS, le=MAX_INTERVAL_SECONDS,
                                         description="New times as an interval (replaces cron)")
    time_zone: str | None = Field(None, max_length=64, description="IANA time zone of the cron expression "
                                                                   "(null: UTC)")
    components: list[str] | None = Field(None, description="As for POST /api/v1/reports (null: all); without "
                                                           "parameters, those of components no longer run are "
                                                           "dropped")
    parameters: dict[str, dict[str, Any]] | None = Field(None, description="Replace the parameters of every run")

    @field_validator("parameters")
    @classmethod
    def _finite_numbers(cls, parameters: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        return None if parameters is None else finite_parameters(parameters)


class SchedulePublic(BaseModel):
    schedule_id: uuid.UUID = Field(description="Also the id of its Temporal Schedule")
    survey_id: uuid.UUID
    cron: str | None
    interval_seconds: int | None
    time_zone: str
    components: list[str]
    parameters: dict[str, Any]
    paused: bool
    created_by: str | None
    created_at: datetime
    last_run_at: datetime | None = Field(description="When it last fired")
    last_error: str | None = Field(description="Why that run made no report (null: it made one)")
    url: str
    latest_report_url: str = Field(description="The survey's latest report, whichever made it")


class ScheduleReport(BaseModel):
    report_id: uuid.UUID
    status: ReportStatus
    created_at: datetime
    completed_at: datetime | None
    links: ReportLinks


class ScheduleAction(BaseModel):
    scheduled_at: datetime
    started_at: datetime
    workflow_id: str
    report_id: uuid.UUID | None = Field(description="The report the run made (null: none, or not yet)")


class ScheduleState(BaseModel):
    """As Temporal has it."""

    paused: bool
    note: str | None
    next_run_times: list[datetime]
    recent_actions: list[ScheduleAction] = Field(description="Up to 10, newest first")
    running: list[str] = Field(description="Workflow ids of the runs going on")
    actions: int = Field(description="Runs started so far")
    skipped_overlap: int = Field(description="Runs skipped because the previous one still ran")


class ScheduleDetail(SchedulePublic):
    reports: list[ScheduleReport] = Field(description=f"Its latest {RECENT_REPORTS} reports, newest first")
    state: ScheduleState | None = Field(description="From Temporal; null when Temporal is unreachable or has lost "
                                                    "it (see state_error)")
    state_error: str | None


class SchedulesPublic(BaseModel):
    data: list[SchedulePublic]
    count: int


def public(row: ReportSchedule) -> SchedulePublic:
    return SchedulePublic(
        schedule_id=row.id, survey_id=row.survey_id, cron=row.cron, interval_seconds=row.interval_seconds,
        time_zone=row.time_zone, components=list(row.component_names), parameters=dict(row.parameters or {}),
        paused=row.paused, created_by=row.created_by, created_at=row.created_at, last_run_at=row.last_run_at,
        last_error=row.last_error, url=schedule_url(row.id), latest_report_url=latest_url(row.survey_id))


def _request_error(exc: ReportRequestError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
        "loc": ["body", *exc.field.split(".")], "msg": str(exc), "type": "value_error"}])


def _load(sessions: sessionmaker[Session], org: uuid.UUID, schedule_id: uuid.UUID) -> ReportSchedule:
    with sessions() as session:
        row = store.get_schedule(session, organization_id=org, schedule_id=schedule_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"schedule {schedule_id} not found")
        session.expunge(row)
        return row


async def _on_temporal(call: Callable[[], Awaitable[None]]) -> None:
    """A change on Temporal; 503 when it cannot be made."""
    try:
        await call()
    except Exception as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"Temporal could not be reached or refused the change: {exc}") from exc


CHANGE_ERRORS = error_responses(404, 503, e404="Unknown schedule (or another organization's)",
                                e503="Temporal unreachable (nothing changed), or the database is unavailable")


@router.post(SCHEDULES, status_code=status.HTTP_201_CREATED, responses=error_responses(
    404, 503, e404="Unknown survey (or another organization's)",
    e503="Temporal unreachable (nothing stored), or the database is unavailable (with `Retry-After`)"))
async def create_schedule(
    body: ScheduleCreate, principal: PrincipalDep, settings: SettingsDep, temporal: TemporalDep,
    sessions: SessionsDep, response: Response,
) -> SchedulePublic:
    """A recurring report: a Temporal Schedule that makes and runs a report of the survey at each time (a run
    is skipped while the previous one still runs). Checked now (422 naming the field: `cron`, `interval_seconds`,
    `time_zone`, `components`, `parameters.<component>.<parameter>`; 404 for an unknown survey)."""
    try:
        row = await temporal_schedules.create_schedule(
            sessions=sessions, settings=settings, client=temporal.client, organization_id=principal.organization_id,
            survey_id=body.survey_id, cron=body.cron, interval_seconds=body.interval_seconds,
            time_zone=body.time_zone, components=body.components, parameters=body.parameters, paused=body.paused,
            created_by=principal.label or None)
    except SurveyNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ReportRequestError as exc:
        raise _request_error(exc) from exc
    except TemporalUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    response.headers["Location"] = schedule_url(row.id)
    return public(row)


@router.get(SCHEDULES)
def list_schedules(
    session: SessionDep, org: OrganizationDep, survey_id: uuid.UUID | None = None,
    limit: int = Query(100, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> SchedulesPublic:
    """The organization's schedules, newest first (`survey_id` narrows them to one survey's), from the
    database."""
    rows = store.list_schedules(session, organization_id=org, survey_id=survey_id, limit=limit, offset=offset)
    return SchedulesPublic(data=[public(r) for r in rows], count=len(rows))


@router.get(SCHEDULES + "/{schedule_id}", responses=error_responses(
    404, e404="Unknown schedule (or another organization's)"))
async def get_schedule(
    schedule_id: uuid.UUID, principal: PrincipalDep, sessions: SessionsDep, temporal: TemporalDep,
) -> ScheduleDetail:
    """The schedule, its latest reports and, from Temporal, its state, recent runs and next run times."""
    def load() -> tuple[ReportSchedule, list[ScheduleReport], dict[str, uuid.UUID]]:
        row = _load(sessions, principal.organization_id, schedule_id)
        with sessions() as session:
            made = [r for r in store.schedule_reports(session, schedule_id=row.id, limit=RECENT_REPORTS)
                    if principal.may_read(r.required_roles)]
            runs = {r.schedule_run: r.id for r in made if r.schedule_run}
            return row, [ScheduleReport(report_id=r.id, status=r.status, created_at=r.created_at,
                                        completed_at=r.completed_at,
                                        links=ReportLinks.model_validate(Links.of(r.id))) for r in made], runs

    row, reports, runs = await asyncio.to_thread(load)
    state: ScheduleState | None = None
    error: str | None = None
    try:
        described = await temporal_schedules.describe(await temporal.client(), row.id)
    except Exception as exc:
        described, error = None, f"Temporal is unreachable: {exc}"
    else:
        if described is None:
            error = "Temporal does not have this schedule; pausing, resuming or triggering it makes it again"
    if described is not None:
        info = described.info
        actions = [ScheduleAction(scheduled_at=a.scheduled_at, started_at=a.started_at,
                                  workflow_id=getattr(a.action, "workflow_id", ""),
                                  report_id=runs.get(getattr(a.action, "workflow_id", "")))
                   for a in reversed(info.recent_actions)]
        state = ScheduleState(
            paused=described.schedule.state.paused, note=described.schedule.state.note,
            next_run_times=list(info.next_action_times[:NEXT_TIMES]), recent_actions=actions,
            running=[getattr(r, "workflow_id", "") for r in info.running_actions], actions=info.num_actions,
            skipped_overlap=info.num_actions_skipped_overlap)
    return ScheduleDetail(**public(row).model_dump(), reports=reports, state=state, state_error=error)


@router.patch(SCHEDULES + "/{schedule_id}", responses=error_responses(
    404, 503, e404="Unknown schedule (or another organization's)",
    e503="Temporal unreachable (nothing changed), or the database is unavailable"))
async def update_schedule(
    schedule_id: uuid.UUID, principal: PrincipalDep, settings: SettingsDep, temporal: TemporalDep,
    sessions: SessionsDep, body: ScheduleChange | None = None,
) -> SchedulePublic:
    """Change the schedule's times (`cron` or `interval_seconds`: giving one replaces the other; `time_zone`) or
    what each run makes (`components`, `parameters`); only the fields given change. Checked as a new schedule is
    (422 naming the field, also when Temporal refuses the times; nothing changes), then its Temporal Schedule and
    its row are updated (paused stays as it is). The next runs use the change; a report already running goes on."""
    row = await asyncio.to_thread(_load, sessions, principal.organization_id, schedule_id)
    changes = body.model_dump(include=body.model_fields_set) if body is not None else {}
    if not changes:
        return public(row)
    try:
        stored = await temporal_schedules.update_schedule(
            sessions=sessions, settings=settings, client=temporal.client, row=row, changes=changes)
    except ScheduleGone as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"schedule {schedule_id} not found") from exc
    except ReportRequestError as exc:
        raise _request_error(exc) from exc
    except TemporalUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return public(stored)


async def _set_paused(schedule_id: uuid.UUID, paused: bool, principal: PrincipalDep, settings: SettingsDep,
                      temporal: TemporalDep, sessions: SessionsDep) -> SchedulePublic:
    row = await asyncio.to_thread(_load, sessions, principal.organization_id, schedule_id)
    note = f"{'paused' if paused else 'resumed'} by {principal.label or 'the API'}"

    async def change() -> None:
        await temporal_schedules.set_paused(await temporal.client(), settings, row, paused, note)

    await _on_temporal(change)

    def save() -> ReportSchedule:
        with sessions() as session, session.begin():
            stored = store.load_schedule(session, schedule_id=row.id)
            if stored is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"schedule {schedule_id} not found")
            stored.paused = paused
            session.flush()
            session.expunge(stored)
            return stored

    return public(await asyncio.to_thread(save))


@router.post(SCHEDULES + "/{schedule_id}/pause", responses=CHANGE_ERRORS)
async def pause_schedule(schedule_id: uuid.UUID, principal: PrincipalDep, settings: SettingsDep,
                         temporal: TemporalDep, sessions: SessionsDep) -> SchedulePublic:
    """Stop the schedule's runs until it is resumed (a report already running goes on)."""
    return await _set_paused(schedule_id, True, principal, settings, temporal, sessions)


@router.post(SCHEDULES + "/{schedule_id}/resume", responses=CHANGE_ERRORS)
async def resume_schedule(schedule_id: uuid.UUID, principal: PrincipalDep, settings: SettingsDep,
                          temporal: TemporalDep, sessions: SessionsDep) -> SchedulePublic:
    """Run the schedule at its times again (times passed while paused are not made up)."""
    return await _set_paused(schedule_id, False, principal, settings, temporal, sessions)


@router.post(SCHEDULES + "/{schedule_id}/trigger", status_code=status.HTTP_202_ACCEPTED, responses=CHANGE_ERRORS)
async def trigger_schedule(schedule_id: uuid.UUID, principal: PrincipalDep, settings: SettingsDep,
                           temporal: TemporalDep, sessions: SessionsDep) -> SchedulePublic:
    """Run the schedule now, also while paused; skipped when its previous report still runs. The report appears
    in `GET /api/v1/schedules/{id}` and as the survey's latest report."""
    row = await asyncio.to_thread(_load, sessions, principal.organization_id, schedule_id)

    async def run() -> None:
        await temporal_schedules.trigger(await temporal.client(), settings, row)

    await _on_temporal(run)
    return public(row)


@router.delete(SCHEDULES + "/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=CHANGE_ERRORS)
async def delete_schedule(schedule_id: uuid.UUID, principal: PrincipalDep, temporal: TemporalDep,
                          sessions: SessionsDep) -> Response:
    """Delete the schedule (its Temporal Schedule, then its row). Its reports stay; one running goes on."""
    row = await asyncio.to_thread(_load, sessions, principal.organization_id, schedule_id)

    async def delete() -> None:
        await temporal_schedules.delete_temporal_schedules(await temporal.client(), [row.id])

    await _on_temporal(delete)

    def forget() -> None:
        with sessions() as session, session.begin():
            store.delete_schedule(session, schedule_id=row.id)

    await asyncio.to_thread(forget)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def stop_schedules(temporal: TemporalGateway, schedule_ids: list[uuid.UUID]) -> None:
    """Delete the Temporal Schedules of deleted schedule rows (a deleted survey's). Temporal unreachable: logged;
    each left behind deletes itself the next time it fires, finding its row gone."""
    try:
        await temporal_schedules.delete_temporal_schedules(await temporal.client(), schedule_ids)
    except Exception as exc:
        log.warning("could not delete the Temporal schedules %s now (each deletes itself when it next fires): %s",
                    ", ".join(str(s) for s in schedule_ids), exc)


# --- the latest report of a survey -----------------------------------------------------------------------------


def _latest(session: Session, principal: PrincipalDep, survey_id: uuid.UUID, report_status: ReportStatus | None,
            as_of: datetime | None) -> tuple[bool, Any]:
    """(whether the survey is the caller's, its latest report or None)."""
    org = principal.organization_id
    if survey_store.get_survey(session, organization_id=org, survey_id=survey_id) is None:
        return False, None
    if as_of is not None:
        try:
            as_of = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
                "loc": ["query", "as_of"], "msg": "as_of is out of range in UTC", "type": "value_error"}]) from None
    return True, store.latest_report(session, organization_id=org, survey_id=survey_id, status=report_status,
                                     as_of=as_of, readable_by=principal)


STATUS_QUERY = Query(None, alias="status", description="Only reports with this status (default: any)")
AS_OF_QUERY = Query(None, description="The newest report created at or before this time (ISO 8601; UTC without "
                                      "an offset)")


@router.get(API_PREFIX + "/surveys/{survey_id}/reports/latest", tags=["reports"], responses=error_responses(
    404, e404="Unknown survey (or another organization's), or no report matches"))
def latest_report(
    survey_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, response: Response,
    report_status: ReportStatus | None = STATUS_QUERY, as_of: datetime | None = AS_OF_QUERY,
) -> ReportStatusPublic:
    """The survey's newest report (whatever made it: a request, a batch, a schedule), optionally with `status`
    (e.g. `completed`) and created at or before `as_of`: its status and links. A link that stays valid, e.g. to
    the latest weekly report."""
    found, report = _latest(session, principal, survey_id, report_status, as_of)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"survey {survey_id} not found")
    if report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"survey {survey_id} has no report that matches")
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Content-Location"] = Links.of(report.id).status
    return status_public(report)


@pages.get("/surveys/{survey_id}/reports/latest")
def latest_report_page(
    survey_id: str, request: Request, session: SessionDep, principal: PrincipalDep,
    report_status: ReportStatus | None = STATUS_QUERY, as_of: datetime | None = AS_OF_QUERY,
) -> Response:
    """303 to the page of the survey's latest report (`?status=`, `?as_of=` as for the API)."""
    try:
        parsed = uuid.UUID(survey_id)
    except ValueError:
        return not_found(request, f"survey {survey_id} not found")
    found, report = _latest(session, principal, parsed, report_status, as_of)
    if report is None:
        return not_found(request, f"survey {survey_id} not found" if not found else
                         f"survey {survey_id} has no report that matches",
                         back_url=f"/surveys/{survey_id}" if found else "/surveys")
    return RedirectResponse(Links.of(report.id).page, status_code=status.HTTP_303_SEE_OTHER,
                            headers={"Cache-Control": "private, no-cache"})
