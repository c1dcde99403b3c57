"""Live progress of reports for Server-Sent Events: one database poller per watched report, shared by every
reader of it, so a hundred readers cost what one does.

A watch polls the report's status every `interval` seconds while someone reads it, numbers each state that
differs from the last (its `version`, the SSE event id) and wakes the readers. It stops when the report has
finished or the last reader has gone.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

State = dict[str, Any]
log = logging.getLogger(__name__)


@dataclass
class _Watch:
    version: int = 0
    state: State | None = None
    readers: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    task: asyncio.Task[None] | None = None
    stopped: bool = False


class ProgressHub:
    """Shared pollers of report states. `load(report_id)` returns the report's status as JSON, or None."""

    def __init__(self, load: Callable[[uuid.UUID], State | None], interval: float = 0.5,
                 keepalive: float = 15.0) -> None:
        self._load = load
        self._interval = interval
        self.keepalive = keepalive  # a reader hears something at least this often (proxies close idle streams)
        self._watches: dict[uuid.UUID, _Watch] = {}
        self.pollers_started = 0  # for tests and metrics: pollers ever started

    async def _poll(self, report_id: uuid.UUID, watch: _Watch) -> None:
        try:
            while True:
                state = await asyncio.to_thread(self._load, report_id)
                if state != watch.state:
                    async with watch.changed:
                        watch.version += 1
                        watch.state = state
                        watch.changed.notify_all()
                if state is None or _finished(state):
                    return
                await asyncio.sleep(self._interval)
        except Exception:  # the readers end their streams; a reconnecting client starts a new poller
            log.warning("progress poller of report %s stopped", report_id, exc_info=True)
        finally:  # however it ended (finished, database error), readers must not wait forever
            async with watch.changed:
                watch.stopped = True
                watch.changed.notify_all()

    async def watch(self, report_id: uuid.UUID) -> AsyncIterator[tuple[int, State | None]]:
        """(version, state) now and after every change, until the report has finished (or is gone); the same
        version again after `keepalive` seconds without a change."""
        watch = self._watches.setdefault(report_id, _Watch())
        watch.readers += 1
        if watch.task is None:
            watch.task = asyncio.create_task(self._poll(report_id, watch))
            self.pollers_started += 1
        try:
            seen = 0
            while True:
                async with watch.changed:
                    try:
                        await asyncio.wait_for(
                            watch.changed.wait_for(lambda last=seen: watch.version > last or watch.stopped),  # type: ignore[misc]
                            timeout=self.keepalive)
                    except TimeoutError:  # nothing new for a while: the same version again, a keep-alive
                        pass
                if watch.version > seen or watch.version == seen > 0:
                    seen = watch.version
                    yield seen, watch.state
                if watch.state is None or _finished(watch.state):
                    return
                if watch.stopped and watch.version == seen:
                    return  # the poller ended on an error: readers stop instead of waiting forever
        finally:
            watch.readers -= 1
            if watch.readers == 0:
                if watch.task is not None and not watch.task.done():
                    watch.task.cancel()
                self._watches.pop(report_id, None)


def _finished(state: State) -> bool:
    return state.get("status") in ("completed", "partial", "failed", "cancelled")


def events(previous: State | None, current: State | None) -> list[tuple[str, Any]]:
    """The SSE events (name, data) that take a reader from `previous` to `current`: the whole state first,
    then one `component` event per component whose progress changed, `report` when the report's status or
    progress changed, and `end` once it has finished."""
    if current is None:
        return [("gone", {"detail": "the report no longer exists"})]
    if previous is None:
        out: list[tuple[str, Any]] = [("state", current)]
    else:
        out = []
        before = {c["name"]: c for c in previous.get("components", [])}
        for component in current.get("components", []):
            old = before.get(component["name"])
            if old is None or any(old.get(k) != component.get(k) for k in ("status", "progress", "cells_done",
                                                                            "cells_total", "error")):
                out.append(("component", component))
        if (previous.get("status"), previous.get("progress")) != (current.get("status"), current.get("progress")):
            out.append(("report", {k: current.get(k) for k in ("report_id", "status", "progress", "error",
                                                                "failed_components")}))
    if _finished(current):
        out.append(("end", {"status": current["status"], "links": current.get("links")}))
    return out
