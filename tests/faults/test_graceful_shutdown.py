"""SIGTERM to a worker whose notebook cell is mid-execution (the real Temporal dev server, worker processes, API).

(a) The grace period is longer than the cell: the worker stops taking tasks on every queue at once (a report
submitted during the drain waits for the next worker), the running component finishes and is stored once, and the
worker exits 0 within the grace period, leaving no kernel process or kernel folder.

(b) The grace period (`WORKBENCH_WORKER_GRACEFUL_SHUTDOWN_SECONDS`) is shorter than the cell: at its end the activity
is cancelled, its kernel ended, the worker exits, and another worker runs the component again: the report
completes with exactly one stored row per component.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import nbformat
import pytest
from sqlalchemy import func, select

from cli.stack import Stack
from tests.conftest import SAMPLE_PATH
from tests.e2e.test_report_e2e import wait_finished
from tests.e2e.test_topology import kernels_owned_by
from tests.faults.test_worker_kills import wait_for
from workbench.config import REPO_ROOT
from workbench.kernels import PREFIX, kernel_root
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.models import ReportComponent

pytestmark = [pytest.mark.faults, pytest.mark.e2e]
RESPONSES = 40
COMPONENT = "basic_stats"  # the cheapest component, on the notebooks queue


def sleepy_notebooks(tmp_path: Path, seconds: float) -> tuple[Path, Path]:
    """Notebooks where `COMPONENT` ends with a cell that sleeps `seconds`, on its first run only (the marker file
    says it started sleeping): a retry, or a later report, runs at full speed. Last, so that once the sleep ends
    only storing the result is left, however slow the shared machine is."""
    folder, marker = tmp_path / "notebooks", tmp_path / "sleeping"
    shutil.copytree(REPO_ROOT / "notebooks", folder, ignore=shutil.ignore_patterns("data"))
    nb = nbformat.read(folder / f"{COMPONENT}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        f"import pathlib, time\n_marker = pathlib.Path({str(marker)!r})\n"
        f"if not _marker.exists():\n    _marker.write_text('x')\n    time.sleep({seconds})"))
    nbformat.write(nb, folder / f"{COMPONENT}.ipynb")
    return folder, marker


def load_survey(client: httpx.Client) -> str:
    data = json.loads(SAMPLE_PATH.read_text())
    survey_id = client.post("/api/v1/surveys", json={k: v for k, v in data["survey"].items() if k != "id"}).json()["id"]
    assert client.post(f"/api/v1/surveys/{survey_id}/responses",
                       json={"responses": data["responses"][:RESPONSES]}).status_code == 201
    return str(survey_id)


def submit(client: httpx.Client, survey_id: str) -> dict:
    answer = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": [COMPONENT]})
    assert answer.status_code == 202, answer.text
    return answer.json()


def component(client: httpx.Client, report: dict) -> dict:
    status = client.get(report["status_url"]).json()
    return next(c for c in status["components"] if c["name"] == COMPONENT)


def sigterm_mid_cell(stack: Stack, client: httpx.Client, report: dict, marker: Path) -> subprocess.Popen:
    """Wait until the worker's kernel sleeps in the cell, SIGTERM the worker, and return once it has begun to shut
    down (the Temporal SDK logs that as it stops polling a queue; all queues stop at once, within this pause)."""
    worker = stack.processes["worker"]
    wait_for(lambda: marker.exists() and kernels_owned_by({worker.pid}), 60, "the cell to start sleeping")
    assert component(client, report)["status"] == "running"
    os.kill(worker.pid, signal.SIGTERM)
    log = stack.log_dir / "worker.log"
    wait_for(lambda: "Beginning worker shutdown" in log.read_text(errors="replace"), 10, "the worker to stop polling")
    time.sleep(0.5)
    return worker


def assert_nothing_left(pid: int) -> None:
    """No process started by one of the worker's kernel runs, and no kernel folder named after the worker."""
    assert not kernels_owned_by({pid}), f"kernel processes of worker {pid} outlived it"
    folders = list(kernel_root().glob(f"{PREFIX}{pid}-*"))
    assert not folders, f"kernel folders of worker {pid} left: {folders}"


