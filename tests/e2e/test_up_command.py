"""README command one: `workbench up` brings the stack up, makes the sample report, prints working URLs,
and SIGTERM stops it with every child process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import share_embedding_cache
from tests.e2e.conftest import free_ports

pytestmark = pytest.mark.e2e


def test_up_serves_the_sample_report_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    api_port, temporal_port, ui_port = free_ports(3)
    share_embedding_cache(tmp_path / "data")  # the worker's kernels embed the sample's answers once per machine
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(tmp_path / "data"), "WORKBENCH_API_PORT": str(api_port),
           "WORKBENCH_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}", "WORKBENCH_TEMPORAL_UI_PORT": str(ui_port),
           # the sample (about 0.6 MB) then goes through a background import job, as a large survey would
           "WORKBENCH_BACKGROUND_IMPORT_BYTES": "100000"}
    env.pop("WORKBENCH_DATABASE_URL", None)
    up = subprocess.Popen([sys.executable, "-m", "cli.main", "up"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, cwd=Path(__file__).parents[2])
    output = []
    deadline = time.monotonic() + 180
    assert up.stdout is not None
    for line in up.stdout:
        output.append(line)
        if "Serving" in line or time.monotonic() > deadline:
            break
    text = "".join(output)
    assert "Serving" in text, text
    assert re.search(r"survey \S+: 2000 responses imported", text), text
    assert re.search(r"2000 responses, completion rate 92\.0%, NPS 25\.6", text), text
    key = re.search(r"Sign in:\s+\S+/login with the admin key (wb_\S+)", text).group(1)
    assert (tmp_path / "data" / "admin-key").read_text().strip() == key  # kept, so the next start prints it again
    auth = {"Authorization": f"Bearer {key}"}
    page = re.search(r"Report page:\s+(\S+)", text).group(1)
    assert httpx.get(page, timeout=30).status_code == 303  # nobody signed in: to the sign-in page
    assert httpx.get(page, timeout=30, headers=auth).status_code == 200
    pdf = re.search(r"PDF:\s+(\S+)", text).group(1)
    assert httpx.get(pdf, timeout=60).status_code == 401
    assert httpx.get(pdf, timeout=60, headers=auth).content.startswith(b"%PDF")
    assert re.search(r"Temporal Web UI:\s+http://127\.0\.0\.1:\d+/namespaces/default/workflows/", text)

    children = psutil.Process(up.pid).children(recursive=True)
    assert len(children) >= 3  # temporal, worker, api
    up.send_signal(signal.SIGTERM)
    assert up.wait(60) == 0
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
