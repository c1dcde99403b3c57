"""The worker's periodic sweep: start reports whose starter died, settle reports whose workflow ended without
settling them, and remove what dead workers left behind (kernel socket folders, scratch folders).

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
    return SweepResult(started, settled, work_dirs, kernels)


async def run_sweeper(client: Client, settings: Settings, sessions: sessionmaker[Session],
                      stop: asyncio.Event) -> None:
    """Sweep now, then every `sweep_interval_seconds` until `stop` is set; a failed sweep is logged and retried."""
    while not stop.is_set():
        try:
            result = await sweep_once(client, settings, sessions)
            if result.started or result.settled or result.work_dirs_removed or result.kernel_leftovers_removed:
                log.info("sweep: %s", result)
        except Exception:  # the database or Temporal may be down; the next sweep tries again
            log.exception("sweep failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.sweep_interval_seconds)
        except TimeoutError:
            pass

