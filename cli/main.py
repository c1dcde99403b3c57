"""`workbench`: run the embedded stack, a worker or the API; import surveys; generate reports."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cli import admin, admin_data, eval, notebooks, reports, surveys
from cli.common import console, fail
from cli.up import up
from workbench.config import get_settings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
kernel_app = typer.Typer(help="The Jupyter kernel the notebooks run on.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(surveys.app, name="survey")
app.add_typer(reports.app, name="report")
app.add_typer(kernel_app, name="kernel")
app.add_typer(notebooks.app, name="notebooks")
app.add_typer(eval.app, name="eval")
app.add_typer(admin.app, name="admin")
app.add_typer(admin_data.retention_app, name="retention")
app.command("survey-delete")(admin_data.survey_delete)
app.command()(up)
app.command()(notebooks.lab)


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
def worker(
    queues: Annotated[str, typer.Option(
        help="Task queues to serve, comma-separated: reports (workflows and bookkeeping), notebooks (components), "
             "ai (components that call a model), batch; or all")] = "all",
) -> None:
    """Run a Temporal worker for report runs (stops gracefully on SIGTERM)."""
    from workers.queues import parse_queues
    from workers.worker import main as worker_main

    try:
        selected = parse_queues(queues)
    except ValueError as exc:
        raise fail(f"--queues: {exc}") from None
    worker_main(selected)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default: WORKBENCH_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: WORKBENCH_API_PORT)")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, max=64, help="Processes serving the port (default: WORKBENCH_API_WORKERS, 1); each has its own caches "
                            "and its share of the rate limits, as replicas do")] = None,
) -> None:
    """Serve the HTTP API and report pages."""
    import uvicorn

    from api.main import create_app

    settings = get_settings()
    host, port, workers = host or settings.api_host, port or settings.api_port, workers or settings.api_workers
    if workers > 1:  # each process builds the app from the same environment (uvicorn needs it by import path)
        uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers)
    else:
        uvicorn.run(create_app(settings), host=host, port=port)


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
