"""Workers SIGKILLed again and again mid-notebook: a new worker finishes the report; every kill costs an attempt,
none fails the report (worker deaths are outages, not notebook errors), nothing is duplicated and no kernel
outlives its worker."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid

import psutil
import pytest
from sqlalchemy import func, select

from tests.conftest import SAMPLE_PATH
from tests.e2e.test_report_e2e import wait_finished
from tests.integration.test_report_run import broken_notebooks
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.models import ReportComponent

pytestmark = [pytest.mark.faults, pytest.mark.e2e]
KILLS = 3  # as many as max_component_attempts: under the old retry policy the report would have failed


def kernels_of(pid: int, template: bool = False) -> list[psutil.Process]:
    """The worker's kernels: started ones, and forks of its kernel template (with the template itself if asked)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for p in children:
        with contextlib.suppress(psutil.Error):
            command = " ".join(p.cmdline())
            if "ipykernel" in command or ("workbench.kernel_forks" in command and (template or p.ppid() != pid)):
                found.append(p)
    return found


def wait_for(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_report_survives_repeated_worker_kills(start_stack, tmp_path) -> None:
    # themes sleeps in a cell long enough for each kill to land mid-notebook
    notebooks = broken_notebooks(tmp_path, "themes", "import time\ntime.sleep(6)")
    stack, client = start_stack(notebooks_dir=str(notebooks), heartbeat_timeout_seconds="3")
    data = json.loads(SAMPLE_PATH.read_text())
    survey_id = client.post("/api/v1/surveys", json={k: v for k, v in data["survey"].items() if k != "id"}).json()["id"]
    assert client.post(f"/api/v1/surveys/{survey_id}/responses",
                       json={"responses": data["responses"][:200]}).status_code == 201
    queued = client.post("/api/v1/reports", json={"survey_id": survey_id}).json()  # every component

    def themes_sleeping(attempt: int) -> bool:
        status = client.get(queued["status_url"]).json()
        themes = next(c for c in status["components"] if c["name"] == "themes")
        # cells: parameters, papermill's injected parameters, then the 6 s sleep: 2 done means it sleeps now
        return themes["status"] == "running" and themes["attempts"] == attempt and themes["cells_done"] == 2

    worker = stack.processes["worker"]
    for kill in range(1, KILLS + 1):
        wait_for(lambda k=kill: themes_sleeping(k), 90, f"attempt {kill} to reach the sleeping cell")
        kernels = wait_for(lambda w=worker: kernels_of(w.pid), 10, "a kernel of the worker")
        kernels += [p for p in kernels_of(worker.pid, template=True) if p not in kernels]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        # orphaned kernels notice their parent is gone (ipykernel's parent poller) and exit; a kernel template
        # notices its worker is gone, and its forks their template
        gone, alive = psutil.wait_procs(kernels, timeout=20)
        assert not alive, f"kernels left behind after kill {kill}: {[p.pid for p in alive]}"
        worker = stack.start_worker(f"worker{kill + 1}")

    final = wait_finished(client, queued["status_url"], timeout=180)[-1]
    assert final["status"] == "completed", final
    themes = next(c for c in final["components"] if c["name"] == "themes")
    # every killed attempt and the one that finished: the 6 s cell never tripped the 3 s heartbeat timeout
    assert themes["attempts"] == KILLS + 1
    with make_sessionmaker(make_engine(stack.settings.effective_database_url))() as session:
        counts = dict(session.execute(
            select(ReportComponent.component_type, func.count())
            .where(ReportComponent.report_id == uuid.UUID(queued["report_id"]))
            .group_by(ReportComponent.component_type)).all())
    assert counts == {"basic_stats": 1, "sentiment": 1, "themes": 1, "segments": 1, "visualizations": 1,
                      "summary": 1}
    # every kernel the last worker started was shut down with its component
    wait_for(lambda: not kernels_of(worker.pid), 15, "the last worker's kernels to stop")
