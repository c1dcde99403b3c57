"""ReportWorkflow on the time-skipping server, with activities replaced by name: orchestration only."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker

from workbench.config import REPO_ROOT
from workbench.statuses import ComponentStatus, ReportStatus
from workers.shared import (
    ComponentInput,
    ComponentPlan,
    FailReportInput,
    FinishReportInput,
    PreparedReport,
    ReportInput,
    ReportOutcome,
    ReportRef,
    SkipComponentInput,
)
from workers.workflows import ReportWorkflow

pytestmark = pytest.mark.temporal
COMPONENTS = ["basic_stats", "sentiment", "themes", "visualizations"]
NEEDS = {"visualizations": ["basic_stats"]}


def plans(names: list[str], needs: dict[str, list[str]] = NEEDS) -> list[ComponentPlan]:
    return [ComponentPlan(n, [x for x in needs.get(n, []) if x in names]) for n in names]


class FakeActivities:
    """Records the calls; `broken` components fail like a notebook error would."""

    def __init__(self, broken: frozenset[str] = frozenset(), prepare_fails: bool = False,
                 durations: dict[str, float] | None = None, down_until_attempt: dict[str, int] | None = None) -> None:
        self.events: list[str] = []
        self.down_until_attempt = down_until_attempt or {}
        self.attempts: dict[str, int] = {}
        self.finished_with: dict[str, str] | None = None
        self.durations = durations or {}
        self.skipped: dict[str, str] = {}
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
        async def run_component(params: ComponentInput) -> None:
            attempt = activity.info().attempt
            self.attempts[params.component] = attempt
            if attempt < self.down_until_attempt.get(params.component, 0):
                raise RuntimeError("connection refused: the database is down")  # retryable, like an outage
            self.events.append(f"start:{params.component}")
            await asyncio.sleep(self.durations.get(params.component, 0.05))
            self.events.append(f"end:{params.component}")
            if params.component in self.broken:
                raise ApplicationError("cell 3 raised ZeroDivisionError", {"cell_index": 3}, type="NotebookError",
                                       non_retryable=True)

        @activity.defn(name="skip_component")
        async def skip_component(params: SkipComponentInput) -> None:
            self.skipped[params.component] = params.reason

        @activity.defn(name="finish_report")
        async def finish_report(params: FinishReportInput) -> ReportStatus:
            self.finished_with = params.failures
            return ReportStatus.PARTIAL if self.broken else ReportStatus.COMPLETED

        @activity.defn(name="fail_report")
        async def fail_report(params: FailReportInput) -> None:
            self.failed_with = params.message

        @activity.defn(name="notify_report_finished")
        async def notify_report_finished(outcome) -> None:  # type: ignore[no-untyped-def]
            self.notified.append(outcome)

        return [prepare_report, run_component, skip_component, finish_report, fail_report, notify_report_finished]


async def run(env, fake: FakeActivities, components=COMPONENTS, **limits):  # type: ignore[no-untyped-def]
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    report_id = str(uuid.uuid4())
    with ThreadPoolExecutor(4) as executor:
        async with Worker(env.client, task_queue=queue, workflows=[ReportWorkflow], activities=fake.all(),
                          activity_executor=executor):
            handle = await env.client.start_workflow(
                ReportWorkflow.run,
                ReportInput(report_id, plans(list(components)), **limits),
                id=report_id, task_queue=queue,
            )
            outcome = await handle.result()
            progress = await handle.query(ReportWorkflow.progress)
    return outcome, progress


async def test_components_start_at_once_unless_they_need_another(time_skipping_env) -> None:
    # basic_stats is slow: sentiment and themes must not wait for it; visualizations must
    fake = FakeActivities(durations={"basic_stats": 0.3})
    outcome, progress = await run(time_skipping_env, fake)
    assert outcome.status == ReportStatus.COMPLETED and outcome.failed_components == []
    assert sorted(fake.events[:3]) == ["start:basic_stats", "start:sentiment", "start:themes"]
    assert fake.events.index("start:visualizations") > fake.events.index("end:basic_stats")
    assert {name: p.state for name, p in progress.items()} == dict.fromkeys(COMPONENTS, ComponentStatus.COMPLETED)
    assert len(fake.notified) == 1


async def test_a_component_whose_upstream_failed_is_skipped_with_the_reason(time_skipping_env) -> None:
    fake = FakeActivities(broken=frozenset({"basic_stats"}))
    outcome, progress = await run(time_skipping_env, fake)
    assert "start:visualizations" not in fake.events  # never run on missing input
    assert fake.skipped == {"visualizations": "skipped: needs basic_stats, which did not complete"}
    assert progress["visualizations"].state == ComponentStatus.SKIPPED
    assert {progress[n].state for n in ("sentiment", "themes")} == {ComponentStatus.COMPLETED}
    assert sorted(outcome.failed_components) == ["basic_stats", "visualizations"]


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
    assert len(fake.notified) == 1  # a report that could not even start is announced like any other


async def test_a_duplicate_report_id_is_refused(time_skipping_env) -> None:
    from temporalio.exceptions import WorkflowAlreadyStartedError

    fake = FakeActivities()
    queue = f"wf-{uuid.uuid4().hex[:8]}"
    report_id = str(uuid.uuid4())
    async with Worker(time_skipping_env.client, task_queue=queue, workflows=[ReportWorkflow],
                      activities=fake.all()):
        params = ReportInput(report_id, plans(["basic_stats"]))
        handle = await time_skipping_env.client.start_workflow(ReportWorkflow.run, params, id=report_id,
                                                               task_queue=queue)
        with pytest.raises(WorkflowAlreadyStartedError):
            await time_skipping_env.client.start_workflow(ReportWorkflow.run, params, id=report_id,
                                                          task_queue=queue)
        await handle.result()


async def test_an_outage_is_retried_for_minutes_not_a_few_attempts(time_skipping_env) -> None:
    # 9 failed attempts with backoff 1, 2, 4, ... 30 s: about 3 minutes of outage, far past the old 3 attempts
    fake = FakeActivities(down_until_attempt={"themes": 10})
    outcome, progress = await run(time_skipping_env, fake)
    assert outcome.status == ReportStatus.COMPLETED and progress["themes"].state == ComponentStatus.COMPLETED
    assert fake.attempts["themes"] == 10


async def test_an_outage_longer_than_the_budget_fails_the_component_and_says_why(time_skipping_env) -> None:
    fake = FakeActivities(down_until_attempt={"themes": 10_000}, broken=frozenset({"themes"}))
    outcome, progress = await run(time_skipping_env, fake, infrastructure_retry_seconds=60,
                                  component_timeout_seconds=10, max_component_attempts=1)
    assert progress["themes"].state == ComponentStatus.FAILED
    assert outcome.failed_components == ["themes"]
    # finish_report hears why, so the component's row agrees with the report
    assert fake.finished_with is not None and "themes" in fake.finished_with
    assert {progress[n].state for n in ("basic_stats", "sentiment", "visualizations")} == {ComponentStatus.COMPLETED}


HISTORIES = sorted((REPO_ROOT / "tests" / "histories").glob("*.json"))


def test_histories_are_checked_in() -> None:
    assert HISTORIES, "record them with: python -m tests.histories.record"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.name)
async def test_recorded_histories_replay_on_the_current_workflow(path: Path) -> None:
    """Histories recorded from real runs (tests/histories/, one set per workflow version) must replay: a change
    to ReportWorkflow that would break reports already running fails here."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await Replayer(workflows=[ReportWorkflow]).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


@workflow.defn(name="ReportWorkflow")
class ReorderedReportWorkflow(ReportWorkflow):
    """The same workflow with its steps reordered: what an incompatible change looks like."""

    @workflow.run
    async def run(self, params: ReportInput) -> ReportOutcome:
        await workflow.execute_activity("finish_report", ReportRef(params.report_id), result_type=ReportStatus,
                                        start_to_close_timeout=timedelta(minutes=1))
        return await super().run(params)


async def test_an_incompatible_change_fails_the_replay() -> None:
    """The replay test can fail: the recorded history does not replay on a reordered workflow."""
    history = WorkflowHistory.from_json(HISTORIES[0].stem, HISTORIES[0].read_text())
    # Unsandboxed: this test module, which defines the workflow, is not meant to be re-imported in a sandbox.
    replayer = Replayer(workflows=[ReorderedReportWorkflow], workflow_runner=UnsandboxedWorkflowRunner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
