"""The one door through which report runs start: `queue_report` (API, CLI; schedules later), `queue_batch` (many
reports at once: `workers.batches`; `cancel_batch`, `start_stranded_batches`), `start_report` (also the recovery
of stranded reports) and `connect` (every Temporal client of the project)."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from workbench.components import components
from workbench.config import Settings
from workbench.reports import batches, steps
from workbench.reports.request import create_report_run
from workbench.reports.rerun import Rerun, RerunRefused, prepare_rerun
from workbench.statuses import ComponentStatus, ReportStatus
from workbench.storage import reports as report_store
from workbench.storage.db import transaction
from workbench.storage.models import Report, ReportBatch
from workers.batches import CONTINUE_AFTER, BatchInput, BatchReportWorkflow, batch_workflow_id
from workers.queues import Queue, queue_name
from workers.shared import ComponentPlan, ReportInput, workflow_id
from workers.workflows import ReportWorkflow

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_SECONDS = 10


class TemporalUnavailable(RuntimeError):
    """Temporal could not be reached (or refused the start); the report, if one was stored, is marked failed."""

    def __init__(self, message: str, report_id: uuid.UUID | None = None) -> None:
        super().__init__(message)
        self.report_id = report_id


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS from settings: a CA, a client certificate (mutual TLS) or an API key each imply it."""
    def read(path: Any) -> bytes | None:
        return path.read_bytes() if path is not None else None

    custom = any((settings.temporal_tls_ca_path, settings.temporal_tls_cert_path, settings.temporal_tls_server_name))
    if custom:
        return TLSConfig(
            server_root_ca_cert=read(settings.temporal_tls_ca_path),
            client_cert=read(settings.temporal_tls_cert_path),
            client_private_key=read(settings.temporal_tls_key_path),
            domain=settings.temporal_tls_server_name,
        )
    return settings.temporal_tls or settings.temporal_api_key is not None


