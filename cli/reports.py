"""`workbench report ...`: queue reports, follow their progress, print their status."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from cli.common import console, fail, sessions_for
from workbench.config import Settings, get_settings

app = typer.Typer(help="Report runs.", no_args_is_help=True)


def parse_parameters(items: list[str]) -> dict[str, dict[str, Any]]:
    """`component.name=value` items as per-component parameters; a value is JSON when it parses, else a string."""
    parameters: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, raw = item.partition("=")
        component, dot, name = target.partition(".")
        if not sep or not dot or not component or not name:
            raise fail(f"--param {item!r}: expected COMPONENT.NAME=VALUE, e.g. themes.n_themes=8")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        parameters.setdefault(component, {})[name] = value
    return parameters


def watch_report(settings: Settings, report_id: uuid.UUID, timeout: float) -> str:
    """Show a progress bar per component until the report finishes; returns its final status."""
    from workbench.reports.views import report_status_view
    from workbench.storage import reports as store

    sessions = sessions_for(settings)
    deadline = time.monotonic() + timeout
    with Progress(TextColumn("{task.description:<16}"), BarColumn(), TextColumn("{task.fields[state]}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}
        while True:
            with sessions() as session:
                report = store.load_report(session, report_id=report_id)
                if report is None:
                    raise fail(f"report {report_id} not found")
                view = report_status_view(report)
            for c in view.components:
                if c.name not in tasks:
                    tasks[c.name] = progress.add_task(c.name, total=1, state=c.status.value)
                progress.update(tasks[c.name], total=1, completed=c.progress, state=c.status.value)
            if view.status.finished:
                return view.status.value
            if time.monotonic() > deadline:
                raise fail(f"report {report_id} still {view.status.value} after {timeout:.0f} s", code=3)
            time.sleep(0.25)


@app.command("generate")
def report_generate(
    survey_id: Annotated[uuid.UUID, typer.Argument(help="The survey to report on")],
    component: Annotated[list[str] | None, typer.Option(
        "--component", "-c", help="Run only these components and what they need (repeatable)")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="A component parameter, COMPONENT.NAME=VALUE (repeatable; VALUE is JSON or text), "
                              "e.g. -p themes.n_themes=8")] = None,
    wait: Annotated[bool, typer.Option(help="Show progress and wait for the report to finish")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds")] = 1800,
) -> None:
    """Queue a report run on Temporal; prints the report id (and, with --wait, the outcome)."""
    from workbench.reports.links import ReportLinks
    from workbench.reports.request import ReportRequestError
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID
    from workers.starter import TemporalUnavailable, connect, queue_report

    settings = get_settings()
    parameters = parse_parameters(param or [])
    try:
        report = asyncio.run(queue_report(
            sessions=sessions_for(settings), settings=settings, client=lambda: connect(settings),
            organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id, components=component,
            parameters=parameters,
        ))
    except ReportRequestError as exc:
        raise fail(f"{exc.field}: {exc}") from None
    except TemporalUnavailable as exc:
        raise fail(f"{exc} (report {exc.report_id} is marked failed)") from None
    console.print(f"report {report.id} queued: {', '.join(report.component_names)}", highlight=False)
    if wait:
        status = watch_report(settings, report.id, timeout)
        console.print(f"report {report.id}: {status}")
        console.print(f"  {ReportLinks.of(report.id, settings.base_url).page}", highlight=False, markup=False)
        if status != "completed":
            raise typer.Exit(1)


@app.command("status")
def report_status(report_id: Annotated[uuid.UUID, typer.Argument()]) -> None:
    """Print a report's status and each component's progress."""
    from workbench.reports.views import report_status_view
    from workbench.storage import reports as store

    settings = get_settings()
    with sessions_for(settings)() as session:
        report = store.load_report(session, report_id=report_id)
        if report is None:
            raise fail(f"report {report_id} not found")
        view = report_status_view(report, settings.base_url)
    console.print(f"report {view.report_id}: {view.status.value}" + (f" — {view.error}" if view.error else ""),
                  highlight=False, markup=False)
    for c in view.components:
        line = f"  {c.name:<16} {c.status.value:<10} {c.cells_done}/{c.cells_total} cells"
        if c.error and c.status != "completed":
            line += f"  {c.error.get('message', '')}"
        console.print(line, highlight=False, markup=False)
    console.print(f"  {view.links.page}", highlight=False, markup=False)


@app.command("cancel")
def report_cancel(
    report_id: Annotated[uuid.UUID, typer.Argument()],
    wait: Annotated[bool, typer.Option(help="Wait until the report is cancelled")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds")] = 120,
) -> None:
    """Cancel a queued or running report: its kernels stop, unfinished components become cancelled."""
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID
    from workers.starter import CancelRefused, TemporalUnavailable, cancel_report, connect

    settings = get_settings()
    try:
        asyncio.run(cancel_report(sessions=sessions_for(settings), client=lambda: connect(settings),
                                  organization_id=DEFAULT_ORGANIZATION_ID, report_id=report_id))
    except (CancelRefused, TemporalUnavailable) as exc:
        raise fail(str(exc)) from None
    console.print(f"report {report_id}: cancel requested", highlight=False)
    if wait:
        console.print(f"report {report_id}: {watch_report(settings, report_id, timeout)}", highlight=False)


@app.command("rerun")
def report_rerun(
    report_id: Annotated[uuid.UUID, typer.Argument()],
    component: Annotated[str, typer.Argument(help="The component to run again (what reads its result reruns too)")],
    wait: Annotated[bool, typer.Option(help="Show progress and wait for the rerun to finish")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds")] = 1800,
) -> None:
    """Rerun one component of a finished report with its current notebook, on the report's frozen snapshot."""
    from workbench.reports.rerun import RerunRefused
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID
    from workers.starter import TemporalUnavailable, connect, rerun_component

    settings = get_settings()
    try:
        asyncio.run(rerun_component(sessions=sessions_for(settings), settings=settings,
                                    client=lambda: connect(settings), organization_id=DEFAULT_ORGANIZATION_ID,
                                    report_id=report_id, component=component))
    except (RerunRefused, TemporalUnavailable) as exc:
        raise fail(str(exc)) from None
    console.print(f"report {report_id}: rerunning {component}", highlight=False)
    if wait:
        status = watch_report(settings, report_id, timeout)
        console.print(f"report {report_id}: {status}", highlight=False)
        if status != "completed":
            raise typer.Exit(1)
