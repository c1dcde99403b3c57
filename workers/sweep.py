"""The periodic sweep: start reports and batches whose starter died, settle reports whose workflow ended without
settling them, purge reports past their organization's retention (the deployment's share: `global_sweep_once`),
and remove what dead workers left behind on this machine (kernel socket folders, scratch folders) and deleted
surveys' answers from this worker's embedding cache (each worker's share: `local_sweep_once`).

The deployment's share runs once per `sweep_interval_seconds` for the whole deployment, as `SweepWorkflow` started
by the Temporal Schedule `<task_queue>-sweep` (`workers.scheduled`; made or updated by every worker at start, which
also triggers one sweep then). Each worker runs its own share on a timer (`run_sweeper(..., scheduled=True)`); a
worker that could not make the schedule runs both on its timer, as every worker did before. Each action is safe to
run from several workers at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
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
from workers.schedules import ensure_sweep_schedule
from workers.shared import workflow_id
from workers.starter import start_stranded_batches, start_stranded_reports

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
    batches_started: list[str] = field(default_factory=list)  # batches whose start was lost


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


async def global_sweep_once(client: Client, settings: Settings, sessions: sessionmaker[Session]) -> SweepResult:
    """The deployment's share: stranded reports and batches started, ended runs settled, reports past retention
    purged."""
    started = await start_stranded_reports(client, settings, sessions, STRANDED_AFTER)
    batches = await start_stranded_batches(client, settings, sessions, STRANDED_AFTER)
    settled = await settle_ended_workflows(client, sessions)
    purged = await asyncio.to_thread(purge_retention, settings, sessions)
    return SweepResult(started, settled, 0, 0, purged, 0, batches)


async def local_sweep_once(settings: Settings, sessions: sessionmaker[Session]) -> SweepResult:
    """This worker's share: its scratch folders and kernel leftovers, deleted surveys' embeddings in its cache."""
    work_dirs = await asyncio.to_thread(remove_stale_work_dirs, settings, sessions)
    kernels = await asyncio.to_thread(sweep_kernel_leftovers)
    embeddings = await asyncio.to_thread(purge_embeddings, settings, sessions)
    return SweepResult([], [], work_dirs, kernels, 0, embeddings)


async def sweep_once(client: Client, settings: Settings, sessions: sessionmaker[Session]) -> SweepResult:
    """Both shares."""
    deployment = await global_sweep_once(client, settings, sessions)
    local = await local_sweep_once(settings, sessions)
    return SweepResult(deployment.started, deployment.settled, local.work_dirs_removed,
                       local.kernel_leftovers_removed, deployment.reports_purged, local.embeddings_removed,
                       deployment.batches_started)


def purge_retention(settings: Settings, sessions: sessionmaker[Session]) -> int:
    """Reports past retention (rows, then files); how many. A failure is logged, not raised: the other sweep work
    has been done, and the next sweep tries again."""
    try:
        summary = deletion.run_retention(sessions, settings.data_dir, now=utcnow())
    except Exception:
        log.exception("retention purge failed")
        return 0
    if summary.report_ids:
        log.info("retention: purged %d report(s): %s", len(summary.report_ids), summary.as_dict())
    return len(summary.report_ids)


def purge_embeddings(settings: Settings, sessions: sessionmaker[Session]) -> int:
    """Deleted surveys' answers, from this worker's embedding cache; how many entries (failures logged)."""
    try:
        return deletion.apply_embedding_purges(sessions, settings.data_dir, now=utcnow())
    except Exception:
        log.exception("removing deleted surveys' embeddings failed")
        return 0


async def run_sweeper(client: Client, settings: Settings, sessions: sessionmaker[Session],
                      stop: asyncio.Event, *, scheduled: bool = False) -> None:
    """Sweep now, then every `sweep_interval_seconds` until `stop` is set; a failed sweep is logged and retried.
    `scheduled`: the deployment's share runs from the sweep schedule, so only this worker's share runs here."""
    while not stop.is_set():
        try:
            result = await (local_sweep_once(settings, sessions) if scheduled
                            else sweep_once(client, settings, sessions))
            if (result.started or result.settled or result.work_dirs_removed or result.kernel_leftovers_removed
                    or result.reports_purged or result.embeddings_removed or result.batches_started):
                log.info("sweep: %s", result)
        except Exception:  # the database or Temporal may be down; the next sweep tries again
            log.exception("sweep failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.sweep_interval_seconds)
        except TimeoutError:
            pass


async def run_sweeps(client: Client, settings: Settings, sessions: sessionmaker[Session], stop: asyncio.Event) -> None:
    """What a worker process runs: the sweep's schedule made (or brought to these settings) and triggered once,
    then this worker's share on its timer until `stop` (both shares when the schedule could not be made)."""
    scheduled = await ensure_sweep_schedule(client, settings)
    await run_sweeper(client, settings, sessions, stop, scheduled=scheduled)
