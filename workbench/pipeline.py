"""The steps of a report run, as plain functions over the database (Temporal activities wrap these).

Each step is safe to repeat: a retried step overwrites what an earlier attempt stored, never adds to it.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nbformat
from sqlalchemy.orm import Session, sessionmaker

from workbench.components import components
from workbench.config import Settings
from workbench.rendering.html import render_component_html
from workbench.results import ResultError, extract_result
from workbench.runner import NotebookError, NotebookRun, run_notebook
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.db import transaction
from workbench.storage.models import ComponentStatus, ReportStatus

log = logging.getLogger(__name__)
ProgressCallback = Callable[[int, int], None]


class ReportNotFound(LookupError):
    """The report id is unknown (deleted, or never created)."""


class InvalidReport(ValueError):
    """The report cannot run as requested (no responses, unknown component): retrying will not help."""


@dataclass(frozen=True)
class ComponentOutcome:
    name: str
    status: ComponentStatus
    error: dict[str, Any] | None = None


def prepare_report(sessions: sessionmaker[Session], report_id: uuid.UUID) -> int:
    """Validate the report, mark it running and freeze its input; returns the number of responses."""
    with transaction(sessions) as session:
        report = report_store.get_report(session, report_id=report_id)
        if report is None:
            raise ReportNotFound(f"report {report_id} does not exist")
        unknown = [n for n in report.component_names if n not in components]
        if unknown:
            raise InvalidReport(f"unknown components: {', '.join(unknown)}")
        survey = survey_store.get_survey(session, organization_id=report.organization_id, survey_id=report.survey_id)
        if survey is None:
            raise InvalidReport(f"survey {report.survey_id} no longer exists")
        snapshot = report_store.load_snapshot(session, report_id=report_id)
        if snapshot is None:
            snapshot = survey_store.build_snapshot(session, survey=survey)
            report_store.save_snapshot(session, report_id=report_id, snapshot=snapshot)
        if not snapshot.responses:
            raise InvalidReport("the survey has no responses")
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.RUNNING)
        return len(snapshot.responses)


def fail_report(sessions: sessionmaker[Session], report_id: uuid.UUID, message: str) -> None:
    with transaction(sessions) as session:
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.FAILED, error=message)


def execute_component(
    sessions: sessionmaker[Session],
    settings: Settings,
    report_id: uuid.UUID,
    name: str,
    on_progress: ProgressCallback | None = None,
) -> ComponentOutcome:
    """Run one component's notebook on the report's snapshot and store result, HTML and notebook.

    The executed notebook and its HTML are stored whatever happens. Raises `NotebookError` (don't retry)
    after storing a deterministic failure; other exceptions (kernel died, database down) propagate for a retry.
    """
    spec = components.get(name)
    notebook_path = settings.notebooks_dir / spec.notebook
    work_dir = settings.data_dir / "work" / str(report_id) / name
    shutil.rmtree(work_dir, ignore_errors=True)  # leftovers of an attempt on a worker that died
    work_dir.mkdir(parents=True)
    try:
        with sessions() as session:
            snapshot = report_store.load_snapshot(session, report_id=report_id)
        if snapshot is None:
            raise InvalidReport(f"report {report_id} has no snapshot; prepare it first")
        snapshot_path = work_dir / "snapshot.json"
        snapshot_path.write_text(snapshot.model_dump_json())

        source = nbformat.read(str(notebook_path), as_version=4)
        cells_total = sum(1 for c in source.cells if c.cell_type == "code") + 1  # + papermill's injected cell
        with transaction(sessions) as session:
            report_store.start_component(session, report_id=report_id, name=name, cells_total=cells_total)

        def progress(done: int, total: int) -> None:
            with transaction(sessions) as session:
                report_store.set_component_progress(session, report_id=report_id, name=name, cells_done=done)
            if on_progress:
                on_progress(done, total)

        run = run_notebook(
            notebook_path, work_dir / "executed.ipynb", {"snapshot_path": str(snapshot_path)},
            kernel_name=settings.kernel_name, cwd=work_dir, cell_timeout=settings.cell_timeout_seconds,
            on_cell=progress,
        )
        result, error = _result_or_error(run, spec.required_keys)
        with transaction(sessions) as session:
            report_store.finish_component(
                session, report_id=report_id, name=name,
                status=ComponentStatus.COMPLETED if error is None else ComponentStatus.FAILED,
                result=result, html=_render(render_component_html, run.notebook),
                notebook=nbformat.writes(run.notebook) if run.notebook is not None else None,
                error=_error_info(error), cells_done=_executed_cells(run.notebook),
            )
        if error is not None:
            raise error
        return ComponentOutcome(name, ComponentStatus.COMPLETED)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _result_or_error(
    run: NotebookRun, required_keys: frozenset[str]
) -> tuple[dict[str, Any] | None, Exception | None]:
    if run.error is not None or run.notebook is None:
        return None, run.error
    try:
        return extract_result(run.notebook, required_keys), None
    except ResultError as exc:
        return None, NotebookError(str(exc), ename="ResultError", evalue=str(exc))


def _error_info(error: Exception | None) -> dict[str, Any] | None:
    if error is None:
        return None
    if isinstance(error, NotebookError):
        return error.as_dict()
    return {"message": str(error), "ename": type(error).__name__}


def _executed_cells(nb: Any) -> int | None:
    if nb is None:
        return None
    return sum(1 for c in nb.cells if c.cell_type == "code" and c.get("execution_count"))


def _render(render: Callable[[Any], str], nb: Any) -> str | None:
    if nb is None:
        return None
    try:
        return render(nb)
    except Exception:  # a rendering bug must not hide the result or the notebook
        log.exception("rendering the component HTML failed")
        return None


def compile_report(sessions: sessionmaker[Session], report_id: uuid.UUID) -> ReportStatus:
    """Set the report's final status from its components' states; returns it."""
    with transaction(sessions) as session:
        report = report_store.get_report(session, report_id=report_id)
        if report is None:
            raise ReportNotFound(f"report {report_id} does not exist")
        failed = [c for c in report.components if c.status != ComponentStatus.COMPLETED]
        if not failed:
            status, message = ReportStatus.COMPLETED, None
        else:
            status = ReportStatus.FAILED if len(failed) == len(report.components) else ReportStatus.PARTIAL
            message = "failed components: " + "; ".join(
                f"{c.component_type} ({(c.error or {}).get('message', c.status)})" for c in failed
            )
        report_store.set_report_status(session, report_id=report_id, status=status, error=message)
        return status
