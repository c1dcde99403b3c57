"""The production topology as processes: PostgreSQL (a fresh database), the Temporal dev server, the API and three
workers on two task-queue groups (one `--queues reports`, two `--queues notebooks,ai`), as compose runs them.

Twenty reports are submitted at once; one notebooks worker is SIGKILLed while it runs a component. Every report
still completes, each component has exactly one row, every process exports the Temporal SDK's metrics
(`WORKBENCH_TEMPORAL_METRICS_PORT`), and once the stack has stopped no kernel of any of its workers is left.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, func, select, text

from cli.stack import Stack
from tests.conftest import AUTH, POSTGRES_ADMIN_URL, SAMPLE_PATH, TEST_ADMIN_KEY
from tests.e2e.conftest import free_ports
from tests.integration.test_metrics_health import sdk_samples
from workbench.config import Settings
from workbench.kernels import _NAME, marked_processes
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.migrate import upgrade
from workbench.storage.models import ReportComponent

pytestmark = pytest.mark.e2e

REPORTS = 20
# The cheapest component (about 3 CPU-seconds a run here), and in every fifth report the one that reads its result
# (4 more; charts): 24 notebook runs on two cores.
COMPONENTS = [["basic_stats", "visualizations"] if i % 5 == 0 else ["basic_stats"] for i in range(REPORTS)]
RESPONSES = 40
FINISHED = {"completed", "failed", "cancelled"}


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A new PostgreSQL database for this stack alone, migrated; dropped after the stack has stopped."""
    name = f"workbench_topology_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not available: {exc}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def poll(check, timeout: float, what: str, every: float = 0.5):  # type: ignore[no-untyped-def]
    """`wait_for`, gentler: the API and the workers share two cores with this loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def scrape(port: int) -> dict[str, float]:
    try:
        return sdk_samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
    except httpx.HTTPError:
        return {}


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def kernels_owned_by(pids: set[int]) -> list[psutil.Process]:
    """Kernels (and what they started) of these workers, wherever they were reparented: their `WBK_RUN` folder
    names the worker that started them (workbench.kernels). A live worker's kernel template (workbench.kernel_forks)
    is no kernel; once its worker is gone, it is a leftover like any."""
    found = []
    for proc, marker in marked_processes():
        match = _NAME.match(os.path.basename(marker))
        if match and int(match.group(1)) in pids and not is_live_template(proc, pids):
            found.append(proc)
    return found


def is_live_template(proc: psutil.Process, workers: set[int]) -> bool:
    try:
        return proc.ppid() in workers and "workbench.kernel_forks" in " ".join(proc.cmdline())
    except psutil.Error:
        return False


def in_folder(process: psutil.Process, folder: Path) -> bool:
    try:
        return Path(process.cwd()).is_relative_to(folder)
    except psutil.Error:
        return False


@pytest.fixture
def topology(tmp_path: Path, fresh_postgres: str) -> Iterator[Stack]:
    """The stack's settings: PostgreSQL, a 3 s heartbeat timeout (a dead worker's component is retried soon), no
    rate limit (this test polls), the SDK metrics of the API on their own port; stopped after the test."""
    api_port, temporal_port, ui_port, api_sdk = free_ports(4)
    env = {
        "WORKBENCH_DATA_DIR": str(tmp_path / "data"),
        "WORKBENCH_DATABASE_URL": fresh_postgres,
        "WORKBENCH_API_PORT": str(api_port),
        "WORKBENCH_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "WORKBENCH_TEMPORAL_UI_PORT": str(ui_port),
        "WORKBENCH_BOOTSTRAP_ADMIN_KEY": TEST_ADMIN_KEY,
        "WORKBENCH_HEARTBEAT_TIMEOUT_SECONDS": "3",
        "WORKBENCH_RATE_LIMIT": "",
        "WORKBENCH_MAX_ACTIVE_REPORTS": "100",
        "WORKBENCH_TEMPORAL_METRICS_PORT": str(api_sdk),  # the API's; each worker gets its own below
    }
    stack = Stack(Settings(**{k.removeprefix("WORKBENCH_").lower(): v for k, v in env.items()}), env=env)
    yield stack
    stack.stop()


def test_twenty_reports_survive_a_killed_notebooks_worker(topology: Stack, fresh_postgres: str) -> None:
    started = time.monotonic()
    stack = topology
    stack.prepare()
    stack.start_temporal()
    pools = {"reports": ["worker-reports"], "notebooks,ai": ["worker-notebooks-1", "worker-notebooks-2"]}
    # Not one the stack has chosen but not bound yet (the API's ports start after the workers).
    taken = {stack.settings.api_port, stack.settings.temporal_metrics_port, stack.settings.temporal_ui_port,
             int(stack.settings.temporal_address.rpartition(":")[2])}
    ports = [p for p in free_ports(6 + len(taken)) if p not in taken][:6]
    workers, health, sdk = {}, {}, {}
    for queues, names in pools.items():
        for name in names:
            health[name], sdk[name] = ports.pop(), ports.pop()
            workers[name] = stack.start_worker(name, queues=queues, env={
                "WORKBENCH_WORKER_HEALTH_PORT": str(health[name]), "WORKBENCH_TEMPORAL_METRICS_PORT": str(sdk[name])})
    stack.start_api()  # while the workers start
    api_sdk = stack.settings.temporal_metrics_port
    assert api_sdk is not None
    client = httpx.Client(base_url=f"http://127.0.0.1:{stack.settings.api_port}", timeout=120, headers=AUTH)
    for name in workers:
        poll(lambda n=name: ready(health[n]), 60, f"{name} to be ready", every=0.2)
    pids = {p.pid for p in workers.values()}

    data = json.loads(SAMPLE_PATH.read_text())
    survey_id = client.post("/api/v1/surveys", json={k: v for k, v in data["survey"].items() if k != "id"}).json()["id"]
    assert client.post(f"/api/v1/surveys/{survey_id}/responses",
                       json={"responses": data["responses"][:RESPONSES]}).status_code == 201
    setup = time.monotonic() - started

    def submit(i: int) -> httpx.Response:
        return client.post("/api/v1/reports", json={"survey_id": survey_id, "components": COMPONENTS[i]})

    with ThreadPoolExecutor(REPORTS) as pool:
        answers = list(pool.map(submit, range(REPORTS)))
    assert [a.status_code for a in answers] == [202] * REPORTS, [a.text for a in answers if a.status_code != 202]
    expected = {(a.json()["report_id"], name) for a, names in zip(answers, COMPONENTS, strict=True) for name in names}
    report_ids = {report_id for report_id, _ in expected}

    # The victim runs a component when its own SDK metrics show an activity slot in use and one of its kernels works
    # in a component's folder (a pool kernel waits elsewhere; the attempt is recorded before the kernel gets there).
    victim = "worker-notebooks-2"
    work = (stack.settings.data_dir / "work").resolve()

    def running_there() -> bool:
        busy = any(value >= 1 for name, value in scrape(sdk[victim]).items()
                   if name.startswith("temporal_worker_task_slots_used{") and 'worker_type="ActivityWorker"' in name
                   and 'task_queue="workbench-notebooks"' in name)
        return busy and any(in_folder(kernel, work) for kernel in kernels_owned_by({workers[victim].pid}))

    poll(running_there, 60, f"{victim} to run a component", every=0.05)
    os.kill(workers[victim].pid, signal.SIGKILL)
    workers[victim].wait()
    killed_at = time.monotonic() - started

    def statuses() -> dict[str, str]:
        body = client.get("/api/v1/reports", params={"survey_id": survey_id, "limit": 100}).json()
        return {r["report_id"]: r["status"] for r in body["data"]}

    def all_finished() -> dict[str, str] | None:
        now = statuses()
        return now if len(now) == REPORTS and set(now.values()) <= FINISHED else None

    final = poll(all_finished, 120, "every report to finish")
    finished_at = time.monotonic() - started
    print(f"\ntopology: setup {setup:.1f} s, kill at {killed_at:.1f} s, all finished at {finished_at:.1f} s")
    assert set(final) == report_ids and set(final.values()) == {"completed"}, final

    components = [c for rid in report_ids for c in client.get(f"/api/v1/reports/{rid}/status").json()["components"]]
    assert {c["status"] for c in components} == {"completed"}
    assert max(c["attempts"] for c in components) >= 2  # the killed worker's component ran again elsewhere
    engine = make_engine(fresh_postgres)
    with make_sessionmaker(engine)() as session:
        rows = session.execute(select(ReportComponent.report_id, ReportComponent.component_type, func.count())
                               .group_by(ReportComponent.report_id, ReportComponent.component_type)).all()
    engine.dispose()
    assert {(str(report_id), name) for report_id, name, _ in rows} == expected
    assert {count for *_, count in rows} == {1}  # one row per report and component, whatever the retries

    # The Temporal SDK's metrics, from every process still running.
    reports_sdk, notebooks_sdk, api_metrics = scrape(sdk["worker-reports"]), scrape(sdk["worker-notebooks-1"]), \
        scrape(api_sdk)
    completed = reports_sdk.get('temporal_workflow_completed_total{namespace="default",task_queue='
                                '"workbench-reports",workflow_type="ReportWorkflow"}', 0)
    assert completed >= REPORTS
    assert notebooks_sdk.get('temporal_activity_execution_latency_seconds_count{activity_type="run_component",'
                             'namespace="default",task_queue="workbench-notebooks",workflow_type="ReportWorkflow"}',
                             0) >= 1
    assert api_metrics.get('temporal_request_total{namespace="default",operation="StartWorkflowExecution",'
                           'task_queue="workbench-reports"}', 0) >= REPORTS

    client.close()
    stack.stop()
    assert all(p.poll() is not None for p in workers.values())
    leftovers = kernels_owned_by(pids)
    gone, alive = psutil.wait_procs(leftovers, timeout=10)
    assert not alive, f"kernels left behind: {[(p.pid, p.cmdline()) for p in alive]}"
    print(f"topology: stopped and checked at {time.monotonic() - started:.1f} s")
