"""Cancelling a report on the real Temporal dev server with the real worker, through the API while a long cell
runs: the kernel stops, unfinished components and the report become cancelled, finished ones keep their results."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import httpx
import psutil
import pytest
from temporalio.client import WorkflowFailureError

from api.access import RateLimits
from api.main import create_app, store_bootstrap_key
from api.temporal import TemporalGateway
from tests.conftest import AUTH, TEST_ADMIN_KEY
from tests.integration.test_report_run import broken_notebooks, load_survey
from workbench.config import Settings
from workbench.storage import reports as report_store
from workbench.storage.db import make_engine, make_sessionmaker
from workers.worker import build_worker, executor_threads

pytestmark = pytest.mark.temporal


def kernels() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]


@asynccontextmanager
async def api(settings: Settings, temporal_client) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """The real app in this event loop (the Temporal client is bound to it), its state wired as lifespan does."""
    app = create_app(settings)
    app.state.settings = settings
    app.state.sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    app.state.temporal = TemporalGateway(settings, client=temporal_client)
    app.state.rate_limits = RateLimits("")
    store_bootstrap_key(app.state.sessions, TEST_ADMIN_KEY)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=AUTH) as client:
        yield client


async def wait_for(client: httpx.AsyncClient, url: str, check, timeout: float = 90) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = (await client.get(url)).json()
        if check(body):
            return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting on {url}: {body}")


async def test_cancel_stops_the_running_kernel_and_settles_the_report(temporal_env, settings, tmp_path) -> None:
    folder = broken_notebooks(tmp_path, "themes", "import time\nfor _ in range(600):\n    time.sleep(0.5)")
    settings = settings.model_copy(update={"notebooks_dir": folder})
    survey_id = load_survey(settings, responses=60)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions), \
                api(settings, temporal_env.client) as client:
            r = await client.post("/api/v1/reports", json={"survey_id": str(survey_id),
                                                           "components": ["basic_stats", "themes"]})
            assert r.status_code == 202, r.text
            report_id, status_url = r.json()["report_id"], r.json()["status_url"]

            def themes_sleeping(body: dict) -> bool:
                states = {c["name"]: c for c in body["components"]}
                return states["basic_stats"]["status"] == "completed" and states["themes"]["status"] == "running" \
                    and (states["themes"]["cells_done"] or 0) >= 2
            await wait_for(client, status_url, themes_sleeping)
            assert kernels(), "the sleeping notebook's kernel runs"

            started = time.monotonic()
            cancel = await client.post(f"/api/v1/reports/{report_id}/cancel")
            assert cancel.status_code == 202, cancel.text
            handle = temporal_env.client.get_workflow_handle(report_id)
            with pytest.raises(WorkflowFailureError):
                await handle.result()
            elapsed = time.monotonic() - started
            body = await wait_for(client, status_url, lambda b: b["status"] == "cancelled", timeout=10)
            assert elapsed < 20, f"cancel took {elapsed:.1f} s"
            states = {c["name"]: c["status"] for c in body["components"]}
            assert states == {"basic_stats": "completed", "themes": "cancelled"}
            gone, alive = psutil.wait_procs(kernels(), timeout=10)
            assert not alive, f"kernels left after the cancel: {alive}"

            # a finished report cannot be cancelled again, and nothing changes
            again = await client.post(f"/api/v1/reports/{report_id}/cancel")
            assert again.status_code == 409 and "already finished (cancelled)" in again.json()["detail"]
            missing = await client.post("/api/v1/reports/00000000-0000-0000-0000-000000000000/cancel")
            assert missing.status_code == 404
    with sessions() as session:
        report = report_store.load_report(session, report_id=uuid.UUID(report_id))
        assert report is not None and report.status == "cancelled" and report.error == "cancelled by request"
        basic = report_store.get_component(session, report_id=report.id, name="basic_stats")
        assert basic is not None and basic.result is not None  # completed work is kept


async def test_cancelling_a_finished_report_is_a_409_that_changes_nothing(temporal_env, settings) -> None:
    survey_id = load_survey(settings, responses=40)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    with ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions), \
                api(settings, temporal_env.client) as client:
            r = await client.post("/api/v1/reports", json={"survey_id": str(survey_id), "components": ["basic_stats"]})
            report_id = r.json()["report_id"]
            await temporal_env.client.get_workflow_handle(report_id).result()
            cancel = await client.post(f"/api/v1/reports/{report_id}/cancel")
            assert cancel.status_code == 409 and "already finished (completed)" in cancel.json()["detail"]
            status = (await client.get(f"/api/v1/reports/{report_id}/status")).json()
            assert status["status"] == "completed"
