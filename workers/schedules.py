"""Recurring reports on Temporal: the door through which a report schedule is made (`create_schedule`: checked,
stored, then its Temporal Schedule created with the row's id) or changed (`update_schedule`: checked, its Temporal
Schedule updated, then its row) and the calls that change or read its Temporal Schedule (pause, resume, trigger,
describe, delete). What the schedule starts is `workers.scheduled`.

A Temporal Schedule found missing (a Temporal server that lost its data) is made again from the row when it is
paused, resumed or triggered.

Also the sweep's schedule (`ensure_sweep_schedule`, called by every worker at start).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from workbench.config import Settings
from workbench.reports.request import ReportRequestError
from workbench.reports.schedules import (
    ScheduleGone,
    ScheduleRequest,
    apply_schedule_update,
    check_schedule_request,
    check_schedule_update,
    updated_schedule,
)
from workbench.reports.schedules import create_schedule as store_schedule
from workbench.storage import schedules as store
from workbench.storage.db import transaction
from workbench.storage.models import ReportSchedule
from workers.queues import Queue, queue_name
from workers.scheduled import ScheduledReportWorkflow, SweepWorkflow, scheduled_workflow_id, sweep_schedule_id
from workers.starter import TemporalUnavailable

log = logging.getLogger(__name__)
RPC_TIMEOUT = timedelta(seconds=10)


def temporal_schedule(settings: Settings, row: ReportSchedule) -> Schedule:
    """The Temporal Schedule of a report schedule: its times, and a `ScheduledReportWorkflow` per time (skipped
    while the previous one still runs)."""
    spec = ScheduleSpec(
        cron_expressions=[row.cron] if row.cron else [],
        intervals=[ScheduleIntervalSpec(every=timedelta(seconds=row.interval_seconds))] if row.interval_seconds else [],
        time_zone_name=row.time_zone,
    )
    action = ScheduleActionStartWorkflow(
        ScheduledReportWorkflow.run, str(row.id), id=scheduled_workflow_id(row.id),
        task_queue=queue_name(settings.task_queue, Queue.REPORTS))
    return Schedule(action=action, spec=spec, policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
                    state=ScheduleState(paused=row.paused, note=f"survey {row.survey_id}"))


async def _make(client: Client, settings: Settings, row: ReportSchedule) -> None:
    """Create the row's Temporal Schedule (nothing if it exists)."""
    try:
        await client.create_schedule(str(row.id), temporal_schedule(settings, row), rpc_timeout=RPC_TIMEOUT,
                                     memo={"organization_id": str(row.organization_id),
                                           "survey_id": str(row.survey_id)})
    except ScheduleAlreadyRunningError:
        pass


