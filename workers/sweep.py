"""The worker's periodic sweep: start reports whose starter died, settle reports whose workflow ended without
settling them, remove what dead workers left behind (kernel socket folders, scratch folders), purge reports past
their organization's retention and remove deleted surveys' answers from this worker's embedding cache.

Every worker sweeps; each action is safe to run from several workers at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from workbench.config import Settings
from workbench.kernels import sweep_kernel_leftovers
from workbench.reports import steps
from workbench.reports.housekeeping import remove_stale_work_dirs, settle_report, unsettled_reports
from workbench.storage import deletion
from workbench.storage.models import utcnow
from workers.shared import workflow_id
from workers.starter import start_stranded_reports

log = logging.getLogger(__name__)

# Longer than any starter needs between storing a report and starting its workflow (connect timeout: 10 s).
STRANDED_AFTER = timedelta(seconds=20)
# A running report is checked against its workflow only after this long, so a fresh one is never touched.
UNSETTLED_AFTER = timedelta(minutes=2)


@dataclass
class SweepResult:
    started: list[str]
    settled: list[str]
    work_dirs_removed: int
    kernel_leftovers_removed: int
    reports_purged: int = 0  # past their organization's retention (workbench.storage.deletion)
    embeddings_removed: int = 0  # deleted surveys' answers, from this worker's embedding cache


async def settle_ended_workflows(client: Client, sessions: sessionmaker[Session]) -> list[str]:
    settled = []
    for report_id, run in await asyncio.to_thread(unsettled_reports, sessions, UNSETTLED_AFTER):
        try:
            description = await client.get_workflow_handle(workflow_id(str(report_id), run)).describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            reason = "its workflow no longer exists"
        else:
            if description.status in (None, WorkflowExecutionStatus.RUNNING):
                continue
            if description.status == WorkflowExecutionStatus.CANCELED:  # cancelled before it could settle
                await asyncio.to_thread(steps.cancel_report, sessions, report_id, "cancelled by request")
                settled.append(str(report_id))
                continue
            reason = f"its workflow ended {description.status.name.lower()} before settling the report"
        await asyncio.to_thread(settle_report, sessions, report_id, reason)
        settled.append(str(report_id))
    return settled


async def sweep_once(client: Client, settings: Settings, sessions: sessionmaker[Session]) -> SweepResult:
    started = await start_stranded_reports(client, settings, sessions, STRANDED_AFTER)
    settled = await settle_ended_workflows(client, sessions)
    work_dirs = await asyncio.to_thread(remove_stale_work_dirs, settings, sessions)
    kernels = await asyncio.to_thread(sweep_kernel_leftovers)
    purged, embeddings = await asyncio.to_thread(purge_data, settings, sessions)
    return SweepResult(started, settled, work_dirs, kernels, purged, embeddings)


def purge_data(settings: Settings, sessions: sessionmaker[Session]) -> tuple[int, int]:
    """Reports past retention (rows, then files) and deleted surveys' embeddings; (reports, embeddings) removed.
    A failure is logged, not raised: the other sweep work has been done, and the next sweep tries again."""
    purged = embeddings = 0
    try:
        summary = deletion.run_retention(sessions, settings.data_dir, now=utcnow())
        purged = len(summary.report_ids)
        if purged:
            log.info("retention: purged %d report(s): %s", purged, summary.as_dict())
    except Exception:
        log.exception("retention purge failed")
    try:
        embeddings = deletion.apply_embedding_purges(sessions, settings.data_dir, now=utcnow())
    except Exception:
        log.exception("removing deleted surveys' embeddings failed")
    return purged, embeddings


async def run_sweeper(client: Client, settings: Settings, sessions: sessionmaker[Session],
                      stop: asyncio.Event) -> None:
    """Sweep now, then every `sweep_interval_seconds` until `stop` is set; a failed sweep is logged and retried."""
    while not stop.is_set():
        try:
            result = await sweep_once(client, settings, sessions)
            if (result.started or result.settled or result.work_dirs_removed or result.kernel_leftovers_removed
                    or result.reports_purged or result.embeddings_removed):
                log.info("sweep: %s", result)
        except Exception:  # the database or Temporal may be down; the next sweep tries again
            log.exception("sweep failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.sweep_interval_seconds)
        except TimeoutError:
            pass

