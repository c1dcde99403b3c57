"""`BatchReportWorkflow`: the reports of a batch as child `ReportWorkflow`s, at most `concurrency` at once, on the
`batch` task queue (the children run on `reports`, as a report asked alone does).

For each item in order it makes the item's report (`create_batch_report`: one report per item whatever the
retries; an item whose survey was deleted or emptied meanwhile counts as failed) and runs it as a child workflow
whose id is the report id. A failed or cancelled child counts as failed and the others go on. After
`continue_after` children (or when Temporal suggests it) it lets the running ones finish and continues as new,
carrying the next item and its counts, so a batch of thousands keeps a short history. Progress: the `progress`
query, and the reports' rows (`workbench.storage.batches.batch_counts`, what the API serves).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from sqlalchemy.orm import Session, sessionmaker

    from workbench.config import Settings
    from workbench.statuses import ReportStatus
    from workers.shared import ReportInput, workflow_id
    from workers.workflows import ReportWorkflow

CONTINUE_AFTER = 300  # children per workflow run before it continues as new (a few thousand history events)
SHORT_STEP = timedelta(minutes=2)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=30), maximum_attempts=0, non_retryable_error_types=["BatchGone"])


def batch_workflow_id(batch_id: str | uuid.UUID) -> str:
    return f"batch-{batch_id}"


@dataclass
class BatchInput:
    batch_id: str
    total: int  # items in the batch
    report: ReportInput  # every report's plan (components, queues, timeouts); report_id is set per child
    reports_task_queue: str  # where the children run
    concurrency: int = 4
    continue_after: int = CONTINUE_AFTER
    # Carried from one run to the next (continue-as-new): the next item and the counts so far.
    next_index: int = 0
    done: int = 0
    failed: int = 0


@dataclass
class BatchItemInput:
    batch_id: str
    index: int


@dataclass
class FinishBatchInput:
    batch_id: str
    done: int
    failed: int


@dataclass
class BatchProgress:
    """What the `progress` query returns."""

    total: int
    done: int  # children completed or partial
    failed: int  # children failed or cancelled, and items that could not become a report
    running: int  # children being made or running
    waiting: int  # items not started yet


@dataclass
class BatchOutcome:
    batch_id: str
    total: int
    done: int
    failed: int


@workflow.defn
class BatchReportWorkflow:
    def __init__(self) -> None:
        self._total = self._next = self._done = self._failed = self._active = 0
        self._budget = timedelta(minutes=10)

    @workflow.run
    async def run(self, params: BatchInput) -> BatchOutcome:
        self._total, self._next, self._done, self._failed = params.total, params.next_index, params.done, params.failed
        self._budget = timedelta(seconds=params.report.infrastructure_retry_seconds)
        if params.next_index == 0:
            await self._step("start_batch", params.batch_id)
        started = 0
        children: list[asyncio.Task[None]] = []
        while self._next < self._total:
            if started >= params.continue_after or (started and workflow.info().is_continue_as_new_suggested()):
                await workflow.wait_condition(lambda: self._active == 0)  # children end before this run does
                workflow.continue_as_new(dataclasses.replace(
                    params, next_index=self._next, done=self._done, failed=self._failed))
            await workflow.wait_condition(lambda: self._active < params.concurrency)
            index = self._next
            self._next += 1
            self._active += 1
            started += 1
            children.append(asyncio.create_task(self._child(params, index)))
        await asyncio.gather(*children)
        await self._step("finish_batch", FinishBatchInput(params.batch_id, self._done, self._failed))
        return BatchOutcome(params.batch_id, self._total, self._done, self._failed)

    async def _child(self, params: BatchInput, index: int) -> None:
        """Make item `index`'s report and run it; count how it ended (never raises: one child never fails the
        batch)."""
        try:
            report_id = str(await self._step("create_batch_report", BatchItemInput(params.batch_id, index), str))
            if not report_id:  # the item could not become a report (recorded on the batch)
                self._failed += 1
                return
            outcome = await workflow.execute_child_workflow(
                ReportWorkflow.run, dataclasses.replace(params.report, report_id=report_id),
                id=workflow_id(report_id), task_queue=params.reports_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            )
            if outcome.status in (ReportStatus.COMPLETED, ReportStatus.PARTIAL):
                self._done += 1
            else:
                self._failed += 1
        except (ActivityError, ChildWorkflowError, WorkflowAlreadyStartedError) as exc:
            workflow.logger.warning("batch %s: item %d failed: %s", params.batch_id, index, exc)
            self._failed += 1
        finally:
            self._active -= 1

    async def _step(self, name: str, arg: object, result_type: type | None = None) -> Any:
        return await workflow.execute_activity(
            name, arg, result_type=result_type, start_to_close_timeout=SHORT_STEP,
            schedule_to_close_timeout=self._budget, retry_policy=RETRY)

    @workflow.query
    def progress(self) -> BatchProgress:
        running = self._active
        return BatchProgress(total=self._total, done=self._done, failed=self._failed, running=running,
                             waiting=self._total - self._done - self._failed - running)


class BatchActivities:
    """The batch's bookkeeping steps (database only), on the `batch` queue."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    @activity.defn(name="start_batch")
    def start_batch(self, batch_id: str) -> None:
        from workbench.storage import batches as store
        from workbench.storage.db import transaction

        with transaction(self.sessions) as session:
            store.set_batch_status(session, batch_id=uuid.UUID(batch_id), status=store.BatchStatus.RUNNING)

    @activity.defn(name="create_batch_report")
    def create_batch_report(self, item: BatchItemInput) -> str:
        """The id of item's report (made now, or before by an earlier attempt); "" when it cannot be made."""
        from workbench.reports.batches import BatchGone, create_batch_report
        from workbench.storage.db import transaction

        try:
            with transaction(self.sessions) as session:
                report_id = create_batch_report(
                    session, batch_id=uuid.UUID(item.batch_id), index=item.index,
                    notebooks_dir=self.settings.notebooks_dir, remote_engines=self.settings.openai_api_key is not None)
        except BatchGone as exc:
            raise ApplicationError(str(exc), type="BatchGone", non_retryable=True) from exc
        return str(report_id) if report_id is not None else ""

    @activity.defn(name="finish_batch")
    def finish_batch(self, params: FinishBatchInput) -> None:
        from workbench.storage import batches as store
        from workbench.storage.db import transaction

        with transaction(self.sessions) as session:
            store.set_batch_status(session, batch_id=uuid.UUID(params.batch_id), status=store.BatchStatus.COMPLETED)
        activity.logger.info("batch %s finished: %d done, %d failed", params.batch_id, params.done, params.failed)

    def all(self) -> list[object]:
        return [self.start_batch, self.create_batch_report, self.finish_batch]
