"""Report runs on the real Temporal dev server with the real worker, notebooks and SQLite."""

from __future__ import annotations

import json
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from tests.conftest import SAMPLE_PATH
from workbench.config import REPO_ROOT, Settings
from workbench.reports.request import create_report_run
from workbench.reports.views import report_status_view
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workbench.surveys.imports import parse_responses, read_survey_file
from workers.shared import ReportOutcome
from workers.starter import queue_report as queue_through_the_door
from workers.starter import start_report, start_stranded_reports
from workers.worker import build_worker, executor_threads

pytestmark = pytest.mark.temporal


def load_survey(settings: Settings, responses: int = 300) -> uuid.UUID:
    definition, raw = read_survey_file(SAMPLE_PATH)
    records = parse_responses(definition, raw[:responses], fmt="json")
    with transaction(make_sessionmaker(make_engine(settings.effective_database_url))) as session:
        survey = survey_store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        survey_store.add_responses(session, survey_id=survey.id, records=records)
        return survey.id


def queue_report(settings: Settings, survey_id: uuid.UUID, names: list[str] | None):  # type: ignore[no-untyped-def]
    """A queued report, as the API stores it before starting the workflow."""
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    with transaction(sessions) as session:
        report = create_report_run(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id,
                                   component_names=names, notebooks_dir=settings.notebooks_dir)
    return sessions, report


async def generate(env, settings: Settings, survey_id: uuid.UUID, names=None, parameters=None):  # type: ignore[no-untyped-def]
    """Queue a report through the one door the API and the CLI use, and run it on a real worker."""
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))

    async def client():  # type: ignore[no-untyped-def]
        return env.client

    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(env.client, settings, executor, sessions):
            report = await queue_through_the_door(
                sessions=sessions, settings=settings, client=client, organization_id=DEFAULT_ORGANIZATION_ID,
                survey_id=survey_id, components=names, parameters=parameters)
            outcome = await env.client.get_workflow_handle(str(report.id), result_type=ReportOutcome).result()
    return report.id, outcome, sessions


async def test_a_report_runs_every_component_and_stores_json_html_and_notebook(
    temporal_env, settings, database_url
) -> None:
    settings = settings.model_copy(update={"database_url": database_url})  # SQLite and PostgreSQL
    survey_id = load_survey(settings)
    report_id, outcome, sessions = await generate(temporal_env, settings, survey_id)
    assert outcome.status == "completed", outcome
    with sessions() as session:
        report = report_store.load_report(session, report_id=report_id)
        assert report.status == "completed" and report.completed_at is not None
        rows = report_store.component_documents(session, report_id=report_id)
        assert [r.component_type for r in rows] == ["basic_stats", "sentiment", "themes", "segments", "visualizations",
                                                    "summary"]
        for row in rows:
            assert row.status == "completed" and row.attempts == 1 and row.error is None
            assert row.cells_done == row.cells_total > 0
            assert row.result and row.html and "<script" not in row.html.lower()
            nbformat.validate(nbformat.reads(row.notebook, as_version=4))
        basic = rows[0].result
        assert basic["response_count"] == 300
        assert report_store.snapshot_response_count(session, report_id=report_id) == 300
    # the work folder is cleaned up
    assert not any((settings.data_dir / "work").glob(f"{report_id}/*"))


def broken_notebooks(tmp_path: Path, name: str, code: str) -> Path:
    """A copy of the notebooks folder where `name` has an extra failing cell after the parameters."""
    folder = tmp_path / "notebooks"
    shutil.copytree(REPO_ROOT / "notebooks", folder, ignore=shutil.ignore_patterns("data"))
    nb = nbformat.read(folder / f"{name}.ipynb", as_version=4)
    position = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    nb.cells.insert(position, nbformat.v4.new_code_cell(code))
    nbformat.write(nb, folder / f"{name}.ipynb")
    return folder


