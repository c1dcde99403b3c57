"""`workbench notebooks check` and `workbench lab`: the analysts' commands (see notebooks/README.md)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import console, err, fail
from workbench.config import get_settings

if TYPE_CHECKING:
    from workbench.notebook_check import NotebookReport

app = typer.Typer(help="Component notebooks.", no_args_is_help=True)

_MARKS = {True: "[green]ok[/]", False: "[bold red]FAIL[/]", None: "[dim]-[/]"}


def report_table(report: NotebookReport) -> Table:
    """One notebook's checks, one row each, with what was found."""
    outcome = "[green]pass[/]" if report.ok else "[bold red]FAIL[/]"
    seconds = "not run" if report.seconds is None else f"{report.seconds:.1f} s"
    table = Table(title=f"{escape(report.notebook)}: {outcome} ({seconds})", title_justify="left", show_header=False,
                  expand=False)
    table.add_column("check", no_wrap=True)
    table.add_column("", justify="center", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for c in report.checks:
        table.add_row(c.name, _MARKS[c.ok], escape(c.detail))  # details quote code, e.g. `list[str]`
    return table


@app.command("check")
def notebooks_check(
    update_sample_results: Annotated[bool, typer.Option(
        "--update-sample-results",
        help="Rewrite notebooks/data/results/*.json with what the notebooks emit now instead of failing")] = False,
) -> None:
    """Run every component notebook in a fresh kernel on the sample survey and check its contract.

    Exits 1 if any notebook fails a check.
    """
    from workbench.notebook_check import check_notebooks

    settings = get_settings()
    started = time.monotonic()
    try:
        reports = check_notebooks(settings, update_sample_results=update_sample_results)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from None
    for r in reports:
        console.print(report_table(r), highlight=False)
    failed = [r.component for r in reports if not r.ok]
    elapsed = time.monotonic() - started
    if failed:
        err.print(f"[bold red]{len(failed)} of {len(reports)} notebooks failed:[/] {', '.join(failed)} "
                  f"({elapsed:.1f} s)", highlight=False)
        raise typer.Exit(1)
    console.print(f"all {len(reports)} notebooks pass ({elapsed:.1f} s)", highlight=False)


def jupyter_lab_binary() -> str:
    # The venv's JupyterLab, so it and its kernels see the project's packages whatever PATH says.
    beside = Path(sys.executable).parent / "jupyter-lab"
    if not beside.exists():
        raise fail(f"JupyterLab is not installed next to {sys.executable}: run `pip install -e '.[lab]'`")
    return str(beside)


def lab(
    port: Annotated[int, typer.Option(help="Port JupyterLab listens on")] = 8888,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open a browser")] = False,
) -> None:
    """Start JupyterLab on the notebooks folder with the `workbench` kernel, the sample data and upstream results."""
    from workbench.kernelspec import install_kernelspec, is_installed
    from workbench.notebook_check import check_notebooks, missing_sample_results

    settings = get_settings()
    jupyter = jupyter_lab_binary()
    if not is_installed():
        console.print(f"installed kernel spec at {install_kernelspec()}", highlight=False)
    missing = missing_sample_results(settings.notebooks_dir)
    if missing:
        # Downstream notebooks read these by default; produce them the way the check does.
        console.print(f"writing sample results for {', '.join(missing)} ...", highlight=False)
        reports = check_notebooks(settings, names=missing, update_sample_results=True)
        for r in reports:
            if not r.ok:
                err.print(f"[yellow]warning:[/] {r.component}: "
                          f"{escape('; '.join(c.detail for c in r.failures) or 'did not run')}", highlight=False)
    args = [jupyter, f"--ServerApp.root_dir={settings.notebooks_dir.resolve()}", f"--port={port}",
            f"--MappingKernelManager.default_kernel_name={settings.kernel_name}"]
    if no_browser:
        args.append("--no-browser")
    if os.geteuid() == 0:  # setup runs as root on a fresh machine (or in a container); Jupyter refuses otherwise
        args.append("--allow-root")
    os.execv(jupyter, args)
