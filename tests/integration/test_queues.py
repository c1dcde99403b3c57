"""Task queues per workload: workers started for some queues serve only those."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.test_report_run import load_survey
from workbench.statuses import ReportStatus
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workers.queues import Queue, parse_queues, queue_name
from workers.shared import ReportOutcome
from workers.starter import queue_report
from workers.worker import build_worker, executor_threads


def test_queue_names_and_parsing() -> None:
    assert queue_name("workbench", Queue.NOTEBOOKS) == "workbench-notebooks"
    assert parse_queues(None) == parse_queues("all") == list(Queue)
    assert parse_queues(" ai, reports ") == [Queue.REPORTS, Queue.AI]
    with pytest.raises(ValueError, match="unknown queues \\['gpu'\\]"):
        parse_queues("reports,gpu")


@pytest.mark.temporal
async def test_components_run_only_where_their_queue_is_served(temporal_env, settings) -> None:
    survey_id = load_survey(settings, responses=60)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))

    async def client():  # type: ignore[no-untyped-def]
        return temporal_env.client

    with ThreadPoolExecutor(executor_threads(settings, [Queue.REPORTS, Queue.NOTEBOOKS])) as executor:
        reports_only = build_worker(temporal_env.client, settings, executor, sessions, [Queue.REPORTS])
        assert [w.task_queue for w in reports_only.workers] == [queue_name(settings.task_queue, Queue.REPORTS)]
        async with reports_only:
            report = await queue_report(sessions=sessions, settings=settings, client=client,
                                        organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id,
                                        components=["basic_stats"])
            handle = temporal_env.client.get_workflow_handle(str(report.id), result_type=ReportOutcome)
            with pytest.raises(asyncio.TimeoutError):  # nobody serves the notebooks queue yet
                await asyncio.wait_for(asyncio.shield(handle.result()), timeout=3)
            async with build_worker(temporal_env.client, settings, executor, sessions, [Queue.NOTEBOOKS]):
                outcome = await asyncio.wait_for(handle.result(), timeout=120)
    assert outcome.status == ReportStatus.COMPLETED
