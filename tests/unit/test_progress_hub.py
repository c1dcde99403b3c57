"""The progress hub: one poller per report for all its readers, versions per change, keep-alives, and readers
that stop when the poller fails instead of waiting forever; the SSE events derived from two states."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from api.progress import ProgressHub, events


def state(status: str, cells: int) -> dict[str, Any]:
    return {"report_id": "r", "status": status, "progress": cells / 4, "error": None, "failed_components": [],
            "components": [{"name": "a", "status": "running" if cells < 4 else "completed", "progress": cells / 4,
                            "cells_done": cells, "cells_total": 4, "error": None}], "links": {}}


async def collect(hub: ProgressHub, report_id: uuid.UUID) -> list[tuple[int, Any]]:
    return [item async for item in hub.watch(report_id)]


async def test_readers_share_one_poller_and_see_every_version_until_the_end() -> None:
    script = [state("running", 1), state("running", 1), state("running", 2), state("completed", 4)]
    calls: list[uuid.UUID] = []

    def load(report_id: uuid.UUID) -> dict[str, Any]:
        calls.append(report_id)
        return script[min(len(calls), len(script)) - 1]

    hub = ProgressHub(load, interval=0.01)
    rid = uuid.uuid4()
    first, second = await asyncio.gather(collect(hub, rid), collect(hub, rid))
    assert hub.pollers_started == 1 and len(calls) == 4  # one poll per tick, whatever the readers
    assert [v for v, _ in first] == [1, 2, 3]  # the unchanged second poll is no new version
    assert first[-1][1]["status"] == "completed" and second[-1] == first[-1]


async def test_keep_alive_repeats_the_version_while_nothing_changes() -> None:
    hub = ProgressHub(lambda _: state("running", 1), interval=0.01, keepalive=0.05)
    seen: list[int] = []
    async for version, _ in hub.watch(uuid.uuid4()):
        seen.append(version)
        if len(seen) == 3:
            break
    assert seen == [1, 1, 1]


async def test_a_failing_poller_ends_its_readers() -> None:
    def load(_: uuid.UUID) -> dict[str, Any]:
        raise RuntimeError("database down")

    hub = ProgressHub(load, interval=0.01, keepalive=5)
    assert await asyncio.wait_for(collect(hub, uuid.uuid4()), timeout=2) == []


def test_events_between_states() -> None:
    assert [n for n, _ in events(None, state("running", 1))] == ["state"]
    step = events(state("running", 1), state("running", 2))
    assert [n for n, _ in step] == ["component", "report"] and step[0][1]["cells_done"] == 2
    assert events(state("running", 2), state("running", 2)) == []
    end = events(state("running", 2), state("completed", 4))
    assert [n for n, _ in end] == ["component", "report", "end"] and end[-1][1]["status"] == "completed"
    assert events(state("running", 1), None) == [("gone", {"detail": "the report no longer exists"})]