def rows_per_component(stack: Stack, report_id: str) -> dict[str, int]:
    engine = make_engine(stack.settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return dict(session.execute(
                select(ReportComponent.component_type, func.count())
                .where(ReportComponent.report_id == uuid.UUID(report_id))
                .group_by(ReportComponent.component_type)).all())
    finally:
        engine.dispose()


def test_sigterm_mid_cell_lets_the_running_component_finish(start_stack, tmp_path) -> None:
    grace = 45  # room for the rest of the run on a busy machine; the worker leaves as soon as it is done
    notebooks, marker = sleepy_notebooks(tmp_path, 5)
    stack, client = start_stack(notebooks_dir=str(notebooks), worker_graceful_shutdown_seconds=str(grace))
    survey_id = load_survey(client)
    first = submit(client, survey_id)

    worker = sigterm_mid_cell(stack, client, first, marker)
    stopping = time.monotonic()
    second = submit(client, survey_id)  # while the worker drains: it must not take this one

    def exited() -> bool:
        assert client.get(second["status_url"]).json()["status"] == "queued", "a draining worker took a new report"
        return worker.poll() is not None

    wait_for(exited, grace + 10, "the worker to exit")
    took = time.monotonic() - stopping
    assert worker.returncode == 0, f"the worker exited with {worker.returncode}"
    assert took < grace, f"the worker took {took:.1f} s to stop, beyond its {grace} s grace period"
    done = component(client, first)
    assert (done["status"], done["attempts"]) == ("completed", 1), done  # finished by the draining worker
    assert client.get(second["status_url"]).json()["status"] == "queued"
    assert_nothing_left(worker.pid)

    # the next worker settles the first report and runs the second
    later = stack.start_worker("worker2")
    for report in (first, second):
        final = wait_finished(client, report["status_url"], timeout=120)[-1]
        assert final["status"] == "completed", final
        assert rows_per_component(stack, report["report_id"]) == {COMPONENT: 1}
    assert component(client, first)["attempts"] == 1  # never run again
    wait_for(lambda: not kernels_owned_by({later.pid}), 15, "the next worker's kernels to stop")


def test_sigterm_mid_cell_beyond_the_grace_period_cancels_and_hands_back(start_stack, tmp_path) -> None:
    grace = 2
    notebooks, marker = sleepy_notebooks(tmp_path, 300)
    stack, client = start_stack(notebooks_dir=str(notebooks), worker_graceful_shutdown_seconds=str(grace))
    survey_id = load_survey(client)
    report = submit(client, survey_id)

    worker = sigterm_mid_cell(stack, client, report, marker)
    stopping = time.monotonic()
    try:
        worker.wait(grace + 30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker still runs {grace + 30} s after SIGTERM (grace period {grace} s)")
    took = time.monotonic() - stopping
    assert worker.returncode == 0, f"the worker exited with {worker.returncode}"
    assert took >= grace - 0.5, f"the worker stopped after {took:.1f} s, before its {grace} s grace period ended"
    # checked before another worker starts: its sweep would remove what a dead worker left
    assert_nothing_left(worker.pid)  # the cancelled activity ended its kernel

    later = stack.start_worker("worker2")  # takes the retry of the cancelled attempt
    final = wait_finished(client, report["status_url"], timeout=120)[-1]
    assert final["status"] == "completed", final
    done = next(c for c in final["components"] if c["name"] == COMPONENT)
    assert (done["status"], done["attempts"]) == ("completed", 2), done  # the cancelled attempt, then the retry
    assert rows_per_component(stack, report["report_id"]) == {COMPONENT: 1}
    wait_for(lambda: not kernels_owned_by({later.pid}), 15, "the next worker's kernels to stop")
