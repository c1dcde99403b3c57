"""The sample report through the API, checked against numbers computed here from the sample file."""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import time

import httpx
import pytest
from scipy import stats

from tests.conftest import SAMPLE_PATH

pytestmark = pytest.mark.e2e
FINISHED = {"completed", "partial", "failed"}


def expected_numbers() -> dict:
    """Independent of workbench.analysis: plain Python over the raw sample file."""
    data = json.loads(SAMPLE_PATH.read_text())
    responses = data["responses"]
    completed = [r for r in responses if r["completed_at"]]
    nps = [r["answers"]["nps"] for r in responses if r["answers"].get("nps") is not None]
    sat = [r["answers"]["satisfaction"] for r in responses if r["answers"].get("satisfaction") is not None]
    mean = statistics.fmean(sat)
    half = stats.t.ppf(0.975, len(sat) - 1) * statistics.stdev(sat) / math.sqrt(len(sat))
    return {
        "title": data["survey"]["title"],
        "count": len(responses),
        "completion_rate": len(completed) / len(responses),
        "nps": 100 * (sum(s >= 9 for s in nps) - sum(s <= 6 for s in nps)) / len(nps),
        "sat_mean": mean, "sat_ci": (mean - half, mean + half),
    }


def wait_finished(client: httpx.Client, status_url: str, timeout: float = 240) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(status_url).json()
        seen.append(body)
        if body["status"] in FINISHED:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"report still {seen[-1]['status']} after {timeout} s")


def test_sample_report_end_to_end(start_stack) -> None:
    expected = expected_numbers()
    stack, client = start_stack()
    data = json.loads(SAMPLE_PATH.read_text())
    survey = client.post("/api/v1/surveys", json={k: v for k, v in data["survey"].items() if k != "id"})
    assert survey.status_code == 201, survey.text
    survey_id = survey.json()["id"]
    imported = client.post(f"/api/v1/surveys/{survey_id}/responses", json={"responses": data["responses"]})
    assert imported.status_code == 201, imported.text
    assert imported.json()["imported"] == expected["count"]

    queued = client.post("/api/v1/reports", json={"survey_id": survey_id})
    assert queued.status_code == 202, queued.text
    report_id = queued.json()["report_id"]
    assert queued.headers["location"] == f"/api/v1/reports/{report_id}/status"
    early = client.get(f"/api/v1/reports/{report_id}")
    assert early.status_code in (200, 202)

    history = wait_finished(client, queued.json()["status_url"])
    assert history[-1]["status"] == "completed", history[-1]
    progress = [h["progress"] for h in history]
    assert progress == sorted(progress) and progress[-1] == 1.0

    report = client.get(f"/api/v1/reports/{report_id}")
    assert report.status_code == 200
    body = report.json()
    assert body["survey_title"] == expected["title"] and body["response_count"] == expected["count"]
    results = {c["name"]: c["result"] for c in body["components"]}
    assert set(results) == {"basic_stats", "sentiment", "themes", "segments", "visualizations", "summary"}
    basic = results["basic_stats"]
    assert basic["response_count"] == expected["count"]
    assert basic["completion_rate"] == pytest.approx(expected["completion_rate"], abs=1e-9)
    assert basic["nps"]["score"] == pytest.approx(expected["nps"], abs=1e-9)
    satisfaction = basic["questions"]["satisfaction"]
    assert satisfaction["mean"] == pytest.approx(expected["sat_mean"], abs=1e-9)
    assert (satisfaction["ci_low"], satisfaction["ci_high"]) == pytest.approx(expected["sat_ci"], abs=1e-9)
    assert results["sentiment"]["engine"] == "minilm" and results["themes"]["engine"] == "minilm-clusters"
    assert results["segments"]["findings"], "the sample differs by plan: the report has findings"

    component = client.get(f"/api/v1/reports/{report_id}/components/basic_stats")
    assert component.status_code == 200 and component.json()["result"] == basic
    notebook = client.get(f"/api/v1/reports/{report_id}/notebooks/sentiment.ipynb")
    assert notebook.status_code == 200 and notebook.json()["nbformat"] == 4

    page = client.get(f"/reports/{report_id}")
    assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert expected["title"] in html
    assert f"{expected['count']:,}" in html
    assert f"{expected['nps']:.1f}" in html
    assert f"{100 * expected['completion_rate']:.1f}%" in html
    # the sample holds an answer with a script tag: it must never be live markup; the page's one script is the
    # app's static file
    assert re.findall(r"<script[^>]*>", html, flags=re.I) == ['<script src="/static/workbench.js" defer>']

    pdf = client.get(f"/api/v1/reports/{report_id}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True).stdout.decode()
    flat = re.sub(r"\s+", " ", text)
    assert expected["title"] in flat
    assert f"{expected['nps']:.1f}" in flat

    listed = client.get("/api/v1/reports").json()
    assert report_id in [r["report_id"] for r in listed["data"]]
    health = client.get("/health").json()
    assert health == {"status": "ok", "database": True, "temporal": True, "chromium": True}

    stack.stop()  # SIGTERM: the worker shuts down gracefully
    log = (stack.log_dir / "worker.log").read_text()
    assert "worker stopped" in log