async def create_schedule(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    client: Callable[[], Awaitable[Client]],
    organization_id: uuid.UUID,
    survey_id: uuid.UUID,
    cron: str | None = None,
    interval_seconds: int | None = None,
    time_zone: str | None = None,
    components: list[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    paused: bool = False,
    created_by: str | None = None,
) -> ReportSchedule:
    """Check the request, store the schedule, then create its Temporal Schedule (id: the row's).

    Raises `ReportRequestError` naming the field (or `SurveyNotFound`) before anything is stored, also when
    Temporal refuses the times (a cron field out of range, a time zone it does not know); `TemporalUnavailable`
    when Temporal cannot be reached. Either way nothing stays stored."""
    def save() -> ReportSchedule:
        with transaction(sessions) as session:
            request = check_schedule_request(
                session, organization_id=organization_id, survey_id=survey_id, cron=cron,
                interval_seconds=interval_seconds, time_zone=time_zone, component_names=components,
                parameters=parameters, notebooks_dir=settings.notebooks_dir,
                remote_engines=settings.openai_api_key is not None)
            row = store_schedule(session, organization_id=organization_id, request=request, paused=paused,
                                 created_by=created_by)
            session.expunge(row)
            return row

    row = await asyncio.to_thread(save)
    try:
        await _make(await client(), settings, row)
    except Exception as exc:
        await asyncio.to_thread(_forget, sessions, row.id)
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise _refused(exc, row) from exc
        if isinstance(exc, TemporalUnavailable):
            raise
        raise TemporalUnavailable(f"could not create the schedule: {exc}") from exc
    log.info("schedule %s created for survey %s", row.id, row.survey_id)
    return row


def _refused(exc: RPCError, row: ReportSchedule) -> ReportRequestError:
    """Temporal's refusal of a schedule's times, as the request field it concerns."""
    field = "time_zone" if "time zone" in exc.message else "cron" if row.cron else "interval_seconds"
    return ReportRequestError(field, exc.message)


async def _replace(client: Client, settings: Settings, row: ReportSchedule) -> None:
    """Bring the row's Temporal Schedule to the row's times and request, keeping its state (paused, note) as
    Temporal has it; made from the row when Temporal has lost it."""
    desired = temporal_schedule(settings, row)

    def change(given: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=dataclasses.replace(desired, state=given.description.schedule.state))

    try:
        await client.get_schedule_handle(str(row.id)).update(change, rpc_timeout=RPC_TIMEOUT)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        log.warning("schedule %s was missing on Temporal: made again from its row", row.id)
        await _make(client, settings, row)


async def update_schedule(
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    client: Callable[[], Awaitable[Client]],
    row: ReportSchedule,
    changes: Mapping[str, Any],
) -> ReportSchedule:
    """Change a schedule's times (`cron` or `interval_seconds`, `time_zone`) or what it runs (`components`,
    `parameters`): checked as `create_schedule` checks a request, then its Temporal Schedule updated (its paused
    state kept), then its row. The next runs use the change; a report already running goes on as it was.

    Raises `ReportRequestError` naming the field (also when Temporal refuses the times) and `TemporalUnavailable`;
    either way nothing changed. Returns the row as stored."""
    def check() -> ReportSchedule:
        with sessions() as session:
            current = store.load_schedule(session, schedule_id=row.id) or row
            request = check_schedule_update(
                session, schedule=current, changes=changes, notebooks_dir=settings.notebooks_dir,
                remote_engines=settings.openai_api_key is not None)
            return updated_schedule(current, request)

    def save(wanted: ReportSchedule) -> ReportSchedule | None:
        with transaction(sessions) as session:
            stored = apply_schedule_update(session, schedule_id=row.id, request=_request_of(wanted))
            if stored is not None:
                session.expunge(stored)
            return stored

    wanted = await asyncio.to_thread(check)
    try:
        temporal = await client()
        await _replace(temporal, settings, wanted)
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise _refused(exc, wanted) from exc
        raise TemporalUnavailable(f"Temporal refused the change: {exc}") from exc
    except TemporalUnavailable:
        raise
    except Exception as exc:
        raise TemporalUnavailable(f"could not update the schedule: {exc}") from exc
    try:
        stored = await asyncio.to_thread(save, wanted)
    except Exception:
        try:  # the row could not be changed: put Temporal's schedule back as the row has it
            await _replace(temporal, settings, row)
        except Exception as undo:
            log.warning("schedule %s: Temporal keeps the change the database refused: %s", row.id, undo)
        raise
    if stored is None:  # deleted meanwhile: its Temporal Schedule deletes itself when it next fires
        raise ScheduleGone(f"schedule {row.id} not found")
    log.info("schedule %s updated: %s", row.id, ", ".join(sorted(changes)) or "nothing")
    return stored


def _request_of(row: ReportSchedule) -> ScheduleRequest:
    return ScheduleRequest(survey_id=row.survey_id, cron=row.cron, interval_seconds=row.interval_seconds,
                           time_zone=row.time_zone, component_names=list(row.component_names),
                           parameters=dict(row.parameters or {}))


def _forget(sessions: sessionmaker[Session], schedule_id: uuid.UUID) -> None:
    with transaction(sessions) as session:
        store.delete_schedule(session, schedule_id=schedule_id)


async def _call(client: Client, settings: Settings, row: ReportSchedule,
                action: Callable[[ScheduleHandle], Awaitable[None]]) -> None:
    """`action` on the row's Temporal Schedule, made again from the row first if Temporal has lost it."""
    handle = client.get_schedule_handle(str(row.id))
    try:
        await action(handle)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise TemporalUnavailable(f"Temporal refused the change: {exc}") from exc
        log.warning("schedule %s was missing on Temporal: made again from its row", row.id)
        await _make(client, settings, row)
        await action(handle)


async def set_paused(client: Client, settings: Settings, row: ReportSchedule, paused: bool, note: str) -> None:
    async def change(handle: ScheduleHandle) -> None:
        if paused:
            await handle.pause(note=note, rpc_timeout=RPC_TIMEOUT)
        else:
            await handle.unpause(note=note, rpc_timeout=RPC_TIMEOUT)

    await _call(client, settings, row, change)


async def trigger(client: Client, settings: Settings, row: ReportSchedule) -> None:
    """Run the schedule now (also while paused); nothing when its previous report still runs (overlap: skip)."""
    async def run(handle: ScheduleHandle) -> None:
        await handle.trigger(rpc_timeout=RPC_TIMEOUT)

    await _call(client, settings, row, run)


async def describe(client: Client, schedule_id: str | uuid.UUID) -> ScheduleDescription | None:
    """The Temporal Schedule's state, recent actions and next times; None when Temporal does not have it."""
    try:
        return await client.get_schedule_handle(str(schedule_id)).describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def delete_temporal_schedules(client: Client, schedule_ids: Iterable[str | uuid.UUID]) -> None:
    """Delete these Temporal Schedules (those already gone are skipped). Reports they started run on."""
    for schedule_id in schedule_ids:
        try:
            await client.get_schedule_handle(str(schedule_id)).delete(rpc_timeout=RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise


# --- the sweep's schedule ---------------------------------------------------------------------------------------

SWEEP_TIMEOUT = timedelta(minutes=30)  # a sweep still waiting for a worker after this long gives way to the next


def sweep_schedule(settings: Settings) -> Schedule:
    """A `SweepWorkflow` every `sweep_interval_seconds` (skipped while the previous one runs; times missed while
    Temporal was down are not made up, beyond one interval)."""
    every = timedelta(seconds=settings.sweep_interval_seconds)
    action = ScheduleActionStartWorkflow(
        SweepWorkflow.run, id=sweep_schedule_id(settings.task_queue),
        task_queue=queue_name(settings.task_queue, Queue.REPORTS), execution_timeout=SWEEP_TIMEOUT)
    return Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP,
                                          catchup_window=max(timedelta(minutes=1), every)))


