"""`ScheduledReportWorkflow`: what a report schedule's Temporal Schedule starts each time it fires (on the `reports`
task queue; the schedule itself is made by `workers.schedules`).

Every report needs its stored row first (the one door), so the schedule does not start `ReportWorkflow` itself:
this workflow makes the run's report with the `create_scheduled_report` step (`create_report_run`, checked as
`queue_report` checks a request; one report per run, whatever the retries, keyed by this workflow's id, which
Temporal makes unique per scheduled time) and then runs it as a child `ReportWorkflow` whose id is the report id,
as a report asked alone runs. It lasts as long as the report does, so the schedule's overlap policy (skip) keeps a
schedule to one report at a time. A run that cannot become a report (the survey was emptied, a parameter no longer
fits its notebook) is skipped with the reason on the schedule; a schedule whose row is gone (deleted, or its
survey was, while Temporal was unreachable) deletes its Temporal Schedule.

`SweepWorkflow`: the deployment's share of the periodic sweep (`workers.sweep`), started by the Temporal Schedule
`<task_queue>-sweep` every `sweep_interval_seconds`: stranded reports and batches started, ended runs settled,
reports past retention purged, each an activity on the `reports` queue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from sqlalchemy.orm import Session, sessionmaker

    from workbench.config import Settings
    from workbench.statuses import ReportStatus
    from workers.shared import ReportInput, workflow_id
    from workers.workflows import ReportWorkflow

SHORT_STEP = timedelta(minutes=2)
STEP_BUDGET = timedelta(minutes=10)  # how long a step retries while the database is down
GONE = "ScheduleGone"
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=30), maximum_attempts=0, non_retryable_error_types=[GONE])


def scheduled_workflow_id(schedule_id: str | uuid.UUID) -> str:
    """The id the schedule's action gives its workflows (Temporal appends each run's scheduled time)."""
    return f"scheduled-{schedule_id}"


@dataclass
class ScheduledRunInput:
    schedule_id: str
    run: str  # the scheduled workflow's id: one report per run


@dataclass
class ScheduledRun:
    report_id: str  # "" when the run made no report
    plan: ReportInput | None = None
    task_queue: str | None = None  # where the report's workflow runs
    skipped: str | None = None  # why the run made no report


@dataclass
class ScheduledOutcome:
    schedule_id: str
    report_id: str | None
    status: ReportStatus | None  # None: no report, or it was started by the sweep and runs on its own
    skipped: str | None = None


@workflow.defn
class ScheduledReportWorkflow:
    @workflow.run
    async def run(self, schedule_id: str) -> ScheduledOutcome:
        try:
            made: ScheduledRun = await workflow.execute_activity(
                "create_scheduled_report", ScheduledRunInput(schedule_id, workflow.info().workflow_id),
                result_type=ScheduledRun, start_to_close_timeout=SHORT_STEP, schedule_to_close_timeout=STEP_BUDGET,
                retry_policy=RETRY)
        except ActivityError as exc:
            if not (isinstance(exc.cause, ApplicationError) and exc.cause.type == GONE):
                raise
            await workflow.execute_activity("delete_gone_schedule", schedule_id, start_to_close_timeout=SHORT_STEP,
                                            schedule_to_close_timeout=STEP_BUDGET, retry_policy=RETRY)
            return ScheduledOutcome(schedule_id, None, None, "the schedule no longer exists")
        if not made.report_id or made.plan is None:
            return ScheduledOutcome(schedule_id, None, None, made.skipped)
        try:
            outcome = await workflow.execute_child_workflow(
                ReportWorkflow.run, made.plan, id=workflow_id(made.report_id), task_queue=made.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            )
        except WorkflowAlreadyStartedError:  # the sweep started it (this run's start came late): it runs alone
            return ScheduledOutcome(schedule_id, made.report_id, None)
        except ChildWorkflowError as exc:  # cancelled (by request) or failed; the report row says which
            status = ReportStatus.CANCELLED if isinstance(exc.cause, CancelledError) else ReportStatus.FAILED
            return ScheduledOutcome(schedule_id, made.report_id, status)
        return ScheduledOutcome(schedule_id, made.report_id, outcome.status)


class ScheduleActivities:
    """The scheduled run's steps, on the `reports` queue."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    @activity.defn(name="create_scheduled_report")
    def create_scheduled_report(self, params: ScheduledRunInput) -> ScheduledRun:
        from workbench.reports.schedules import ScheduleGone, create_scheduled_report
        from workbench.storage.db import transaction
        from workers.queues import Queue, queue_name
        from workers.starter import report_input

        try:
            with transaction(self.sessions) as session:
                made = create_scheduled_report(
                    session, schedule_id=uuid.UUID(params.schedule_id), run=params.run,
                    notebooks_dir=self.settings.notebooks_dir,
                    remote_engines=self.settings.openai_api_key is not None)
        except ScheduleGone as exc:
            raise ApplicationError(str(exc), type=GONE, non_retryable=True) from exc
        if made.report_id is None:
            activity.logger.warning("schedule %s: run %s skipped: %s", params.schedule_id, params.run, made.skipped)
            return ScheduledRun("", skipped=made.skipped)
        plan = report_input(self.settings, str(made.report_id), made.component_names, made.parameters)
        return ScheduledRun(str(made.report_id), plan, queue_name(self.settings.task_queue, Queue.REPORTS))

    @activity.defn(name="delete_gone_schedule")
    async def delete_gone_schedule(self, schedule_id: str) -> None:
        from workers.schedules import delete_temporal_schedules

        await delete_temporal_schedules(activity.client(), [schedule_id])
        activity.logger.warning("schedule %s no longer exists: its Temporal schedule was deleted", schedule_id)

    def all(self) -> list[object]:
        return [self.create_scheduled_report, self.delete_gone_schedule]


