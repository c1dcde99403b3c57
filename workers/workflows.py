"""`ReportWorkflow`: orchestration only (order, fan-out, timeouts, status). No I/O here."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workbench.statuses import ComponentStatus, ReportStatus
    from workers.shared import (
        ComponentInput,
        ComponentPlan,
        ComponentProgress,
        FailReportInput,
        PreparedReport,
        ReportInput,
        ReportOutcome,
        ReportRef,
        SkipComponentInput,
    )

SHORT_STEP = timedelta(minutes=2)
# Error types the activities raise as non-retryable; listed here too so a retry policy never retries them.
NOT_RETRYABLE = ["ReportNotFound", "InvalidReport", "NotebookError"]
SHORT_RETRY = RetryPolicy(maximum_attempts=5, non_retryable_error_types=NOT_RETRYABLE)


@workflow.defn
class ReportWorkflow:
    """Prepare the snapshot, run every component as soon as the components it needs have completed (skip it
    when one of them did not), settle the report's status, notify."""

    def __init__(self) -> None:
        self._progress: dict[str, ComponentProgress] = {}

    @workflow.run
    async def run(self, params: ReportInput) -> ReportOutcome:
        self._progress = {c.name: ComponentProgress(ComponentStatus.PENDING) for c in params.components}
        ref = ReportRef(params.report_id)
        try:
            await workflow.execute_activity(
                "prepare_report", ref, result_type=PreparedReport,
                start_to_close_timeout=SHORT_STEP, retry_policy=SHORT_RETRY,
            )
        except ActivityError as exc:
            message = _message(exc)
            await workflow.execute_activity(
                "fail_report", FailReportInput(params.report_id, message),
                start_to_close_timeout=SHORT_STEP, retry_policy=SHORT_RETRY,
            )
            outcome = ReportOutcome(params.report_id, ReportStatus.FAILED, [c.name for c in params.components])
            await self._notify(outcome)
            return outcome

        runs: dict[str, asyncio.Task[ComponentStatus]] = {}
        for plan in params.components:  # dependency order, so every need already has its task
            runs[plan.name] = asyncio.create_task(self._run_when_ready(params, plan, [runs[n] for n in plan.needs]))
        await asyncio.gather(*runs.values())

        status = await workflow.execute_activity(
            "finish_report", ref, result_type=ReportStatus, start_to_close_timeout=SHORT_STEP,
            retry_policy=SHORT_RETRY,
        )
        failed = [n for n, p in self._progress.items() if p.state != ComponentStatus.COMPLETED]
        outcome = ReportOutcome(params.report_id, status, failed)
        await self._notify(outcome)
        return outcome

    async def _notify(self, outcome: ReportOutcome) -> None:
        await workflow.execute_activity(
            "notify_report_finished", outcome, start_to_close_timeout=SHORT_STEP, retry_policy=SHORT_RETRY
        )

    async def _run_when_ready(
        self, params: ReportInput, plan: ComponentPlan, needs: list[asyncio.Task[ComponentStatus]]
    ) -> ComponentStatus:
        states = await asyncio.gather(*needs)
        missing = [n for n, s in zip(plan.needs, states, strict=True) if s != ComponentStatus.COMPLETED]
        if missing:
            reason = f"skipped: needs {', '.join(missing)}, which did not complete"
            await workflow.execute_activity(
                "skip_component", SkipComponentInput(params.report_id, plan.name, reason),
                start_to_close_timeout=SHORT_STEP, retry_policy=SHORT_RETRY,
            )
            self._progress[plan.name] = ComponentProgress(ComponentStatus.SKIPPED, reason)
            return ComponentStatus.SKIPPED
        self._progress[plan.name] = ComponentProgress(ComponentStatus.RUNNING)
        try:
            await workflow.execute_activity(
                "run_component",
                ComponentInput(params.report_id, plan.name),
                start_to_close_timeout=timedelta(seconds=params.component_timeout_seconds),
                heartbeat_timeout=timedelta(seconds=params.heartbeat_timeout_seconds),
                retry_policy=RetryPolicy(maximum_attempts=params.max_component_attempts,
                                         non_retryable_error_types=NOT_RETRYABLE),
            )
        except ActivityError as exc:
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
