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


def sdk_samples(text: str) -> dict[str, float]:
    """`name{labels}` and the bare `name` (summed over its series) -> value, from a Prometheus text page."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()) if k != "service_name")
            values[f"{sample.name}{{{labels}}}"] = sample.value
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return values


@pytest.mark.temporal
async def test_the_temporal_sdk_metrics_of_a_worker_and_its_client(temporal_env, settings) -> None:
    """With `temporal_metrics_port`, the client `connect` makes (and so the worker built on it) serves the SDK's own
    metrics; a report moves them, and the dashboard's `temporal_*` queries name metrics that are there."""
    import json
    import re
    import types

    from tests.e2e.conftest import free_port
    from workbench.config import REPO_ROOT
    from workers.starter import connect, metrics_runtime

    port = free_port()
    settings = settings.model_copy(update={
        "temporal_address": temporal_env.client.service_client.config.target_host, "temporal_metrics_port": port})
    client = await connect(settings)
    assert metrics_runtime(settings) is client.service_client.config.runtime  # one runtime per process and port
    url = f"http://127.0.0.1:{port}/metrics"
    before = sdk_samples((await asyncio.to_thread(get, url))[1])

    survey_id = load_survey(settings, responses=30)
    _, outcome, _ = await generate(types.SimpleNamespace(client=client), settings, survey_id, ["basic_stats"])
    assert outcome.status == "completed"
    status, text = await asyncio.to_thread(get, url)
    assert status == 200
    after = sdk_samples(text)
    queue = settings.task_queue
    moved = {
        f'temporal_workflow_completed_total{{namespace="default",task_queue="{queue}-reports",'
        f'workflow_type="ReportWorkflow"}}': 1,
        f'temporal_activity_execution_latency_seconds_count{{activity_type="run_component",namespace="default",'
        f'task_queue="{queue}-notebooks",workflow_type="ReportWorkflow"}}': 1,
        "temporal_request_total": 3,  # the client's and the worker's calls to Temporal
    }
    for name, least in moved.items():
        assert after.get(name, 0) - before.get(name, 0) >= least, (name, sorted(after))

    dashboard = json.loads((REPO_ROOT / "deploy/monitoring/grafana/workbench-dashboard.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\btemporal_[a-z_]+", target["expr"])}
    assert used and used <= set(after), used - set(after)
