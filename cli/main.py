"""`workbench`: run the embedded stack, a worker or the API; import surveys; generate reports."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from workbench.config import REPO_ROOT, Settings, get_settings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
survey_app = typer.Typer(help="Surveys and responses.", no_args_is_help=True)
report_app = typer.Typer(help="Report runs.", no_args_is_help=True)
kernel_app = typer.Typer(help="The Jupyter kernel the notebooks run on.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(survey_app, name="survey")
app.add_typer(report_app, name="report")
app.add_typer(kernel_app, name="kernel")
console = Console()
err = Console(stderr=True)
SAMPLE = REPO_ROOT / "notebooks" / "data" / "sample_survey.json"


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _sessions(settings: Settings):  # type: ignore[no-untyped-def]
    from workbench.storage.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.effective_database_url))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the configured database."""
    from workbench.storage.migrate import upgrade

    settings = get_settings()
    upgrade(settings.effective_database_url)
    console.print(f"database is up to date: {settings.effective_database_url}")


@kernel_app.command("install")
def kernel_install() -> None:
    """Install the `workbench` kernel spec for this environment (JupyterLab and workers use it)."""
    from workbench.kernelspec import install_kernelspec

    console.print(f"installed kernel spec at {install_kernelspec()}")


@app.command()
def worker() -> None:
    """Run a Temporal worker for report runs (stops gracefully on SIGTERM)."""
    from workers.worker import main as worker_main

    worker_main()


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default: WORKBENCH_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: WORKBENCH_API_PORT)")] = None,
) -> None:
    """Serve the HTTP API and report pages."""
    import uvicorn

    from api.main import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=host or settings.api_host, port=port or settings.api_port)


@app.command()
def temporal() -> None:
    """Run the Temporal dev server in the foreground, persisting to <data_dir>/temporal.db."""
    from cli.stack import temporal_binary

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    host, _, port = settings.temporal_address.rpartition(":")
    os.execv(temporal_binary(), [
        "temporal", "server", "start-dev", "--db-filename", str((settings.data_dir / "temporal.db").resolve()),
        "--ip", host, "--port", port, "--ui-port", str(settings.temporal_ui_port),
    ])


@survey_app.command("import")
def survey_import(
    survey_file: Annotated[Path, typer.Argument(help="Survey definition JSON, or a snapshot file with responses",
                                                exists=True, dir_okay=False)],
    responses: Annotated[Path | None, typer.Option(help="Responses as .csv or .json", exists=True,
                                                   dir_okay=False)] = None,
) -> None:
    """Create a survey (and import its responses) straight into the database; prints the survey id."""
    from workbench.storage import surveys as store
    from workbench.storage.db import transaction
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID
    from workbench.surveys.files import parse_json_responses, read_responses_file, read_survey_file
    from workbench.surveys.validation import ImportValidationError

    settings = get_settings()
    try:
        definition, inline = read_survey_file(survey_file)
        records = []
        if inline is not None:
            records += parse_json_responses(definition, inline)
        if responses is not None:
            records += read_responses_file(definition, responses, {r.respondent_id for r in records
                                                                    if r.respondent_id})
    except ImportValidationError as exc:
        for issue in exc.issues:
            err.print(f"  {issue}", highlight=False)
        raise fail(f"nothing imported: {exc.total} problem(s) in the input") from None
    with transaction(_sessions(settings)) as session:
        survey = store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        if records:
            store.add_responses(session, survey_id=survey.id, records=records)
    console.print(f"survey {survey.id} '{definition.title}': {len(records)} responses imported", highlight=False)


@survey_app.command("list")
def survey_list() -> None:
    """List surveys with their response counts."""
    from workbench.storage import surveys as store
    from workbench.storage.models import DEFAULT_ORGANIZATION_ID

    with _sessions(get_settings())() as session:
        for s in store.list_surveys(session, organization_id=DEFAULT_ORGANIZATION_ID):
            total, completed = store.count_responses(session, survey_id=s.id)
            console.print(f"{s.id}  {s.title}  ({total} responses, {completed} completed)", highlight=False)


def watch_report(settings: Settings, report_id: uuid.UUID, timeout: float) -> str:
    """Show a progress bar per component until the report finishes; returns its final status."""
    from workbench.storage import reports as store
    from workbench.storage.models import ReportStatus

    sessions = _sessions(settings)
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


@report_app.command("generate")
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
        with transaction(_sessions(settings)) as session:
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

        fail_report(_sessions(settings), report.id, f"could not start the run: {exc}")
        raise fail(f"could not reach Temporal at {settings.temporal_address}: {exc}") from None
    console.print(f"report {report.id} queued")
    if wait:
        status = watch_report(settings, report.id, timeout)
        console.print(f"report {report.id}: {status}")
        console.print(f"  {settings.base_url}/reports/{report.id}")
        if status != "completed":
            raise typer.Exit(1)


