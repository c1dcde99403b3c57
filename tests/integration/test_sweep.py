"""The worker's periodic sweep on the real Temporal dev server: stranded reports and batches started, ended runs
settled, scratch folders of dead workers removed."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.integration.test_report_run import load_survey, queue_report
from workbench.statuses import ComponentStatus, ReportStatus
from workbench.storage import reports as report_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID, Report, ReportBatch, utcnow
from workers.shared import ReportOutcome
from workers.sweep import STRANDED_AFTER, global_sweep_once, run_sweeper, sweep_once
from workers.worker import build_worker, executor_threads

pytestmark = pytest.mark.temporal


def age(sessions, report_id: uuid.UUID, **columns: timedelta) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        session.execute(update(Report).where(Report.id == report_id).values(
            **{name: utcnow() - delta for name, delta in columns.items()}))


async def test_a_running_worker_starts_a_stranded_report_without_a_restart(temporal_env, settings) -> None:
    settings = settings.model_copy(update={"sweep_interval_seconds": 1})
    survey_id = load_survey(settings, responses=40)
    sessions, report = queue_report(settings, survey_id, ["basic_stats"])  # stored, never started: starter died
    age(sessions, report.id, created_at=timedelta(seconds=30))
    stop = asyncio.Event()
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions):
            sweeper = asyncio.create_task(run_sweeper(temporal_env.client, settings, sessions, stop))
            handle = temporal_env.client.get_workflow_handle(str(report.id), result_type=ReportOutcome)
            outcome = await asyncio.wait_for(_result_when_started(handle), timeout=60)
            stop.set()
            await sweeper
    assert outcome.status == ReportStatus.COMPLETED


async def _result_when_started(handle):  # type: ignore[no-untyped-def]
    from temporalio.service import RPCError

    while True:
        try:
            return await handle.result()
        except RPCError:  # not started yet: the sweeper will
            await asyncio.sleep(0.2)


async def test_a_report_whose_workflow_is_gone_is_settled_with_the_reason(temporal_env, settings) -> None:
    survey_id = load_survey(settings, responses=10)
    sessions, report = queue_report(settings, survey_id, ["basic_stats", "themes"])
    with transaction(sessions) as session:
        report_store.set_report_status(session, report_id=report.id, status=ReportStatus.RUNNING)
        report_store.start_component(session, report_id=report.id, name="basic_stats", cells_total=3)
    age(sessions, report.id, created_at=timedelta(minutes=10), started_at=timedelta(minutes=10))
    result = await sweep_once(temporal_env.client, settings, sessions)
    assert result.settled == [str(report.id)]
    with sessions() as session:
        stored = report_store.load_report(session, report_id=report.id)
        assert stored is not None and stored.status == ReportStatus.FAILED
        assert {c.status for c in stored.components} == {ComponentStatus.FAILED}
        assert "its workflow no longer exists" in (stored.error or "")
    # a second sweep finds nothing left to do
    assert (await sweep_once(temporal_env.client, settings, sessions)).settled == []


async def test_scratch_folders_of_finished_reports_are_removed(temporal_env, settings) -> None:
    survey_id = load_survey(settings, responses=10)
    sessions, running = queue_report(settings, survey_id, ["basic_stats"])
    _, finished = queue_report(settings, survey_id, ["basic_stats"])
    with transaction(sessions) as session:
        report_store.set_report_status(session, report_id=running.id, status=ReportStatus.RUNNING)
        report_store.set_report_status(session, report_id=finished.id, status=ReportStatus.COMPLETED)
    work = settings.data_dir / "work"
    for report_id in (running.id, finished.id, uuid.uuid4()):  # the last one was deleted since
        (work / str(report_id) / "themes").mkdir(parents=True)
        (work / str(report_id) / "themes" / "snapshot.json").write_text("{}")
    (work / "not-a-report").mkdir()
    result = await sweep_once(temporal_env.client, settings, sessions)
    assert result.work_dirs_removed == 2
    assert sorted(p.name for p in work.iterdir()) == sorted([str(running.id), "not-a-report"])


async def test_a_batch_whose_start_was_lost_is_started_once_by_the_sweep(temporal_env, settings) -> None:
    from tests.integration.test_cancel import api
    from workbench.reports import batches
    from workbench.storage import batches as batch_store
    from workers.batches import BatchOutcome, batch_workflow_id
    from workers.starter import start_stranded_batches

    survey_id = load_survey(settings, responses=15)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    made = []
    with transaction(sessions) as session:
        for _ in range(3):  # stored by the API, which died before starting their workflows
            made.append(batches.create_batch(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                             survey_ids=[survey_id], component_names=["basic_stats"],
                                             notebooks_dir=settings.notebooks_dir).id)
    lost, cancelled, fresh = made
    with transaction(sessions) as session:
        session.execute(update(ReportBatch).where(ReportBatch.id.in_([lost, cancelled])).values(
            created_at=utcnow() - timedelta(seconds=30)))
    # Cancelling a batch without a workflow settles it at once (200); the sweep leaves it, and the fresh one.
    async with api(settings, temporal_env.client) as client:
        r = await client.post(f"/api/v1/report-batches/{cancelled}/cancel")
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["cancelled"], r.json()["waiting"]) == ("cancelled", 1, 0)
    result = await global_sweep_once(temporal_env.client, settings, sessions)
    assert result.batches_started == [str(lost)]
    # Still queued until a worker serves it: a second start (another worker's sweep) is refused and harmless.
    assert await start_stranded_batches(temporal_env.client, settings, sessions, STRANDED_AFTER) == []
    handle = temporal_env.client.get_workflow_handle(batch_workflow_id(lost), result_type=BatchOutcome)
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions):
            outcome = await asyncio.wait_for(handle.result(), timeout=60)
    assert (outcome.total, outcome.done, outcome.failed, outcome.cancelled) == (1, 1, 0, 0)
    with sessions() as session:
        statuses = {b: batch_store.load_batch(session, batch_id=b).status for b in made}  # type: ignore[union-attr]
    assert statuses == {lost: "completed", cancelled: "cancelled", fresh: "queued"}
