"""Activities: thin adapters from Temporal to `workbench.reports.steps`. Blocking, so they run on a thread pool."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
import uuid
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from workbench.config import Settings
from workbench.notifications import report_events as notify
from workbench.reports import steps
from workbench.reports.links import ReportLinks
from workbench.runner import KernelDiedError, NotebookError
from workbench.statuses import ReportStatus
from workers import metrics
from workers.shared import (
    CancelReportInput,
    ComponentInput,
    FailReportInput,
    FinishReportInput,
    PreparedReport,
    ReportOutcome,
    ReportRef,
    SkipComponentInput,
)
from workers.webhooks import DeliverWebhookWorkflow, delivery_input, delivery_workflow_id

log = logging.getLogger(__name__)


def _non_retryable(exc: Exception, details: Any = None) -> ApplicationError:
    args = (details,) if details is not None else ()
    return ApplicationError(str(exc), *args, type=type(exc).__name__, non_retryable=True)


class _Heartbeater:
    """Heartbeats with the latest progress every few seconds, so a long cell doesn't look like a dead worker."""

    def __init__(self, interval: float) -> None:
        self._details: dict[str, int] = {"cells_done": 0, "cells_total": 0}
        self._stop = threading.Event()
        self._context = contextvars.copy_context()  # the activity context lives in a context variable
        self._thread = threading.Thread(target=self._loop, args=(interval,), daemon=True, name="heartbeat")

    def __enter__(self) -> _Heartbeater:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def update(self, done: int, total: int) -> None:
        """Keep the progress for the next beat. Not a beat per cell: a beat from this thread waits for the worker's
        event loop (a few ms a cell, in the notebook's path, while other activities keep the loop busy) and costs it
        CPU, for details nothing reads between two beats; progress readers have the database's rows."""
        self._details = {"cells_done": done, "cells_total": total}

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._context.run(activity.heartbeat, self._details)


class ReportActivities:
    """Activities with their dependencies injected (settings, database sessions)."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    @activity.defn(name="prepare_report")
    def prepare_report(self, ref: ReportRef) -> PreparedReport:
        try:
            count = steps.prepare_report(self.sessions, uuid.UUID(ref.report_id))
        except (steps.ReportNotFound, steps.InvalidReport) as exc:
            raise _non_retryable(exc) from exc
        return PreparedReport(ref.report_id, count)

    @activity.defn(name="run_component")
    def run_component(self, params: ComponentInput) -> None:
        info = activity.info()
        log.info("running %s for report %s (attempt %d)", params.component, params.report_id, info.attempt)
        interval = max(1.0, self.settings.heartbeat_timeout_seconds / 4)
        outcome, started = "error", time.monotonic()
        try:
            with _Heartbeater(interval) as beats:
                steps.execute_component(
                    self.sessions, self.settings, uuid.UUID(params.report_id), params.component, beats.update
                )
            outcome = "completed"
        except NotebookError as exc:
            outcome = "failed"
            raise ApplicationError(str(exc), exc.as_dict(), type="NotebookError", non_retryable=True) from exc
        except (steps.ReportNotFound, steps.InvalidReport) as exc:
            raise _non_retryable(exc) from exc
        except KernelDiedError as exc:
            # The retry policy does not count attempts (outages must not fail reports), so kernels are counted here.
            outcome = "kernel_died"
            if info.attempt >= self.settings.max_component_attempts:
                message = f"{exc} (attempt {info.attempt} of {self.settings.max_component_attempts})"
                raise ApplicationError(message, type="NotebookError", non_retryable=True) from exc
            raise
        finally:
            metrics.COMPONENT_RUNS.labels(params.component, outcome).inc()
            metrics.COMPONENT_SECONDS.labels(params.component).observe(time.monotonic() - started)

    @activity.defn(name="skip_component")
    def skip_component(self, params: SkipComponentInput) -> None:
        steps.skip_component(self.sessions, uuid.UUID(params.report_id), params.component, params.reason)

    @activity.defn(name="finish_report")
    def finish_report(self, params: FinishReportInput) -> ReportStatus:
        report_id = uuid.UUID(params.report_id)
        try:
            status = steps.finish_report(self.sessions, report_id, params.failures)
        except steps.ReportNotFound as exc:
            raise _non_retryable(exc) from exc
        self._release_files(report_id)
        return status

    @activity.defn(name="fail_report")
    def fail_report(self, params: FailReportInput) -> None:
        steps.fail_report(self.sessions, uuid.UUID(params.report_id), params.message)
        self._release_files(uuid.UUID(params.report_id))

    @activity.defn(name="cancel_report")
    def cancel_report(self, params: CancelReportInput) -> list[str]:
        report_id = uuid.UUID(params.report_id)
        try:
            cancelled = steps.cancel_report(self.sessions, report_id, params.reason)
        except steps.ReportNotFound as exc:
            raise _non_retryable(exc) from exc
        self._release_files(report_id)
        return cancelled

    def _release_files(self, report_id: uuid.UUID) -> None:
        """The report's shared snapshot in this worker's data folder; other workers' folders go with their sweep
        of finished reports. Never fails the step: the files are scratch."""
        try:
            steps.release_report_files(self.settings.data_dir, report_id)
        except OSError:
            log.warning("could not remove the work folder of report %s; the sweep will", report_id, exc_info=True)

    @activity.defn(name="notify_report_finished")
    async def notify_report_finished(self, outcome: ReportOutcome) -> None:
        """Tell whoever asked: store the PDF ahead (a setting), record one webhook delivery per subscribed
        endpoint and start its delivery workflow, and log the outcome. Safe to retry: deliveries are unique per
        event and endpoint, and a delivery's workflow starts once."""
        report_id = uuid.UUID(outcome.report_id)
        metrics.REPORTS_FINISHED.labels(str(outcome.status)).inc()
        if self.settings.render_pdf_when_finished:
            await asyncio.to_thread(steps.store_report_pdf, self.sessions, self.settings, report_id)
        deliveries = await asyncio.to_thread(
            notify.record_report_event, self.sessions, report_id, str(outcome.status), self.settings.base_url)
        client = activity.client()
        for delivery_id in deliveries:
            try:
                await client.start_workflow(
                    DeliverWebhookWorkflow.run, delivery_input(self.settings, delivery_id),
                    id=delivery_workflow_id(delivery_id), task_queue=activity.info().task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
            except WorkflowAlreadyStartedError:
                pass  # a retry of this notification: already on its way
        url = ReportLinks.of(outcome.report_id, self.settings.base_url).page
        failed = f", without a result: {', '.join(outcome.failed_components)}" if outcome.failed_components else ""
        log.info("report %s finished: %s%s — %s (%d webhook deliveries)", outcome.report_id, outcome.status, failed,
                 url, len(deliveries))

    def bookkeeping(self) -> list[Any]:
        """The short steps, run on the workflow's own queue."""
        return [self.prepare_report, self.skip_component, self.finish_report, self.fail_report,
                self.cancel_report, self.notify_report_finished]

    def all(self) -> list[Any]:
        return [*self.bookkeeping(), self.run_component]