@report_app.command("status")
def report_status(report_id: Annotated[uuid.UUID, typer.Argument()]) -> None:
    """Print a report's status and each component's progress."""
    from workbench.storage import reports as store

    with _sessions(get_settings())() as session:
        report = store.get_report(session, report_id=report_id)
        if report is None:
            raise fail(f"report {report_id} not found")
        console.print(f"report {report.id}: {report.status}" + (f" — {report.error}" if report.error else ""))
        for c in report.components:
            console.print(f"  {c.component_type:<16} {c.status:<10} {c.cells_done}/{c.cells_total} cells")


@app.command()
def up(
    serve: Annotated[bool, typer.Option(help="Keep serving after the report is ready (Ctrl-C stops)")] = True,
    survey: Annotated[Path, typer.Option(help="Survey to load (snapshot-shaped JSON)", exists=True)] = SAMPLE,
) -> None:
    """The embedded stack end to end: Temporal dev server, SQLite, a worker, the API; loads the sample survey,
    generates a report through the API and prints its URLs."""
    import httpx

    from cli.stack import Stack

    settings = get_settings()
    stack = Stack(settings)
    stack.prepare()
    # SIGTERM must stop the children too (they run in their own sessions, so only we can stop them).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        started = stack.start_temporal()
        console.print(f"Temporal {'dev server started' if started else 'already running'} at "
                      f"{settings.temporal_address}")
        stack.start_worker()
        stack.start_api()
        base = f"http://{settings.api_host}:{settings.api_port}"
        console.print(f"API up at {base} (logs in {stack.log_dir})")
        report_id = _generate_through_api(base, survey)
        status = watch_report(settings, report_id, timeout=settings.component_timeout_seconds * 2)
        _print_summary(base, settings, report_id, status)
        if serve:
            console.print("Serving; press Ctrl-C to stop.")
            while all(p.poll() is None for p in stack.processes.values()):
                time.sleep(1)
            raise fail("a stack process exited; see the logs in " + str(stack.log_dir))
        if status != "completed":
            raise typer.Exit(1)
    except KeyboardInterrupt:
        console.print("stopping")
    except typer.Exit:
        raise  # already reported (it is a RuntimeError too, so it must pass before the next clause)
    except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
        raise fail(f"{exc} (logs in {stack.log_dir})") from None
    finally:
        stack.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _generate_through_api(base: str, survey_path: Path) -> uuid.UUID:
    import json

    import httpx

    data = json.loads(survey_path.read_text())
    definition = {k: v for k, v in data["survey"].items() if k != "id"}
    with httpx.Client(base_url=base, timeout=120) as client:
        created = client.post("/api/v1/surveys", json=definition)
        created.raise_for_status()
        survey_id = created.json()["id"]
        imported = client.post(f"/api/v1/surveys/{survey_id}/responses", json={"responses": data["responses"]})
        imported.raise_for_status()
        console.print(f"survey {survey_id}: {imported.json()['imported']} responses imported")
        queued = client.post("/api/v1/reports", json={"survey_id": survey_id})
        queued.raise_for_status()
        return uuid.UUID(queued.json()["report_id"])


def _print_summary(base: str, settings: Settings, report_id: uuid.UUID, status: str) -> None:
    import httpx

    body = httpx.get(f"{base}/api/v1/reports/{report_id}", timeout=30).json()
    basic = next((c["result"] for c in body["components"] if c["name"] == "basic_stats" and c["result"]), None)
    console.print(f"\nReport {report_id}: [bold]{status}[/]")
    if basic:
        nps = (basic.get("nps") or {}).get("score")
        console.print(f"  {basic['response_count']} responses, completion rate {basic['completion_rate']:.1%}"
                      + (f", NPS {nps:.1f}" if nps is not None else ""))
    for c in body["components"]:
        if c["error"]:
            console.print(f"  {c['name']} failed: {c['error'].get('message')}", highlight=False)
    print(f"  Report page:     {base}/reports/{report_id}")
    print(f"  PDF:             {base}/api/v1/reports/{report_id}/pdf")
    print(f"  Report JSON:     {base}/api/v1/reports/{report_id}")
    print(f"  API docs:        {base}/docs")
    print(f"  Temporal Web UI: http://{settings.temporal_address.rpartition(':')[0]}:{settings.temporal_ui_port}"
                  f"/namespaces/{settings.temporal_namespace}/workflows/{report_id}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
