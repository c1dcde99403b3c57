"""Prometheus metrics of the API and the workers, and the worker's own health endpoint, on real parts."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest
from fastapi.testclient import TestClient

from tests.integration.api_support import create_survey, import_json, response
from tests.integration.test_report_run import generate, load_survey
from workers.health import WorkerHealth, serve


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_api_metrics_count_requests_by_route_template_and_reports_by_status(client: TestClient) -> None:
    survey_id = create_survey(client)
    assert import_json(client, survey_id, [response("a", 9)]).status_code == 201
    client.get(f"/api/v1/surveys/{survey_id}")
    client.get("/api/v1/surveys/00000000-0000-0000-0000-000000000000")
    text = client.get("/metrics").text
    assert 'workbench_http_requests_total{method="GET",route="/api/v1/surveys/{survey_id}",status="200"} 1.0' in text
    assert 'route="/api/v1/surveys/{survey_id}",status="404"} 1.0' in text
    assert survey_id not in text  # ids never become labels
    assert "workbench_http_request_seconds_bucket" in text and "# TYPE workbench_reports gauge" in text
    assert "/metrics" not in client.get("/openapi.json").text


@pytest.mark.temporal
async def test_worker_health_and_metrics(temporal_env, settings) -> None:
    health = WorkerHealth(["test-reports"])
    server = serve(health, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    stop = asyncio.Event()
    try:
        status, body = await asyncio.to_thread(get, f"{base}/health/ready")
        assert status == 503 and '"temporal": false' in body  # not checked Temporal yet
        watcher = asyncio.create_task(health.watch(temporal_env.client, stop))
        for _ in range(50):
            if health.ready():
                break
            await asyncio.sleep(0.1)
        assert (await asyncio.to_thread(get, f"{base}/health/ready"))[0] == 200
        assert (await asyncio.to_thread(get, f"{base}/health/live"))[0] == 200

        survey_id = load_survey(settings, responses=30)
        _, outcome, _ = await generate(temporal_env, settings, survey_id, ["basic_stats"])
        assert outcome.status == "completed"
        status, text = await asyncio.to_thread(get, f"{base}/metrics")
        assert status == 200
        assert 'workbench_component_runs_total{component="basic_stats",outcome="completed"}' in text
        assert 'workbench_reports_finished_total{status="completed"}' in text
        assert 'workbench_component_seconds_count{component="basic_stats"}' in text
        stop.set()
        await watcher
    finally:
        server.shutdown()
        server.server_close()
