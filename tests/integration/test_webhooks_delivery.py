"""Signed webhooks on the real Temporal dev server with the real worker: a finished report is delivered to the
organization's endpoint, retried with backoff while it fails (every attempt logged), replayed on request, and an
endpoint that keeps failing is disabled. The receiving endpoint checks signature, window and replays."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook

from tests.fakes.webhook_receiver import WebhookReceiver
from tests.integration.test_cancel import api, wait_for
from tests.integration.test_report_run import load_survey
from workbench.notifications.webhooks import new_secret, sign
from workbench.storage.db import make_engine, make_sessionmaker
from workers.worker import build_worker, executor_threads

pytestmark = pytest.mark.temporal


async def until(check, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.3)


async def test_report_events_are_signed_retried_logged_and_replayed(temporal_env, settings) -> None:
    settings = settings.model_copy(update={"webhook_allowed_hosts": ["127.0.0.0/8"],
                                           "webhook_retry_initial_seconds": 0.5, "webhook_timeout_seconds": 5})
    survey_id = load_survey(settings, responses=40)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    with WebhookReceiver() as hooks, ThreadPoolExecutor(executor_threads(settings)) as executor:
        async with build_worker(temporal_env.client, settings, executor, sessions), \
                api(settings, temporal_env.client) as client:
            refused = await client.post("/api/v1/webhooks", json={"url": "http://10.0.0.8/hook"})
            assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "url"]
            created = await client.post("/api/v1/webhooks", json={"url": hooks.url,
                                                                   "events": ["report.completed"]})
            assert created.status_code == 201, created.text
            endpoint, secret = created.json()["id"], created.json()["secret"]
            assert secret.startswith("whsec_") and "secret" not in (await client.get("/api/v1/webhooks")).text

            hooks.script(500, 503)  # the receiver is down for two attempts
            r = await client.post("/api/v1/reports", json={"survey_id": str(survey_id), "components": ["basic_stats"]})
            report_id = r.json()["report_id"]
            await wait_for(client, r.json()["status_url"], lambda b: b["status"] == "completed")

            async def delivered() -> bool:
                rows = (await client.get(f"/api/v1/webhooks/{endpoint}/deliveries")).json()
                return bool(rows) and rows[0]["status"] == "delivered"
            await until(delivered)
            [delivery] = (await client.get(f"/api/v1/webhooks/{endpoint}/deliveries")).json()
            assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
            assert delivery["attempts"][0]["error"] == "answered 500"
            assert len(hooks.received) == 3
            last = hooks.received[-1]
            event = Webhook(secret).verify(last.body, last.headers)
            assert event["type"] == "report.completed" and event["data"]["report_id"] == report_id
            assert event["data"]["links"]["page"].endswith(f"/reports/{report_id}")
            assert "questions" not in last.body.decode() and "responses" not in last.body.decode()  # no data
            assert {h.headers["webhook-id"] for h in hooks.received} == {delivery["event_id"]}  # one event id

            replay = await client.post(f"/api/v1/webhooks/deliveries/{delivery['id']}/replay")
            assert replay.status_code == 202, replay.text
            await until(lambda: asyncio.sleep(0, result=len(hooks.received) == 4))
            assert hooks.received[-1].headers["webhook-id"] == delivery["event_id"]
            missing = await client.post(f"/api/v1/webhooks/deliveries/{uuid.uuid4()}/replay")
            assert missing.status_code == 404


async def test_an_endpoint_that_keeps_failing_is_disabled(temporal_env, settings) -> None:
    settings = settings.model_copy(update={
        "webhook_allowed_hosts": ["127.0.0.0/8"], "webhook_retry_initial_seconds": 0.2,
        "webhook_retry_hours": 3 / 3600, "webhook_disable_after": 1, "webhook_timeout_seconds": 2})
    survey_id = load_survey(settings, responses=30)
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    with WebhookReceiver() as hooks, ThreadPoolExecutor(executor_threads(settings)) as executor:
        hooks.script(*([500] * 100))
        async with build_worker(temporal_env.client, settings, executor, sessions), \
                api(settings, temporal_env.client) as client:
            created = await client.post("/api/v1/webhooks", json={"url": hooks.url})
            endpoint = created.json()["id"]
            r = await client.post("/api/v1/reports", json={"survey_id": str(survey_id), "components": ["basic_stats"]})
            await wait_for(client, r.json()["status_url"], lambda b: b["status"] == "completed")

            async def disabled() -> bool:
                [row] = (await client.get("/api/v1/webhooks")).json()
                return not row["enabled"]
            await until(disabled, timeout=60)
            [row] = (await client.get("/api/v1/webhooks")).json()
            assert "disabled after 1 failed deliveries in a row" in row["disabled_reason"]
            [delivery] = (await client.get(f"/api/v1/webhooks/{endpoint}/deliveries")).json()
            assert delivery["status"] == "failed" and len(delivery["attempts"]) >= 2
            assert all(a["status_code"] == 500 for a in delivery["attempts"])


async def test_the_receiving_endpoint_checks_signature_window_and_replays(settings) -> None:
    secret = new_secret()
    settings = settings.model_copy(update={"webhook_receiver_secret": SecretStr(secret)})
    from workbench.storage.migrate import upgrade

    upgrade(settings.effective_database_url)
    async with api(settings, None) as client:
        body = json.dumps({"type": "report.completed", "data": {"report_id": "r1", "status": "completed"}})
        url = "/api/webhooks/report-completed"
        good = sign(secret, "evt_a", body)
        assert (await client.post(url, content=body, headers=good)).status_code == 204
        replayed = await client.post(url, content=body, headers=good)
        assert replayed.status_code == 409 and "received before" in replayed.json()["detail"]
        tampered = await client.post(url, content=body.replace("r1", "r2"), headers=sign(secret, "evt_b", body))
        assert tampered.status_code == 401
        stale = sign(secret, "evt_c", body, at=datetime.now(UTC) - timedelta(minutes=6))
        assert (await client.post(url, content=body, headers=stale)).status_code == 401
        foreign = sign(new_secret(), "evt_d", body)
        assert (await client.post(url, content=body, headers=foreign)).status_code == 401
        assert (await client.post(url, content=body)).status_code == 401  # no headers at all