# --- the periodic sweep ----------------------------------------------------------------------------------------

SWEEP_STEP = timedelta(minutes=5)
SWEEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)  # the next sweep tries again


def sweep_schedule_id(task_queue: str) -> str:
    """`workbench-sweep` for the default task-queue prefix: one sweep schedule per deployment."""
    return f"{task_queue}-sweep"


@dataclass
class SweptReports:
    started: list[str] = field(default_factory=list)  # stranded reports whose workflow was started
    settled: list[str] = field(default_factory=list)  # reports whose workflow ended without settling them
    batches_started: list[str] = field(default_factory=list)  # stranded batches whose workflow was started


@dataclass
class SweepOutcome:
    started: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    reports_purged: int = 0
    errors: list[str] = field(default_factory=list)  # steps that failed (each is tried again next time)
    batches_started: list[str] = field(default_factory=list)


@workflow.defn
class SweepWorkflow:
    @workflow.run
    async def run(self) -> SweepOutcome:
        outcome = SweepOutcome()
        try:
            swept: SweptReports = await workflow.execute_activity(
                "sweep_reports", result_type=SweptReports, start_to_close_timeout=SWEEP_STEP,
                retry_policy=SWEEP_RETRY)
            outcome.started, outcome.settled = swept.started, swept.settled
            outcome.batches_started = swept.batches_started
        except ActivityError as exc:
            outcome.errors.append(f"sweep_reports: {exc.cause or exc}")
        try:
            outcome.reports_purged = await workflow.execute_activity(
                "sweep_retention", result_type=int, start_to_close_timeout=SWEEP_STEP, retry_policy=SWEEP_RETRY)
        except ActivityError as exc:
            outcome.errors.append(f"sweep_retention: {exc.cause or exc}")
        return outcome


class SweepActivities:
    """The sweep's steps (database and Temporal), on the `reports` queue."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    @activity.defn(name="sweep_reports")
    async def sweep_reports(self) -> SweptReports:
        from workers.starter import start_stranded_batches, start_stranded_reports
        from workers.sweep import STRANDED_AFTER, settle_ended_workflows

        client = activity.client()
        started = await start_stranded_reports(client, self.settings, self.sessions, STRANDED_AFTER)
        batches = await start_stranded_batches(client, self.settings, self.sessions, STRANDED_AFTER)
        settled = await settle_ended_workflows(client, self.sessions)
        if started or settled or batches:
            activity.logger.info("sweep: started %s, batches started %s, settled %s", started, batches, settled)
        return SweptReports(started, settled, batches)

    @activity.defn(name="sweep_retention")
    def sweep_retention(self) -> int:
        from workers.sweep import purge_retention

        return purge_retention(self.settings, self.sessions)

    def all(self) -> list[object]:
        return [self.sweep_reports, self.sweep_retention]