_runtimes: dict[str, Runtime | None] = {}
_runtimes_lock = threading.Lock()


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The Temporal runtime that serves the SDK's own Prometheus metrics (`temporal_*`) at
    `http://<worker_health_host>:<temporal_metrics_port>/metrics`; None (the SDK's default runtime) when the port
    is not set or cannot be bound (a warning: the process runs on without them). One per address and process."""
    if settings.temporal_metrics_port is None:
        return None
    host = f"[{settings.worker_health_host}]" if ":" in settings.worker_health_host else settings.worker_health_host
    address = f"{host}:{settings.temporal_metrics_port}"
    with _runtimes_lock:
        if address not in _runtimes:
            try:
                _runtimes[address] = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
                    bind_address=address, counters_total_suffix=True, unit_suffix=True, durations_as_seconds=True)))
                log.info("Temporal SDK metrics on http://%s/metrics", address)
            except (ValueError, RuntimeError) as exc:  # the port is taken, or not an address
                log.warning("Temporal SDK metrics are off in this process: %s", exc)
                _runtimes[address] = None
        return _runtimes[address]


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A Temporal client for `settings` (address, namespace, TLS, API key); raises `TemporalUnavailable`.

    `runtime` defaults to `metrics_runtime(settings)`: with `temporal_metrics_port` set, the client (and the
    workers built on it) export the SDK's metrics."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    runtime = runtime or metrics_runtime(settings)
    try:
        return await asyncio.wait_for(
            Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                           tls=tls_config(settings), api_key=api_key, runtime=runtime),
            timeout=CONNECT_TIMEOUT_SECONDS,
        )
    except (OSError, RuntimeError, TimeoutError) as exc:
        raise TemporalUnavailable(f"Temporal at {settings.temporal_address} is unreachable: {exc}") from exc


def report_input(
    settings: Settings, report_id: str, component_names: list[str],
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
) -> ReportInput:
    order = [name for stage in components.stages(component_names) for name in stage]
    chosen = parameters or {}
    return ReportInput(
        report_id=report_id,
        components=[ComponentPlan(name, list(components.get(name).needs),
                                  queue_name(settings.task_queue, components.get(name).queue_for(chosen.get(name))))
                    for name in order],
        component_timeout_seconds=settings.component_timeout_seconds,
        heartbeat_timeout_seconds=settings.heartbeat_timeout_seconds,
        max_component_attempts=settings.max_component_attempts,
    )


def rerun_input(
    settings: Settings, report_id: str, names: list[str], needs: Mapping[str, list[str]],
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
) -> ReportInput:
    """The plan of a rerun: `names` (dependency order), each waiting only for what it needs among them; what it
    needs outside the rerun has completed and is read from storage."""
    chosen = parameters or {}
    return ReportInput(
        report_id=report_id,
        components=[ComponentPlan(name, list(needs.get(name, [])),
                                  queue_name(settings.task_queue, components.get(name).queue_for(chosen.get(name))))
                    for name in names],
        component_timeout_seconds=settings.component_timeout_seconds,
        heartbeat_timeout_seconds=settings.heartbeat_timeout_seconds,
        max_component_attempts=settings.max_component_attempts,
    )


async def start_report(
    client: Client, settings: Settings, report_id: str, component_names: list[str],
    parameters: Mapping[str, Mapping[str, Any]] | None = None,
) -> bool:
    """Start the report's workflow; False if it was started before (one run per report, ever)."""
    return await _start(client, settings, report_input(settings, report_id, component_names, parameters), 0)


async def _start(client: Client, settings: Settings, plan: ReportInput, run: int) -> bool:
    """Start the workflow of run `run` of the report; False if it was started before."""
    report_id = plan.report_id
    try:
        await client.start_workflow(
            ReportWorkflow.run,
            plan,
            id=workflow_id(report_id, run),
            task_queue=queue_name(settings.task_queue, Queue.REPORTS),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def queue_report(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    client: Callable[[], Awaitable[Client]],
    organization_id: uuid.UUID,
    survey_id: uuid.UUID,
    components: list[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    required_roles: list[str] | None = None,
) -> Report:
    """Check the request, store the queued report, then start its workflow.

    Raises `ReportRequestError` (or `SurveyNotFound`) before anything is stored, and `TemporalUnavailable` after
    marking the stored report failed. `client` is called only once the request is valid, so a bad request gets
    its error even while Temporal is down. Database work runs in a thread: callers may be event loops.
    """
    def store() -> Report:
        with transaction(sessions) as session:
            report = create_report_run(
                session, organization_id=organization_id, survey_id=survey_id, component_names=components,
                parameters=parameters, notebooks_dir=settings.notebooks_dir,
                remote_engines=settings.openai_api_key is not None, required_roles=required_roles,
                max_active=settings.max_active_reports,
            )
            session.expunge(report)
            return report

    report = await asyncio.to_thread(store)
    try:
        await start_report(await client(), settings, str(report.id), list(report.component_names),
                           report.parameters)
    except Exception as exc:  # whatever went wrong, the stored report must not stay queued
        message = f"could not start the report run: {exc}"
        await asyncio.to_thread(_mark_failed, sessions, report.id, message)
        log.warning("starting the workflow of report %s failed: %s", report.id, exc)
        raise TemporalUnavailable(message, report.id) from exc
    return report


async def rerun_component(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    client: Callable[[], Awaitable[Client]],
    organization_id: uuid.UUID,
    report_id: uuid.UUID,
    component: str,
) -> Report:
    """Rerun `component` of a finished report and what depends on it (`workbench.reports.rerun`).

    Raises `RerunRefused` (404 / 409) before anything changes, and `TemporalUnavailable` after failing the
    reset components with the reason (the others keep their results).
    """
    def store() -> tuple[Report, Rerun]:
        with transaction(sessions) as session:
            report = report_store.get_report(session, report_id=report_id, organization_id=organization_id)
            if report is None:
                raise RerunRefused(404, f"report {report_id} not found")
            rerun = prepare_rerun(session, report, component)
            session.flush()
            session.expunge(report)
            return report, rerun

    report, rerun = await asyncio.to_thread(store)
    plan = rerun_input(settings, str(report.id), rerun.components, rerun.needs, report.parameters)
    try:
        await _start(await client(), settings, plan, rerun.run)
    except Exception as exc:
        message = f"could not start the rerun: {exc}"
        await asyncio.to_thread(steps.fail_report, sessions, report.id, message)
        raise TemporalUnavailable(message, report.id) from exc
    log.info("rerunning %s of report %s (run %d)", ", ".join(rerun.components), report.id, rerun.run)
    return report


class CancelRefused(ValueError):
    """The report cannot be cancelled (`status`: 404 unknown, 409 already finished)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def cancel_report(
    *, sessions: sessionmaker[Session], client: Callable[[], Awaitable[Client]], organization_id: uuid.UUID,
    report_id: uuid.UUID,
) -> Report:
    """Ask the workflow of the report's current run to cancel (it stops the running kernels, then marks the
    report and its unfinished components cancelled); a report without a running workflow (its starter died) is
    marked here. Returns the report as it is now (still running until its workflow has settled it).

    Raises `CancelRefused` (404 / 409) and `TemporalUnavailable`.
    """
    def load() -> Report | None:
        with sessions() as session:
            report = report_store.get_report(session, report_id=report_id, organization_id=organization_id)
            if report is not None:
                session.expunge(report)
            return report

    report = await asyncio.to_thread(load)
    if report is None:
        raise CancelRefused(404, f"report {report_id} not found")
    if report.status.finished:
        raise CancelRefused(409, f"report {report_id} has already finished ({report.status.value}); "
                                 "nothing to cancel")
    try:
        await (await client()).get_workflow_handle(workflow_id(str(report_id), report.run_number)).cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise TemporalUnavailable(f"Temporal refused the cancel: {exc}") from exc
        # No running workflow: never started (its starter died) or just ended; settle the row here.
        await asyncio.to_thread(steps.cancel_report, sessions, report_id, "cancelled by request")
    current = await asyncio.to_thread(load)
    if current is None:
        raise CancelRefused(404, f"report {report_id} not found")
    if current.status.finished and current.status != ReportStatus.CANCELLED:
        raise CancelRefused(409, f"report {report_id} has already finished ({current.status.value}); "
                                 "nothing to cancel")
    return current


def _mark_failed(sessions: sessionmaker[Session], report_id: uuid.UUID, message: str) -> None:
    with transaction(sessions) as session:
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.FAILED, error=message)


async def start_stranded_reports(
    client: Client, settings: Settings, sessions: sessionmaker[Session], older_than: timedelta
) -> list[str]:
    """Start the workflows of reports still `queued` after `older_than` (their starter died before starting
    them). Safe to run from every worker at once: a report's workflow can only be started once."""
    with sessions() as session:
        stranded = report_store.queued_reports(session, older_than=older_than)
    started = []
    for report in stranded:
        if report.run_number:  # a rerun whose starter died: its components are the pending ones
            pending = [c.component_type for c in report.components if c.status == ComponentStatus.PENDING]
            needs = {n: [d for d in components.get(n).needs if d in pending] for n in pending}
            plan = rerun_input(settings, str(report.id), pending, needs, report.parameters)
            was_started = await _start(client, settings, plan, report.run_number)
        else:
            was_started = await start_report(client, settings, str(report.id), list(report.component_names),
                                             report.parameters)
        if was_started:
            log.warning("started the stranded report %s", report.id)
            started.append(str(report.id))
    return started


async def start_batch(client: Client, settings: Settings, batch: ReportBatch, continue_after: int = CONTINUE_AFTER) \
        -> bool:
    """Start the batch's workflow (on the `batch` queue); False if it was started before."""
    plan = report_input(settings, "", list(batch.component_names), batch.parameters)
    try:
        await client.start_workflow(
            BatchReportWorkflow.run,
            BatchInput(batch_id=str(batch.id), total=len(batch.items), report=plan,
                       reports_task_queue=queue_name(settings.task_queue, Queue.REPORTS),
                       concurrency=batch.concurrency, continue_after=continue_after),
            id=batch_workflow_id(batch.id),
            task_queue=queue_name(settings.task_queue, Queue.BATCH),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def queue_batch(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    client: Callable[[], Awaitable[Client]],
    organization_id: uuid.UUID,
    survey_ids: list[uuid.UUID] | None = None,
    survey_id: uuid.UUID | None = None,
    split_by: str | None = None,
    components: list[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    concurrency: int | None = None,
    continue_after: int = CONTINUE_AFTER,
) -> ReportBatch:
    """Check a batch request (every survey, the split question, components and parameters), store the queued
    batch, then start its workflow, which makes and runs its reports `concurrency` at a time (each made by
    `create_report_run`, as `queue_report` makes one; a batch is bounded by its own concurrency, not by
    `max_active_reports`).

    Raises `ReportRequestError` (or `SurveyNotFound`) before anything is stored, and `TemporalUnavailable` after
    marking the stored batch failed."""
    def store() -> ReportBatch:
        with transaction(sessions) as session:
            batch = batches.create_batch(
                session, organization_id=organization_id, survey_ids=survey_ids, survey_id=survey_id,
                split_by=split_by, component_names=components, parameters=parameters, concurrency=concurrency,
                notebooks_dir=settings.notebooks_dir, remote_engines=settings.openai_api_key is not None)
            session.expunge(batch)
            return batch

    batch = await asyncio.to_thread(store)
    try:
        await start_batch(await client(), settings, batch, continue_after)
    except Exception as exc:  # the stored batch must not stay queued
        message = f"could not start the batch: {exc}"
        await asyncio.to_thread(_mark_batch_failed, sessions, batch.id, message)
        log.warning("starting the workflow of batch %s failed: %s", batch.id, exc)
        raise TemporalUnavailable(message) from exc
    return batch


async def start_stranded_batches(
    client: Client, settings: Settings, sessions: sessionmaker[Session], older_than: timedelta
) -> list[str]:
    """Start the workflows of batches still `queued` after `older_than` (the API stored the batch and died before
    starting it). Safe to run from every worker at once, and for a batch whose workflow runs but has not begun
    yet: a batch's workflow (`batch-<id>`) is started once, a second start is refused and skipped."""
    from workbench.storage import batches as batch_store

    def load() -> list[ReportBatch]:
        with sessions() as session:
            found = batch_store.queued_batches(session, older_than=older_than)
            session.expunge_all()
            return found

    started = []
    for batch in await asyncio.to_thread(load):
        if await start_batch(client, settings, batch):
            log.warning("started the stranded batch %s", batch.id)
            started.append(str(batch.id))
    return started


async def cancel_batch(
    *, sessions: sessionmaker[Session], client: Callable[[], Awaitable[Client]], organization_id: uuid.UUID,
    batch_id: uuid.UUID,
) -> tuple[ReportBatch, bool]:
    """Cancel a queued or running batch: its workflow starts no further report, cancels the running ones (each
    ends `cancelled`, as a report cancelled alone does) and then marks the batch and its reports not started
    `cancelled`. A batch without a workflow (its start was lost, or it ended without settling) is settled here.

    Returns the batch as it is now and whether it is settled already (False: its workflow is cancelling it).
    Raises `BatchCancelRefused` (404 / 409) and `TemporalUnavailable`."""
    from workbench.storage import batches as batch_store

    def load() -> ReportBatch | None:
        with sessions() as session:
            batch = batch_store.get_batch(session, organization_id=organization_id, batch_id=batch_id)
            if batch is not None:
                session.expunge(batch)
            return batch

    batches.check_cancellable(await asyncio.to_thread(load), batch_id)
    settled = False
    try:
        await (await client()).get_workflow_handle(batch_workflow_id(batch_id)).cancel()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise TemporalUnavailable(f"Temporal refused the cancel: {exc}") from exc
        # No workflow: never started (the sweep has not started it yet); settle the rows here.
        await asyncio.to_thread(batches.cancel_batch_rows, sessions, batch_id=batch_id)
        settled = True
    current = await asyncio.to_thread(load)
    if current is None:
        raise batches.BatchCancelRefused(404, f"batch {batch_id} not found")
    return current, settled or current.status == batch_store.BatchStatus.CANCELLED


def _mark_batch_failed(sessions: sessionmaker[Session], batch_id: uuid.UUID, message: str) -> None:
    from workbench.storage import batches as batch_store

    with transaction(sessions) as session:
        batch_store.set_batch_status(session, batch_id=batch_id, status=batch_store.BatchStatus.FAILED, error=message)
