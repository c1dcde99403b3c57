"""Workers SIGKILLed again and again mid-notebook: every kill costs an attempt, none fails the report (worker
deaths are outages, not notebook errors), nothing is duplicated and no kernel outlives its worker."""

from __future__ import annotations

import json
import os
import signal
import uuid

import psutil
import pytest
from sqlalchemy import func, select

from tests.conftest import SAMPLE_PATH
from tests.e2e.test_report_e2e import wait_finished
from tests.e2e.test_worker_crash import kernels_of, wait_for
from tests.integration.test_report_run import broken_notebooks
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.models import ReportComponent

pytestmark = [pytest.mark.faults, pytest.mark.e2e]
KILLS = 3  # as many as max_component_attempts: under the old retry policy the report would have failed


def test_a_report_survives_repeated_worker_kills(start_stack, tmp_path) -> None:
    notebooks = broken_notebooks(tmp_path, "themes", "import time\ntime.sleep(8)")
    stack, client = start_stack(notebooks_dir=str(notebooks), heartbeat_timeout_seconds="3")
    data = json.loads(SAMPLE_PATH.read_text())
    survey_id = client.post("/api/v1/surveys", json={k: v for k, v in data["survey"].items() if k != "id"}).json()["id"]
    assert client.post(f"/api/v1/surveys/{survey_id}/responses",
                       json={"responses": data["responses"][:200]}).status_code == 201
    queued = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["themes"]}).json()

    def themes_sleeping(attempt: int) -> bool:
        themes = client.get(queued["status_url"]).json()["components"][0]
        return themes["status"] == "running" and themes["attempts"] == attempt and themes["cells_done"] == 2

    worker = stack.processes["worker"]
    for kill in range(1, KILLS + 1):
        wait_for(lambda k=kill: themes_sleeping(k), 90, f"attempt {kill} to reach the sleeping cell")
        kernels = wait_for(lambda w=worker: kernels_of(w.pid), 10, "a kernel of the worker")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        gone, alive = psutil.wait_procs(kernels, timeout=20)
        assert not alive, f"kernels left behind after kill {kill}: {[p.pid for p in alive]}"
        worker = stack.start_worker(f"worker{kill + 1}")

    final = wait_finished(client, queued["status_url"], timeout=180)[-1]
    assert final["status"] == "completed", final
    themes = final["components"][0]
    assert themes["attempts"] == KILLS + 1
    with make_sessionmaker(make_engine(stack.settings.effective_database_url))() as session:
        rows = session.scalar(select(func.count()).select_from(ReportComponent).where(
            ReportComponent.report_id == uuid.UUID(queued["report_id"])))
    assert rows == 1
    wait_for(lambda: not kernels_of(worker.pid), 15, "the last worker's kernels to stop")
