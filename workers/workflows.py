"""`ReportWorkflow`: orchestration only (order, fan-out, timeouts, status). No I/O here."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workers.shared import (
        ComponentInput,
        ComponentProgress,
        FailReportInput,
        PreparedReport,
        ReportInput,
        ReportOutcome,
        ReportRef,
    )

SHORT_STEP = timedelta(minutes=2)
SHORT_RETRY = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["ReportNotFound", "InvalidReport"])


@workflow.defn
class ReportWorkflow:
    def __init__(self) -> None:
        self._progress: dict[str, ComponentProgress] = {}

    @workflow.run
    async def run(self, params: ReportInput) -> ReportOutcome:
        self._progress = {name: ComponentProgress("pending") for name in params.components}
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
            return ReportOutcome(params.report_id, "failed", list(params.components))

        first = [n for n in params.components if n in params.first]
        rest = [n for n in params.components if n not in params.first]
        for name in first:
            await self._run_component(params, name)
        await asyncio.gather(*(self._run_component(params, name) for name in rest))

        status = await workflow.execute_activity(
            "compile_report", ref, result_type=str, start_to_close_timeout=SHORT_STEP, retry_policy=SHORT_RETRY
        )
        failed = [n for n, p in self._progress.items() if p.state == "failed"]
        outcome = ReportOutcome(params.report_id, status, failed)
        await workflow.execute_activity(
            "notify_report_finished", outcome, start_to_close_timeout=SHORT_STEP, retry_policy=SHORT_RETRY
        )
        return outcome

    async def _run_component(self, params: ReportInput, name: str) -> None:
        self._progress[name] = ComponentProgress("running")
        try:
            await workflow.execute_activity(
                "run_component",
                ComponentInput(params.report_id, name),
                start_to_close_timeout=timedelta(seconds=params.component_timeout_seconds),
                heartbeat_timeout=timedelta(seconds=params.heartbeat_timeout_seconds),
                retry_policy=RetryPolicy(
                    maximum_attempts=params.max_component_attempts,
                    non_retryable_error_types=["NotebookError", "InvalidReport", "ReportNotFound"],
                ),
            )
            self._progress[name] = ComponentProgress("completed")
        except ActivityError as exc:
            # One failed component does not stop the others; compile_report reads the stored errors.
            self._progress[name] = ComponentProgress("failed", _message(exc))

    @workflow.query
    def progress(self) -> dict[str, ComponentProgress]:
        return dict(self._progress)


def _message(exc: ActivityError) -> str:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or exc)
