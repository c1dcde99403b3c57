"""Start a report run on Temporal (used by the API and the CLI)."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle

from workbench.components import components
from workbench.config import Settings
from workers.shared import ReportInput, ReportOutcome, workflow_id
from workers.workflows import ReportWorkflow


def report_input(settings: Settings, report_id: str, component_names: list[str]) -> ReportInput:
    return ReportInput(
        report_id=report_id,
        components=list(component_names),
        first=[n for n in component_names if components.get(n).runs_first],
        component_timeout_seconds=settings.component_timeout_seconds,
        heartbeat_timeout_seconds=settings.heartbeat_timeout_seconds,
    )


async def start_report(
    client: Client, settings: Settings, report_id: str, component_names: list[str]
) -> WorkflowHandle[ReportWorkflow, ReportOutcome]:
    return await client.start_workflow(
        ReportWorkflow.run,
        report_input(settings, report_id, component_names),
        id=workflow_id(report_id),
        task_queue=settings.task_queue,
    )
