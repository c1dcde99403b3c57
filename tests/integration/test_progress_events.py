"""Live progress as Server-Sent Events, on the real Temporal dev server with the real worker: readers see the
whole state, each component's progress and the end; three readers share one database poller; a reader that
reconnects after the end gets the final state and the end at once."""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.test_cancel import api
from tests.integration.test_report_run import load_survey
from workbench.storage.db import make_engine, make_sessionmaker
from workers.worker import build_worker, executor_threads

pytestmark = pytest.mark.temporal


def parse(stream: str) -> list[dict[str, Any]]:
    """The events of a text/event-stream body: [{"event", "id", "data"}] (data JSON-decoded)."""
    out = []
    for block in stream.strip().split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            if name in ("event", "id", "data"):
                fields[name] = json.loads(value) if name == "data" else value
        if fields:
            out.append(fields)
    return out


async def read(client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    r = await client.get(url, headers=headers, timeout=120)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    return parse(r.text)


async def test_readers_follow_a_report_to_its_end_through_one_poller(temporal_env, settings) -> None:
    survey_id = load_survey(settings, responses=80)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions), \
                api(settings, temporal_env.client) as client:
            r = await client.post("/api/v1/reports", json={"survey_id": str(survey_id),
                                                           "components": ["basic_stats", "visualizations"]})
            report_id = r.json()["report_id"]
            url = f"/api/v1/reports/{report_id}/events"
            streams = await asyncio.gather(*(read(client, url) for _ in range(3)))
            hub = client._transport.app.state.progress  # type: ignore[attr-defined]
            assert hub.pollers_started == 1  # three readers, one poller

            for events in streams:
                assert events[0]["event"] == "state" and events[0]["data"]["report_id"] == report_id
                assert events[-1] == {**events[-1], "event": "end"} and events[-1]["data"]["status"] == "completed"
                ids = [int(e["id"]) for e in events]
                assert ids == sorted(ids)
                updates = [e["data"] for e in events if e["event"] == "component"]
                for name in ("basic_stats", "visualizations"):
                    seen = [u["status"] for u in updates if u["name"] == name]
                    assert seen and seen[-1] == "completed", (name, seen)
                    done = [u["cells_done"] for u in updates if u["name"] == name]
                    assert done == sorted(done)  # cells only go forward
                assert any(e["event"] == "report" and e["data"]["status"] == "completed" for e in events)

            # reconnecting after the end: the current state and the end, and the stream closes
            again = await read(client, url, headers={"Last-Event-ID": streams[0][-1]["id"]})
            assert [e["event"] for e in again] == ["state", "end"]
            assert again[0]["data"]["status"] == "completed"
            assert (await client.get(f"/api/v1/reports/{uuid.uuid4()}/events")).status_code == 404
