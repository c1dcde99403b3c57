"""Report schedules (`report_schedules`: who owns a Temporal schedule, for which survey, with which request) and
the reports they made (`generated_reports.schedule_id`, `schedule_run`); the latest report of a survey."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench.access import Principal
from workbench.statuses import ReportStatus
from workbench.storage.models import Report, ReportSchedule, utcnow
from workbench.storage.reports import WITHOUT_COMPONENTS


def create_schedule(
    session: Session, *, organization_id: uuid.UUID, survey_id: uuid.UUID, cron: str | None,
    interval_seconds: int | None, time_zone: str, component_names: list[str], parameters: Mapping[str, Any],
    paused: bool, created_by: str | None = None,
) -> ReportSchedule:
    schedule = ReportSchedule(
        organization_id=organization_id, survey_id=survey_id, cron=cron, interval_seconds=interval_seconds,
        time_zone=time_zone, component_names=list(component_names), parameters=dict(parameters), paused=paused,
        created_by=created_by)
    session.add(schedule)
    session.flush()
    return schedule


def get_schedule(session: Session, *, organization_id: uuid.UUID, schedule_id: uuid.UUID) -> ReportSchedule | None:
    """The schedule, if it belongs to `organization_id` (another organization's is not found)."""
    schedule = session.get(ReportSchedule, schedule_id)
    return schedule if schedule is not None and schedule.organization_id == organization_id else None


def load_schedule(session: Session, *, schedule_id: uuid.UUID) -> ReportSchedule | None:
    """By id alone: for the workers, which act for no caller."""
    return session.get(ReportSchedule, schedule_id)


def list_schedules(session: Session, *, organization_id: uuid.UUID, survey_id: uuid.UUID | None = None,
                   limit: int = 100, offset: int = 0) -> list[ReportSchedule]:
    stmt = select(ReportSchedule).where(ReportSchedule.organization_id == organization_id)
    if survey_id is not None:
        stmt = stmt.where(ReportSchedule.survey_id == survey_id)
    return list(session.scalars(stmt.order_by(ReportSchedule.created_at.desc(), ReportSchedule.id)
                                .limit(limit).offset(offset)))


def survey_schedule_ids(session: Session, *, organization_id: uuid.UUID, survey_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(select(ReportSchedule.id).where(ReportSchedule.organization_id == organization_id,
                                                                ReportSchedule.survey_id == survey_id)))


def delete_schedule(session: Session, *, schedule_id: uuid.UUID) -> None:
    schedule = session.get(ReportSchedule, schedule_id)
    if schedule is not None:
        session.delete(schedule)
        session.flush()


def scheduled_report(session: Session, *, schedule_id: uuid.UUID, run: str) -> Report | None:
    """The report that the scheduled run `run` (its workflow id) made, if it made one."""
    return session.scalars(select(Report).where(Report.schedule_id == schedule_id,
                                                Report.schedule_run == run)).first()


def schedule_reports(session: Session, *, schedule_id: uuid.UUID, limit: int = 10) -> list[Report]:
    """The schedule's reports, newest first."""
    return list(session.scalars(select(Report).options(WITHOUT_COMPONENTS).where(Report.schedule_id == schedule_id)
                                .order_by(Report.created_at.desc(), Report.id).limit(limit)))


def record_run(session: Session, *, schedule_id: uuid.UUID, error: str | None) -> None:
    """When the schedule last fired, and why it made no report then (None: it made one)."""
    schedule = session.get(ReportSchedule, schedule_id)
    if schedule is not None:
        schedule.last_run_at = utcnow()
        schedule.last_error = error
        session.flush()


def latest_report(
    session: Session, *, organization_id: uuid.UUID, survey_id: uuid.UUID, status: ReportStatus | None = None,
    as_of: datetime | None = None, readable_by: Principal | None = None,
) -> Report | None:
    """The survey's newest report (by creation), optionally with `status` and created at or before `as_of`; a
    report whose `required_roles` leave `readable_by` out is passed over."""
    # Up to a thousand rows are looked at for one report: their components are not loaded with them.
    stmt = select(Report).options(WITHOUT_COMPONENTS).where(Report.organization_id == organization_id,
                                                             Report.survey_id == survey_id)
    if status is not None:
        stmt = stmt.where(Report.status == status)
    if as_of is not None:
        stmt = stmt.where(Report.created_at <= as_of)
    for report in session.scalars(stmt.order_by(Report.created_at.desc(), Report.id.desc()).limit(1000)):
        if readable_by is None or readable_by.may_read(report.required_roles):
            return report
    return None