def _same_sweep(current: Schedule, desired: Schedule) -> bool:
    action, wanted = current.action, desired.action
    return (isinstance(action, ScheduleActionStartWorkflow) and isinstance(wanted, ScheduleActionStartWorkflow)
            and action.workflow == wanted.workflow and action.task_queue == wanted.task_queue
            and list(current.spec.intervals) == list(desired.spec.intervals)
            and current.policy.overlap == desired.policy.overlap
            and current.policy.catchup_window == desired.policy.catchup_window)


async def ensure_sweep_schedule(client: Client, settings: Settings, *, sweep_now: bool = True) -> bool:
    """Make the sweep's schedule (`<task_queue>-sweep`), or bring an existing one to these settings (its paused
    state is kept: an operator may pause the sweep); then, with `sweep_now`, sweep once at once (skipped if one is
    running). False, logged, when Temporal could not be reached or refused: the caller sweeps on its own timer."""
    schedule_id = sweep_schedule_id(settings.task_queue)
    desired = sweep_schedule(settings)
    handle = client.get_schedule_handle(schedule_id)

    def update(given: ScheduleUpdateInput) -> ScheduleUpdate | None:
        current = given.description.schedule
        if _same_sweep(current, desired):
            return None
        return ScheduleUpdate(schedule=dataclasses.replace(desired, state=current.state))

    try:
        try:
            await client.create_schedule(schedule_id, desired, rpc_timeout=RPC_TIMEOUT)
            log.info("made the sweep schedule %s (every %d s)", schedule_id, settings.sweep_interval_seconds)
        except ScheduleAlreadyRunningError:
            await handle.update(update, rpc_timeout=RPC_TIMEOUT)
        if sweep_now:
            await handle.trigger(rpc_timeout=RPC_TIMEOUT)
    except Exception as exc:
        log.warning("the sweep schedule %s could not be made (this worker sweeps on its own timer): %s",
                    schedule_id, exc)
        return False
    return True
