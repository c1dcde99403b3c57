"""Recurring reports: check a schedule request before anything is stored, and make each scheduled run's report
(through `create_report_run`, as a report asked alone is made) when the schedule fires.

The timing itself is Temporal's (a Temporal Schedule per row, `workers.schedules`); this module is the
database side and stays free of Temporal.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from workbench.components import ComponentError, components
from workbench.reports.request import ReportRequestError, SurveyNotFound, create_report_run, resolve_request
from workbench.storage import schedules as store
from workbench.storage import surveys as survey_store
from workbench.storage.models import ReportSchedule

MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
MAX_CRON_LENGTH = 200
CRON_ALIASES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
# One cron field: numbers, names (MON, JAN), ranges, steps, lists, and the L W # ? forms Temporal accepts.
CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,#\-]+$")
TIME_ZONE = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")


@dataclass(frozen=True)
class ScheduleRequest:
    """A checked request: what the schedule runs and when."""

    survey_id: uuid.UUID
    cron: str | None
    interval_seconds: int | None
    time_zone: str
    component_names: list[str]
    parameters: dict[str, dict[str, Any]]


def check_time_zone(name: str) -> str:
    if not TIME_ZONE.fullmatch(name):
        raise ReportRequestError("time_zone", "give an IANA time zone name, e.g. Europe/Berlin (default UTC)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, not a zone file, a folder
        raise ReportRequestError("time_zone", f"unknown time zone {name[:64]!r}; give an IANA name, e.g. "
                                              "Europe/Berlin") from None
    return name


def check_cron(expression: str) -> str:
    """A light check (Temporal checks each field's range when the schedule is created): 5 to 7 fields (minute
    hour day-of-month month day-of-week, optionally seconds first and a year last) or an alias like @daily."""
    text = " ".join(expression.split())
    if not text or len(text) > MAX_CRON_LENGTH:
        raise ReportRequestError("cron", f"give a cron expression of at most {MAX_CRON_LENGTH} characters")
    if text.startswith("@"):
        if text.lower() not in CRON_ALIASES:
            raise ReportRequestError("cron", f"unknown cron alias {text[:40]!r}; use one of "
                                             f"{', '.join(sorted(CRON_ALIASES))} (or interval_seconds)")
        return text.lower()
    fields = text.split(" ")
    if not 5 <= len(fields) <= 7:
        raise ReportRequestError("cron", f"a cron expression has 5 fields (minute hour day-of-month month "
                                         f"day-of-week), not {len(fields)}: {text[:40]!r}")
    bad = next((f for f in fields if not CRON_FIELD.fullmatch(f)), None)
    if bad is not None:
        raise ReportRequestError("cron", f"cron field {bad[:40]!r} is not valid")
    return text


def check_schedule_request(
    session: Session, *, organization_id: uuid.UUID, survey_id: uuid.UUID, cron: str | None,
    interval_seconds: int | None, time_zone: str | None, component_names: list[str] | None,
    parameters: Mapping[str, Any] | None, notebooks_dir: Path, remote_engines: bool = False,
) -> ScheduleRequest:
    """Check a schedule request (when, components and parameters as for one report, the survey). Raises
    `ReportRequestError` naming the field, or `SurveyNotFound` (unknown survey, or another organization's).

    A survey without responses yet is accepted: each run made before it has some is skipped, with the reason
    recorded on the schedule (`last_error`)."""
    if (cron is None) == (interval_seconds is None):
        raise ReportRequestError("cron", "give either cron (e.g. '0 9 * * MON') or interval_seconds, not both"
                                 if cron is not None else "give cron (e.g. '0 9 * * MON') or interval_seconds")
    checked_cron = check_cron(cron) if cron is not None else None
    if interval_seconds is not None and not MIN_INTERVAL_SECONDS <= interval_seconds <= MAX_INTERVAL_SECONDS:
        raise ReportRequestError("interval_seconds",
                                 f"interval_seconds must be {MIN_INTERVAL_SECONDS}..{MAX_INTERVAL_SECONDS}")
    zone = check_time_zone("UTC" if time_zone is None else time_zone)
    names, checked = resolve_request(component_names, parameters, notebooks_dir, remote_engines=remote_engines)
    if survey_store.get_survey(session, organization_id=organization_id, survey_id=survey_id) is None:
        raise SurveyNotFound("survey_id", f"survey {survey_id} not found")
    return ScheduleRequest(survey_id=survey_id, cron=checked_cron, interval_seconds=interval_seconds,
                           time_zone=zone, component_names=names, parameters=checked)


def create_schedule(
    session: Session, *, organization_id: uuid.UUID, request: ScheduleRequest, paused: bool,
    created_by: str | None = None,
) -> ReportSchedule:
    return store.create_schedule(
        session, organization_id=organization_id, survey_id=request.survey_id, cron=request.cron,
        interval_seconds=request.interval_seconds, time_zone=request.time_zone,
        component_names=request.component_names, parameters=request.parameters, paused=paused,
        created_by=created_by)


UPDATABLE = frozenset({"cron", "interval_seconds", "time_zone", "components", "parameters"})


def check_schedule_update(
    session: Session, *, schedule: ReportSchedule, changes: Mapping[str, Any], notebooks_dir: Path,
    remote_engines: bool = False,
) -> ScheduleRequest:
    """The schedule as it would be with `changes` (only the fields given, by request name: `cron`,
    `interval_seconds`, `time_zone`, `components`, `parameters`), checked as a new request is (raises
    `ReportRequestError` naming the field). Giving `cron` drops `interval_seconds` and the other way round;
    `time_zone` or `components` given as null take the defaults (UTC, all); new `components` without
    `parameters` keep the parameters of the components still run."""
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise ReportRequestError(unknown[0], f"{unknown[0]} cannot be changed; make a new schedule instead")
    cron, interval = schedule.cron, schedule.interval_seconds
    if "cron" in changes or "interval_seconds" in changes:
        cron, interval = changes.get("cron"), changes.get("interval_seconds")
    names = changes["components"] if "components" in changes else list(schedule.component_names)
    parameters = dict((changes["parameters"] if "parameters" in changes else schedule.parameters) or {})
    if "components" in changes and "parameters" not in changes:
        try:
            kept = set(components.resolve(names))
        except ComponentError:
            kept = None  # the check below names the problem
        if kept is not None:
            parameters = {name: values for name, values in parameters.items() if name in kept}
    return check_schedule_request(
        session, organization_id=schedule.organization_id, survey_id=schedule.survey_id, cron=cron,
        interval_seconds=interval, time_zone=changes.get("time_zone", schedule.time_zone), component_names=names,
        parameters=parameters, notebooks_dir=notebooks_dir, remote_engines=remote_engines)


def updated_schedule(schedule: ReportSchedule, request: ScheduleRequest) -> ReportSchedule:
    """A detached copy of `schedule` with `request`'s times and request (what its Temporal Schedule is made
    from), not stored."""
    return ReportSchedule(
        id=schedule.id, organization_id=schedule.organization_id, survey_id=schedule.survey_id,
        cron=request.cron, interval_seconds=request.interval_seconds, time_zone=request.time_zone,
        component_names=list(request.component_names), parameters=dict(request.parameters),
        paused=schedule.paused, created_by=schedule.created_by, created_at=schedule.created_at,
        last_run_at=schedule.last_run_at, last_error=schedule.last_error)


def apply_schedule_update(
    session: Session, *, schedule_id: uuid.UUID, request: ScheduleRequest,
) -> ReportSchedule | None:
    """Store the checked change on the schedule's row (None when it is gone meanwhile)."""
    row = store.load_schedule(session, schedule_id=schedule_id)
    if row is None:
        return None
    row.cron, row.interval_seconds, row.time_zone = request.cron, request.interval_seconds, request.time_zone
    row.component_names, row.parameters = list(request.component_names), dict(request.parameters)
    session.flush()
    return row


