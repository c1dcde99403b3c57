"""`ReportWorkflow`: orchestration only (order, fan-out, timeouts, status). No I/O here."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from workbench.statuses import ComponentStatus, ReportStatus
    from workers.shared import (
        CancelReportInput,
        ComponentInput,
        ComponentPlan,
        ComponentProgress,
        FailReportInput,
        FinishReportInput,
        PreparedReport,
        ReportInput,
        ReportOutcome,
        ReportRef,
        SkipComponentInput,
    )

SHORT_STEP = timedelta(minutes=2)
# Error types the activities raise as non-retryable; listed here too so a retry policy never retries them.
NOT_RETRYABLE = ["ReportNotFound", "InvalidReport", "NotebookError"]
# Anything else (database down, worker gone) is retried with backoff until the step's time budget is spent:
# attempts are not counted, so an outage of minutes does not fail a report. Kernel deaths are counted by the
# activity itself (workbench.reports.steps), since Temporal cannot tell them apart from an outage.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=30), maximum_attempts=0,
                    non_retryable_error_types=NOT_RETRYABLE)


@workflow.defn
class ReportWorkflow:
    """Prepare the snapshot, run every component as soon as the components it needs have completed (skip it
    when one of them did not), settle the report's status, notify."""

    def __init__(self) -> None:
        self._progress: dict[str, ComponentProgress] = {}
        self._step_budget = timedelta(minutes=10)
        self._runs: dict[str, asyncio.Task[ComponentStatus]] = {}

    @workflow.run
    async def run(self, params: ReportInput) -> ReportOutcome:
        self._progress = {c.name: ComponentProgress(ComponentStatus.PENDING) for c in params.components}
        self._step_budget = timedelta(seconds=params.infrastructure_retry_seconds)
        try:
            return await self._run(params)
        except asyncio.CancelledError:
            await self._settle_cancelled(params)
            raise

    async def _settle_cancelled(self, params: ReportInput) -> None:
        """The report was cancelled: wait until running components have stopped (their activities shut their
        kernels down), then record it. Components that completed keep their results."""
        await asyncio.gather(*self._runs.values(), return_exceptions=True)
        reason = "cancelled by request"
        await self._step("cancel_report", CancelReportInput(params.report_id, reason))
        for name, progress in self._progress.items():
            if not progress.state.finished:
                self._progress[name] = ComponentProgress(ComponentStatus.CANCELLED, reason)
        await self._notify(ReportOutcome(params.report_id, ReportStatus.CANCELLED,
                                         [n for n, p in self._progress.items()
                                          if p.state != ComponentStatus.COMPLETED]))

    async def _run(self, params: ReportInput) -> ReportOutcome:
        ref = ReportRef(params.report_id)
        try:
            await self._step("prepare_report", ref, PreparedReport)
        except ActivityError as exc:
            message = _message(exc)
            await self._step("fail_report", FailReportInput(params.report_id, message))
            outcome = ReportOutcome(params.report_id, ReportStatus.FAILED, [c.name for c in params.components])
            await self._notify(outcome)
            return outcome

        runs = self._runs
        for plan in params.components:  # dependency order, so every need already has its task
            runs[plan.name] = asyncio.create_task(self._run_when_ready(params, plan, [runs[n] for n in plan.needs]))
        # Cancelling the workflow cancels this gather, which cancels every component's task.
        await asyncio.gather(*runs.values())

        failures = {n: p.error or p.state.value for n, p in self._progress.items()
                    if p.state != ComponentStatus.COMPLETED}
        status = await self._step("finish_report", FinishReportInput(params.report_id, failures), ReportStatus)
        failed = list(failures)
        outcome = ReportOutcome(params.report_id, status, failed)
        await self._notify(outcome)
        return outcome

    async def _step(self, name: str, arg: object, result_type: type | None = None) -> Any:
        """A short bookkeeping activity, retried for as long as the infrastructure budget allows."""
        return await workflow.execute_activity(
            name, arg, result_type=result_type, start_to_close_timeout=SHORT_STEP,
            schedule_to_close_timeout=self._step_budget, retry_policy=RETRY,
        )

    async def _notify(self, outcome: ReportOutcome) -> None:
        await self._step("notify_report_finished", outcome)

    async def _run_when_ready(
        self, params: ReportInput, plan: ComponentPlan, needs: list[asyncio.Task[ComponentStatus]]
    ) -> ComponentStatus:
        states = await asyncio.gather(*needs)
        missing = [n for n, s in zip(plan.needs, states, strict=True) if s != ComponentStatus.COMPLETED]
        if missing:
            reason = f"skipped: needs {', '.join(missing)}, which did not complete"
            await self._step("skip_component", SkipComponentInput(params.report_id, plan.name, reason))
            self._progress[plan.name] = ComponentProgress(ComponentStatus.SKIPPED, reason)
            return ComponentStatus.SKIPPED
        self._progress[plan.name] = ComponentProgress(ComponentStatus.RUNNING)
        try:
            await workflow.execute_activity(
                "run_component",
                ComponentInput(params.report_id, plan.name),
                task_queue=plan.task_queue,
                start_to_close_timeout=timedelta(seconds=params.component_timeout_seconds),
                heartbeat_timeout=timedelta(seconds=params.heartbeat_timeout_seconds),
                # Room for every attempt a dead kernel or worker may cost, plus an outage's worth of retries.
                schedule_to_close_timeout=timedelta(
                    seconds=params.component_timeout_seconds * params.max_component_attempts
                    + params.infrastructure_retry_seconds),
                retry_policy=RETRY,
                # On cancel, wait until the activity has stopped its kernel, so a cancelled report leaves none.
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                self._progress[plan.name] = ComponentProgress(ComponentStatus.CANCELLED, "cancelled by request")
                raise asyncio.CancelledError() from exc
            # One failed component does not stop the others; finish_report reads the stored errors.
            self._progress[plan.name] = ComponentProgress(ComponentStatus.FAILED, _message(exc))
            return ComponentStatus.FAILED
        self._progress[plan.name] = ComponentProgress(ComponentStatus.COMPLETED)
        return ComponentStatus.COMPLETED

    @workflow.query
    def progress(self) -> dict[str, ComponentProgress]:
        return dict(self._progress)


def _message(exc: ActivityError) -> str:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or exc)
