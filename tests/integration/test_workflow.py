"""ReportWorkflow on the time-skipping server, with activities replaced by name: orchestration only."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from workers.shared import ComponentDone, ComponentInput, FailReportInput, PreparedReport, ReportInput, ReportRef
from workers.workflows import ReportWorkflow

pytestmark = pytest.mark.temporal
COMPONENTS = ["basic_stats", "sentiment", "themes", "visualizations"]


class FakeActivities:
    """Records the calls; `broken` components fail like a notebook error would."""

    def __init__(self, broken: frozenset[str] = frozenset(), prepare_fails: bool = False) -> None:
        self.events: list[str] = []
        self.broken = broken
        self.prepare_fails = prepare_fails
        self.failed_with: str | None = None
        self.notified: list = []

    def all(self) -> list:
        @activity.defn(name="prepare_report")
        async def prepare_report(ref: ReportRef) -> PreparedReport:
            if self.prepare_fails:
                raise ApplicationError("the survey has no responses", type="InvalidReport", non_retryable=True)
            return PreparedReport(ref.report_id, 10)

        @activity.defn(name="run_component")
        async def run_component(params: ComponentInput) -> ComponentDone:
            self.events.append(f"start:{params.component}")
            await asyncio.sleep(0.05)
            self.events.append(f"end:{params.component}")
            if params.component in self.broken:
                raise ApplicationError("cell 3 raised ZeroDivisionError", {"cell_index": 3}, type="NotebookError",
                                       non_retryable=True)
            return ComponentDone(params.report_id, params.component, "completed")

        @activity.defn(name="compile_report")
        async def compile_report(ref: ReportRef) -> str:
            return "partial" if self.broken else "completed"

        @activity.defn(name="fail_report")
        async def fail_report(params: FailReportInput) -> None:
            self.failed_with = params.message

        @activity.defn(name="notify_report_finished")
        async def notify_report_finished(outcome) -> None:  # type: ignore[no-untyped-def]
            self.notified.append(outcome)

        return [prepare_report, run_component, compile_report, fail_report, notify_report_finished]


async def run(env, fake: FakeActivities, components=COMPONENTS):  # type: ignore[no-untyped-def]
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    report_id = str(uuid.uuid4())
    with ThreadPoolExecutor(4) as executor:
        async with Worker(env.client, task_queue=queue, workflows=[ReportWorkflow], activities=fake.all(),
                          activity_executor=executor):
            handle = await env.client.start_workflow(
                ReportWorkflow.run,
                ReportInput(report_id, list(components), first=["basic_stats"]),
                id=report_id, task_queue=queue,
            )
            outcome = await handle.result()
            progress = await handle.query(ReportWorkflow.progress)
    return outcome, progress


async def test_basic_stats_runs_before_the_others_in_parallel(time_skipping_env) -> None:
    fake = FakeActivities()
    outcome, progress = await run(time_skipping_env, fake)
    assert outcome.status == "completed" and outcome.failed_components == []
    assert fake.events[:2] == ["start:basic_stats", "end:basic_stats"]
    rest = fake.events[2:]
    # the other three all start before any of them ends: they run in parallel
    assert sorted(e for e in rest[:3]) == ["start:sentiment", "start:themes", "start:visualizations"]
    assert {name: p.state for name, p in progress.items()} == dict.fromkeys(COMPONENTS, "completed")
    assert len(fake.notified) == 1


async def test_a_failed_component_does_not_stop_the_others(time_skipping_env) -> None:
    fake = FakeActivities(broken=frozenset({"sentiment"}))
    outcome, progress = await run(time_skipping_env, fake)
    assert outcome.status == "partial"
    assert outcome.failed_components == ["sentiment"]
    assert progress["sentiment"].state == "failed"
    assert "ZeroDivisionError" in (progress["sentiment"].error or "")
    assert {progress[n].state for n in ("basic_stats", "themes", "visualizations")} == {"completed"}
    # non-retryable: the broken component ran exactly once
    assert fake.events.count("start:sentiment") == 1


async def test_an_invalid_report_is_failed_without_running_components(time_skipping_env) -> None:
    fake = FakeActivities(prepare_fails=True)
    outcome, _ = await run(time_skipping_env, fake)
    assert outcome.status == "failed"
    assert fake.failed_with == "the survey has no responses"
    assert fake.events == []


async def test_a_duplicate_report_id_is_refused(time_skipping_env) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    fake = FakeActivities()
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    report_id = str(uuid.uuid4())
    async with Worker(time_skipping_env.client, task_queue=queue, workflows=[ReportWorkflow],
                      activities=fake.all()):
        params = ReportInput(report_id, ["basic_stats"], first=["basic_stats"])
        handle = await time_skipping_env.client.start_workflow(ReportWorkflow.run, params, id=report_id,
                                                               task_queue=queue)
        with pytest.raises(WorkflowAlreadyStartedError):
            await time_skipping_env.client.start_workflow(ReportWorkflow.run, params, id=report_id,
                                                          task_queue=queue)
        await handle.result()


async def test_histories_replay_deterministically(time_skipping_env) -> None:
    """A recorded history replays against the current workflow code: changes that break running reports fail."""
    from temporalio.worker import Replayer

    fake = FakeActivities(broken=frozenset({"themes"}))
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    report_id = str(uuid.uuid4())
    async with Worker(time_skipping_env.client, task_queue=queue, workflows=[ReportWorkflow],
                      activities=fake.all()):
        handle = await time_skipping_env.client.start_workflow(
            ReportWorkflow.run, ReportInput(report_id, list(COMPONENTS), first=["basic_stats"]),
            id=report_id, task_queue=queue)
        await handle.result()
    history = await handle.fetch_history()
    result = await Replayer(workflows=[ReportWorkflow]).replay_workflow(history)
    assert result.replay_failure is None
