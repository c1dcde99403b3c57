"""What a periodic sweep repairs: scratch folders nobody will come back for, and reports whose run ended
without settling their rows (their workflow ended while the database was unreachable)."""

from __future__ import annotations

import logging
import shutil
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from workbench.config import Settings
from workbench.reports import steps
from workbench.statuses import ReportStatus
from workbench.storage.models import Report, utcnow

log = logging.getLogger(__name__)


def remove_stale_work_dirs(settings: Settings, sessions: sessionmaker[Session]) -> int:
    """Remove `<data_dir>/work/<report>` folders of reports that are finished or unknown; returns how many.

    A component's folder is removed by its own run; what remains was left by a worker that died mid-run (a
    retry elsewhere starts its own), or is the empty parent of finished components.
    """
    work = settings.data_dir / "work"
    if not work.is_dir():
        return 0
    folders = {p.name: p for p in work.iterdir() if p.is_dir()}
    ids = {}
    for name in folders:
        try:
            ids[name] = uuid.UUID(name)
        except ValueError:
            continue  # not ours
    with sessions() as session:
        running = set(session.scalars(select(Report.id).where(
            Report.id.in_(list(ids.values())), Report.status.in_([ReportStatus.QUEUED, ReportStatus.RUNNING]))))
    removed = 0
    for name, report_id in ids.items():
        if report_id not in running:
            shutil.rmtree(folders[name], ignore_errors=True)
            removed += 1
    return removed


def unsettled_reports(sessions: sessionmaker[Session], older_than: timedelta) -> list[tuple[uuid.UUID, int]]:
    """(id, run number) of reports marked running since before `older_than` ago: candidates to check against
    the workflow of their current run."""
    with sessions() as session:
        rows = session.execute(select(Report.id, Report.run_number).where(
            Report.status == ReportStatus.RUNNING, Report.started_at < utcnow() - older_than))
        return [(row[0], row[1]) for row in rows]


def settle_report(sessions: sessionmaker[Session], report_id: uuid.UUID, reason: str) -> ReportStatus:
    """Close a report whose workflow has ended: unfinished components fail with `reason`."""
    with sessions() as session:
        report = session.get(Report, report_id)
        names = [c.component_type for c in report.components] if report is not None else []
    status = steps.finish_report(sessions, report_id, dict.fromkeys(names, reason))
    log.warning("settled report %s (%s): %s", report_id, status.value, reason)
    return status
