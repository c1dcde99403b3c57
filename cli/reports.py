"""`workbench report ...`: queue reports, follow their progress, print their status."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from cli.common import console, fail, sessions_for
from workbench.config import Settings, get_settings

app = typer.Typer(help="Report runs.", no_args_is_help=True)


def watch_report(settings: Settings, report_id: uuid.UUID, timeout: float) -> str:
    """Show a progress bar per component until the report finishes; returns its final status."""
    from workbench.storage import reports as store
    from workbench.storage.models import ReportStatus

    sessions = sessions_for(settings)
    deadline = time.monotonic() + timeout
    with Progress(TextColumn("{task.description:<16}"), BarColumn(), TextColumn("{task.fields[state]}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}
        while True:
            with sessions() as session:
                report = store.get_report(session, report_id=report_id)
                assert report is not None
                for c in report.components:
                    if c.component_type not in tasks:
                        tasks[c.component_type] = progress.add_task(c.component_type, total=1, state="pending")
                    done = c.cells_total if c.status in ("completed", "failed") else c.cells_done
                    progress.update(tasks[c.component_type], total=max(c.cells_total, 1), completed=done,
                                    state=c.status)
                status = report.status
            if ReportStatus(status).finished:
                return status
            if time.monotonic() > deadline:
                raise fail(f"report {report_id} still {status} after {timeout:.0f} s", code=3)
            time.sleep(0.25)


@app.command("generate")
def report_generate(
    survey_id: Annotated[uuid.UUID, typer.Argument(help="The survey to report on")],
    component: Annotated[list[str] | None, typer.Option("--component", "-c",
                                                        help="Run only these components (repeatable)")] = None,
    wait: Annotated[bool, typer.Option(help="Show progress and wait for the report to finish")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds")] = 1800,
) -> None:
    """Queue a report run on Temporal; prints the report id (and, with --wait, the outcome)."""
    from temporalio.client import Client

    from workbench.report_runs import ReportRequestError, create_report_run
    from workbench.storage.db import transaction
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID
    from workers.starter import start_report

    settings = get_settings()
    try:
        with transaction(sessions_for(settings)) as session:
            report = create_report_run(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id,
                                       component_names=component)
    except ReportRequestError as exc:
        raise fail(f"{exc.field}: {exc}") from None

    async def start() -> None:
        client = await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)
        await start_report(client, settings, str(report.id), list(report.component_names))

    try:
        asyncio.run(start())
    except Exception as exc:
        from workbench.pipeline import fail_report

        fail_report(sessions_for(settings), report.id, f"could not start the run: {exc}")
        raise fail(f"could not reach Temporal at {settings.temporal_address}: {exc}") from None
    console.print(f"report {report.id} queued")
    if wait:
        status = watch_report(settings, report.id, timeout)
        console.print(f"report {report.id}: {status}")
        console.print(f"  {settings.base_url}/reports/{report.id}")
        if status != "completed":
            raise typer.Exit(1)


@app.command("status")
def report_status(report_id: Annotated[uuid.UUID, typer.Argument()]) -> None:
    """Print a report's status and each component's progress."""
    from workbench.storage import reports as store

    with sessions_for(get_settings())() as session:
        report = store.get_report(session, report_id=report_id)
        if report is None:
            raise fail(f"report {report_id} not found")
        console.print(f"report {report.id}: {report.status}" + (f" — {report.error}" if report.error else ""))
        for c in report.components:
            console.print(f"  {c.component_type:<16} {c.status:<10} {c.cells_done}/{c.cells_total} cells")