class ScheduleGone(LookupError):
    """The schedule row no longer exists (deleted, or its survey was)."""


@dataclass(frozen=True)
class ScheduledReport:
    """What a scheduled run made: the report (its id, components, parameters), or why it made none."""

    report_id: uuid.UUID | None
    component_names: list[str]
    parameters: dict[str, Any]
    skipped: str | None = None


def create_scheduled_report(
    session: Session, *, schedule_id: uuid.UUID, run: str, notebooks_dir: Path, remote_engines: bool = False,
) -> ScheduledReport:
    """Store the queued report of the scheduled run `run` (its workflow id), once: a repeat returns the one
    stored. The request is checked again as `queue_report` checks it (the survey may have been emptied, a
    notebook's parameters may have changed since): a run that cannot become a report is skipped, with the reason
    on the schedule. Not bounded by `max_active_reports`: a schedule runs one report at a time (overlap: skip).

    Raises `ScheduleGone` when the schedule row no longer exists."""
    schedule = store.load_schedule(session, schedule_id=schedule_id)
    if schedule is None:
        raise ScheduleGone(f"schedule {schedule_id} does not exist")
    existing = store.scheduled_report(session, schedule_id=schedule_id, run=run)
    if existing is not None:
        return ScheduledReport(existing.id, list(existing.component_names), dict(existing.parameters or {}))
    try:
        report = create_report_run(  # checks everything before it writes
            session, organization_id=schedule.organization_id, survey_id=schedule.survey_id,
            component_names=list(schedule.component_names), parameters=schedule.parameters,
            notebooks_dir=notebooks_dir, remote_engines=remote_engines, max_active=None)
    except ReportRequestError as exc:
        message = f"{exc.field}: {exc}"
        store.record_run(session, schedule_id=schedule_id, error=message)
        return ScheduledReport(None, [], {}, skipped=message)
    report.schedule_id, report.schedule_run = schedule.id, run
    store.record_run(session, schedule_id=schedule_id, error=None)
    session.flush()
    return ScheduledReport(report.id, list(report.component_names), dict(report.parameters or {}))
