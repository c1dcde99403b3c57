"""Start report runs on Temporal (used by the API, the CLI and the worker's recovery at start-up)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workbench.components import components
from workbench.config import Settings
from workbench.storage import reports as report_store
from workers.shared import ReportInput, workflow_id
from workers.workflows import ReportWorkflow

log = logging.getLogger(__name__)


def report_input(settings: Settings, report_id: str, component_names: list[str]) -> ReportInput:
    return ReportInput(
        report_id=report_id,
        components=list(component_names),
        first=[n for n in component_names if components.get(n).runs_first],
        component_timeout_seconds=settings.component_timeout_seconds,
        heartbeat_timeout_seconds=settings.heartbeat_timeout_seconds,
    )


async def start_report(client: Client, settings: Settings, report_id: str, component_names: list[str]) -> bool:
    """Start the report's workflow; False if it was started before (one run per report, ever)."""
    try:
        await client.start_workflow(
            ReportWorkflow.run,
            report_input(settings, report_id, component_names),
            id=workflow_id(report_id),
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def start_stranded_reports(
    client: Client, settings: Settings, sessions: sessionmaker[Session], older_than: timedelta
) -> list[str]:
    """Start the workflows of reports still `queued` after `older_than` (their starter died before starting
    them). Safe to run from every worker at once: a report's workflow can only be started once."""
    with sessions() as session:
        stranded = report_store.queued_reports(session, older_than=older_than)
    started = []
    for report in stranded:
        if await start_report(client, settings, str(report.id), list(report.component_names)):
            log.warning("started the stranded report %s", report.id)
            started.append(str(report.id))
    return started