async def test_a_notebook_that_raises_fails_its_component_only(temporal_env, settings, tmp_path) -> None:
    settings = settings.model_copy(update={"notebooks_dir": broken_notebooks(
        tmp_path, "sentiment", "print('about to fail')\nraise ValueError('engine unavailable: <b>oops</b>')")})
    survey_id = load_survey(settings, responses=120)
    report_id, outcome, sessions = await generate(temporal_env, settings, survey_id)
    assert outcome.status == "partial"
    assert outcome.failed_components == ["sentiment", "summary"]  # summary reads sentiment: skipped
    with sessions() as session:
        report = report_store.load_report(session, report_id=report_id)
        assert report.status == "partial" and "sentiment" in report.error
        public = report_status_view(report)  # what GET /api/v1/reports/{id}/status answers
        assert public.failed_components == ["sentiment", "summary"] and public.progress == 1.0
        rows = {r.component_type: r for r in report_store.component_documents(session, report_id=report_id)}
        failed = rows.pop("sentiment")
        assert failed.status == "failed"
        assert failed.attempts == 1  # a notebook error is not retried
        assert failed.error["ename"] == "ValueError"
        assert "engine unavailable" in failed.error["evalue"]
        executed = nbformat.reads(failed.notebook, as_version=4)
        assert executed.cells[failed.error["cell_index"]].source.startswith("print('about to fail')")
        assert failed.html and "about to fail" in failed.html and "<b>oops</b>" not in failed.html
        assert failed.result is None
        skipped = rows.pop("summary")
        assert skipped.status == "skipped" and "needs sentiment" in skipped.error["message"]
        assert {r.status for r in rows.values()} == {"completed"}


async def test_a_notebook_without_a_result_is_a_failed_component(temporal_env, settings, tmp_path) -> None:
    folder = broken_notebooks(tmp_path, "themes", "pass")
    nb = nbformat.read(folder / "themes.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if "emit_result(" not in c.source]
    nbformat.write(nb, folder / "themes.ipynb")
    settings = settings.model_copy(update={"notebooks_dir": folder})
    survey_id = load_survey(settings, responses=120)
    report_id, outcome, sessions = await generate(temporal_env, settings, survey_id, ["basic_stats", "themes"])
    assert outcome.status == "partial" and outcome.failed_components == ["themes"]
    with sessions() as session:
        row = report_store.get_component(session, report_id=report_id, name="themes", with_documents=True)
        assert row.status == "failed" and row.error["ename"] == "ResultError"
        assert "without emitting a result" in row.error["message"]
        assert row.notebook is not None and row.html is not None


async def test_a_report_of_a_survey_that_was_emptied_fails_cleanly(temporal_env, settings) -> None:
    survey_id = load_survey(settings, responses=5)
    sessions, report = queue_report(settings, survey_id, ["basic_stats"])
    with transaction(sessions) as session:  # responses deleted between the request and the run
        from sqlalchemy import delete

        from workbench.storage.models import Response
        session.execute(delete(Response).where(Response.survey_id == survey_id))
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions):
            await start_report(temporal_env.client, settings, str(report.id), ["basic_stats"])
            outcome = await temporal_env.client.get_workflow_handle(str(report.id), result_type=ReportOutcome).result()
    assert outcome.status == "failed"
    with sessions() as session:
        stored = report_store.load_report(session, report_id=report.id)
        assert stored.status == "failed" and "no responses" in stored.error
    assert json.dumps(outcome.__dict__)  # the outcome is small, JSON-able metadata


async def test_a_report_whose_start_was_lost_is_started_by_a_worker_once(temporal_env, settings) -> None:
    """The API died between storing the report and starting its workflow: recovery starts it, exactly once."""
    from datetime import timedelta

    survey_id = load_survey(settings, responses=50)
    sessions, report = queue_report(settings, survey_id, ["basic_stats"])
    # too young to be stranded: left alone (the API may be starting it right now)
    assert await start_stranded_reports(temporal_env.client, settings, sessions, timedelta(minutes=1)) == []
    started = await start_stranded_reports(temporal_env.client, settings, sessions, timedelta(0))
    assert started == [str(report.id)]
    # a second worker doing the same finds it started already; the API's own late start is a no-op too
    assert await start_stranded_reports(temporal_env.client, settings, sessions, timedelta(0)) == []
    assert await start_report(temporal_env.client, settings, str(report.id), ["basic_stats"]) is False
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions):
            handle = temporal_env.client.get_workflow_handle(str(report.id), result_type=ReportOutcome)
            assert (await handle.result()).status == "completed"
    assert await start_stranded_reports(temporal_env.client, settings, sessions, timedelta(0)) == []


async def test_a_worker_can_store_the_pdf_when_the_report_finishes(temporal_env, settings) -> None:
    from workbench.rendering.pdf import PDF_TEMPLATE_VERSION

    settings = settings.model_copy(update={"render_pdf_when_finished": True})
    survey_id = load_survey(settings, responses=50)
    report_id, outcome, sessions = await generate(temporal_env, settings, survey_id, ["basic_stats"])
    assert outcome.status == "completed"
    with sessions() as session:
        pdf = report_store.get_document(session, report_id=report_id, kind="pdf",
                                        template_version=PDF_TEMPLATE_VERSION)
        assert pdf is not None and pdf.startswith(b"%PDF")
        assert report_store.downloads(session, report_id=report_id) == []  # stored ahead, not downloaded
