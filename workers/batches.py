"""`BatchReportWorkflow`: the reports of a batch as child `ReportWorkflow`s, at most `concurrency` at once, on the
`batch` task queue (the children run on `reports`, as a report asked alone does).

For each item in order it makes the item's report (`create_batch_report`: one report per item whatever the
retries; an item whose survey was deleted or emptied meanwhile counts as failed) and runs it as a child workflow
whose id is the report id. A failed child counts as failed, a cancelled one as cancelled, and the others go on. After
`continue_after` children (or when Temporal suggests it) it lets the running ones finish and continues as new,
carrying the next item and its counts, so a batch of thousands keeps a short history. Progress: the `progress`
query, and the reports' rows (`workbench.storage.batches.batch_counts`, what the API serves). Cancelling the
workflow cancels the batch (see `BatchReportWorkflow`).
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
    cancelled: int = 0


@dataclass
class BatchItemInput:
    batch_id: str
    index: int


@dataclass
class FinishBatchInput:
    batch_id: str
    done: int
    failed: int
    cancelled: int = 0


@dataclass
class BatchProgress:
    """What the `progress` query returns."""

    total: int
    done: int  # children completed or partial
    failed: int  # children failed, and items that could not become a report
    running: int  # children being made or running
    waiting: int  # items not started yet
    cancelled: int = 0  # children cancelled, and items a cancelled batch never started


@dataclass
class BatchOutcome:
    batch_id: str
    total: int
    done: int
    failed: int
    cancelled: int = 0


@workflow.defn
class BatchReportWorkflow:
    """Cancelling it (`POST /api/v1/report-batches/{id}/cancel`) starts no further child, cancels the running
    ones (each settles its report `cancelled`, as a report cancelled alone does), waits for them, then marks the
    batch and its reports not started yet cancelled (`cancel_batch`) and ends cancelled."""

    def __init__(self) -> None:
        self._total = self._next = self._done = self._failed = self._cancelled = self._active = 0
        self._budget = timedelta(minutes=10)
        self._cancelling = False
        self._tasks: dict[int, asyncio.Task[None]] = {}  # items being made or run, by index
        self._in_child: set[int] = set()  # items whose child workflow is running

    @workflow.run
    async def run(self, params: BatchInput) -> BatchOutcome:
        self._total, self._next, self._done = params.total, params.next_index, params.done
        self._failed, self._cancelled = params.failed, params.cancelled
        self._budget = timedelta(seconds=params.report.infrastructure_retry_seconds)
        try:
            if params.next_index == 0 and await self._step("start_batch", params.batch_id) is False:
                # Cancelled before its workflow began (a late start by the sweep): nothing runs.
                self._cancelled += self._total - self._next
                self._next = self._total
                return self._outcome(params)
            started = 0
            while self._next < self._total:
                if started >= params.continue_after or (started and workflow.info().is_continue_as_new_suggested()):
                    await workflow.wait_condition(lambda: self._active == 0)  # children end before this run does
                    workflow.continue_as_new(dataclasses.replace(
                        params, next_index=self._next, done=self._done, failed=self._failed,
                        cancelled=self._cancelled))
                await workflow.wait_condition(lambda: self._active < params.concurrency)
                index = self._next
                self._next += 1
                self._active += 1
                started += 1
                self._tasks[index] = asyncio.create_task(self._child(params, index))
            await workflow.wait_condition(lambda: self._active == 0)
        except asyncio.CancelledError:
            if self._next < self._total or self._active:
                await self._cancel(params)
                raise
            # Every item had already ended: the batch completed, whatever came late.
        finish = asyncio.create_task(self._step("finish_batch", FinishBatchInput(
            params.batch_id, self._done, self._failed, self._cancelled)))
        try:
            await asyncio.shield(finish)
        except asyncio.CancelledError:  # a cancel that came once every item had ended: the batch completed
            await finish
        return self._outcome(params)

    async def _cancel(self, params: BatchInput) -> None:
        """Start nothing more, cancel the running children and wait until they have settled their reports; then
        mark the batch cancelled, and its reports that never started."""
        self._cancelling = True
        for index in sorted(self._in_child):
            self._tasks[index].cancel()
        await workflow.wait_condition(lambda: self._active == 0)
        self._cancelled += self._total - self._next  # items never started
        self._next = self._total
        await self._step("cancel_batch", FinishBatchInput(params.batch_id, self._done, self._failed,
                                                          self._cancelled))

    def _outcome(self, params: BatchInput) -> BatchOutcome:
        return BatchOutcome(params.batch_id, self._total, self._done, self._failed, self._cancelled)

    async def _child(self, params: BatchInput, index: int) -> None:
        """Make item `index`'s report and run it; count how it ended (never raises: one child never fails the
        batch)."""
        try:
            report_id = str(await self._step("create_batch_report", BatchItemInput(params.batch_id, index), str))
            if not report_id:  # the item could not become a report (recorded on the batch)
                self._failed += 1
                return
            if self._cancelling:  # made, but the batch was cancelled meanwhile: cancel_batch settles it
                self._cancelled += 1
                return
            self._in_child.add(index)
            outcome = await workflow.execute_child_workflow(
                ReportWorkflow.run, dataclasses.replace(params.report, report_id=report_id),
                id=workflow_id(report_id), task_queue=params.reports_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            )
            if outcome.status in (ReportStatus.COMPLETED, ReportStatus.PARTIAL):
                self._done += 1
            elif outcome.status == ReportStatus.CANCELLED:
                self._cancelled += 1
            else:
                self._failed += 1
        except ChildWorkflowError as exc:
            if isinstance(exc.cause, CancelledError):  # cancelled: with the batch, or alone by request
                self._cancelled += 1
            else:
                workflow.logger.warning("batch %s: item %d failed: %s", params.batch_id, index, exc)
                self._failed += 1
        except asyncio.CancelledError:  # cancelled with the batch (the child has settled its report)
            self._cancelled += 1
        except (ActivityError, WorkflowAlreadyStartedError) as exc:
            workflow.logger.warning("batch %s: item %d failed: %s", params.batch_id, index, exc)
            self._failed += 1
        finally:
            self._in_child.discard(index)
            self._tasks.pop(index, None)
            self._active -= 1

    async def _step(self, name: str, arg: object, result_type: type | None = None) -> Any:
        return await workflow.execute_activity(
            name, arg, result_type=result_type, start_to_close_timeout=SHORT_STEP,
            schedule_to_close_timeout=self._budget, retry_policy=RETRY)

    @workflow.query
    def progress(self) -> BatchProgress:
        running = self._active
        return BatchProgress(total=self._total, done=self._done, failed=self._failed, running=running,
                             waiting=self._total - self._done - self._failed - self._cancelled - running,
                             cancelled=self._cancelled)


class BatchActivities:
    """The batch's bookkeeping steps (database only), on the `batch` queue."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    @activity.defn(name="start_batch")
    def start_batch(self, batch_id: str) -> bool:
        """Mark the batch running; False when it was cancelled before its workflow began (nothing may run)."""
        from workbench.storage import batches as store
        from workbench.storage.db import transaction

        with transaction(self.sessions) as session:
            batch = store.load_batch(session, batch_id=uuid.UUID(batch_id))
            if batch is not None and batch.status == store.BatchStatus.CANCELLED:
                return False
            store.set_batch_status(session, batch_id=uuid.UUID(batch_id), status=store.BatchStatus.RUNNING,
                                   only_from=(store.BatchStatus.QUEUED, store.BatchStatus.RUNNING))
        return True

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
            store.set_batch_status(session, batch_id=uuid.UUID(params.batch_id), status=store.BatchStatus.COMPLETED,
                                   only_from=(store.BatchStatus.QUEUED, store.BatchStatus.RUNNING))
        activity.logger.info("batch %s finished: %d done, %d failed, %d cancelled", params.batch_id, params.done,
                             params.failed, params.cancelled)

    @activity.defn(name="cancel_batch")
    def cancel_batch(self, params: FinishBatchInput) -> None:
        """Mark the batch cancelled, and its reports that never started (their children were not started)."""
        from workbench.reports.batches import cancel_batch_rows

        cancelled = cancel_batch_rows(self.sessions, batch_id=uuid.UUID(params.batch_id))
        activity.logger.info("batch %s cancelled: %d done, %d failed, %d cancelled (%d not started)",
                             params.batch_id, params.done, params.failed, params.cancelled, len(cancelled))

    def all(self) -> list[object]:
        return [self.start_batch, self.create_batch_report, self.finish_batch, self.cancel_batch]
