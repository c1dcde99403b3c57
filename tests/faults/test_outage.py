"""A database outage longer than the old retry window, during a component, on PostgreSQL: the report waits it
out and completes, with one row per component and every row agreeing with the report."""

from __future__ import annotations

import asyncio
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from sqlalchemy.engine import make_url

from tests.integration.test_report_run import load_survey
from tests.tcp_proxy import TcpProxy
from workbench.config import REPO_ROOT
from workbench.statuses import ComponentStatus, ReportStatus
from workbench.storage import reports as report_store
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workers.shared import ReportOutcome
from workers.starter import queue_report
from workers.worker import build_worker, executor_threads

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.temporal]
OUTAGE_SECONDS = 15  # the probe: a 10 s outage failed reports for good within 12 s


def slow_themes(tmp_path: Path) -> Path:
    """Notebooks where themes spends a few seconds in a cell, so the outage lands while it runs."""
    folder = tmp_path / "notebooks"
    shutil.copytree(REPO_ROOT / "notebooks", folder)
    nb = nbformat.read(folder / "themes.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell("import time\ntime.sleep(4)"))
    nbformat.write(nb, folder / "themes.ipynb")
    return folder


async def test_a_database_outage_during_a_component_is_waited_out(
    temporal_env, settings, postgres_url: str, tmp_path: Path
) -> None:
    from tests.conftest import _truncate, share_embedding_cache

    _truncate(postgres_url)
    share_embedding_cache(settings.data_dir)
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    settings = settings.model_copy(update={
        "database_url": through_proxy, "notebooks_dir": slow_themes(tmp_path), "infrastructure_retry_seconds": 300})
    direct = make_sessionmaker(make_engine(postgres_url))  # the test's own view, not through the proxy
    try:
        survey_id = load_survey(settings, responses=150)
        sessions = make_sessionmaker(make_engine(through_proxy))

        async def client():  # type: ignore[no-untyped-def]
            return temporal_env.client

        with ThreadPoolExecutor(executor_threads(settings)) as executor:
            async with build_worker(temporal_env.client, settings, executor, sessions):
                report = await queue_report(sessions=sessions, settings=settings, client=client,
                                            organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id)
                await _until_running(direct, report.id, "themes")
                proxy.cut()
                started = time.monotonic()
                await asyncio.sleep(OUTAGE_SECONDS)
                proxy.restore()
                outcome = await asyncio.wait_for(
                    temporal_env.client.get_workflow_handle(str(report.id), result_type=ReportOutcome).result(),
                    timeout=240)
                waited = time.monotonic() - started
    finally:
        proxy.close()
    assert outcome.status == ReportStatus.COMPLETED, outcome
    assert waited >= OUTAGE_SECONDS
    with direct() as session:
        stored = report_store.load_report(session, report_id=report.id)
        assert stored is not None and stored.status == ReportStatus.COMPLETED
        rows = stored.components
        assert [r.component_type for r in rows] == ["basic_stats", "sentiment", "themes", "segments", "visualizations",
                                                    "summary"]
        assert {r.status for r in rows} == {ComponentStatus.COMPLETED}
        themes = next(r for r in rows if r.component_type == "themes")
        assert themes.attempts >= 2  # the outage cost it an attempt, not the report


async def _until_running(sessions, report_id, name: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(600):
        with sessions() as session:
            row = report_store.get_component(session, report_id=report_id, name=name)
            if row is not None and row.status == ComponentStatus.RUNNING and row.cells_done >= 3:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} never started")
