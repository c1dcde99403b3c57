"""Report latency: Workbench end to end through the API vs. running the notebooks by hand.

    .venv/bin/python -m benchmarks.report_latency [--runs N] [--baseline-runs N] [--survey FILE] [--pause S]

See benchmarks/README.md for what is measured and the target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import nbformat

from benchmarks._stack import embedded_stack
from workbench.components import components, result_path_parameter
from workbench.config import REPO_ROOT
from workbench.results import extract_result
from workbench.statuses import ReportStatus

TARGET_RATIO = 0.15  # issue 12 (the first target was 0.6)
POLL_SECONDS = 0.05
REPORT_TIMEOUT_SECONDS = 1800.0
BIN = Path(sys.executable).parent  # papermill and jupyter live next to this interpreter


def import_survey(client: httpx.Client, survey_path: Path) -> str:
    """Create the survey and its responses through the API (not timed); returns the survey id."""
    data = json.loads(survey_path.read_text())
    created = client.post("/api/v1/surveys", json={k: v for k, v in data["survey"].items() if k != "id"})
    created.raise_for_status()
    survey_id: str = created.json()["id"]
    client.post(f"/api/v1/surveys/{survey_id}/responses", json={"responses": data["responses"]}).raise_for_status()
    return survey_id


def timed_report(client: httpx.Client, survey_id: str) -> float:
    """Seconds from POST /api/v1/reports until the rendered report page has been received."""
    start = time.perf_counter()
    queued = client.post("/api/v1/reports", json={"survey_id": survey_id})
    queued.raise_for_status()
    report_id = queued.json()["report_id"]
    while True:
        status = client.get(f"/api/v1/reports/{report_id}/status")
        status.raise_for_status()
        body = status.json()
        if ReportStatus(body["status"]).finished:
            break
        if time.perf_counter() - start > REPORT_TIMEOUT_SECONDS:
            raise TimeoutError(f"report {report_id} still {body['status']} after {REPORT_TIMEOUT_SECONDS:.0f} s")
        time.sleep(POLL_SECONDS)
    page = client.get(f"/reports/{report_id}")
    page.raise_for_status()
    elapsed = time.perf_counter() - start
    # A failed or partial report is faster but not a report; timing it would flatter us.
    if body["status"] != "completed":
        raise RuntimeError(f"report {report_id} ended {body['status']}: {body.get('error')} "
                           f"(failed: {body.get('failed_components')})")
    return elapsed


def measure_workbench(survey: Path, runs: int, workdir: Path, pause: float = 0.0) -> tuple[float, list[float]]:
    """(first run, the `runs` runs after it) through a fresh embedded stack; `pause` seconds of idle worker before
    each timed run (reports that arrive apart, e.g. for the kernel pool to refill)."""
    with embedded_stack(workdir / "data", client_timeout=120) as running:
        survey_id = import_survey(running.client, survey)
        first = timed_report(running.client, survey_id)
        print(f"  workbench first run: {first:.2f} s", file=sys.stderr)
        times = []
        for i in range(runs):
            time.sleep(pause)
            times.append(timed_report(running.client, survey_id))
            print(f"  workbench run {i + 1}/{runs}: {times[-1]:.2f} s", file=sys.stderr)
    return first, times


def run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}")


def baseline_once(survey: Path, workdir: Path) -> float:
    """What a user does by hand: write the snapshot, then papermill + nbconvert each notebook in turn."""
    workdir.mkdir(parents=True)
    out = workdir / "out"
    out.mkdir()
    start = time.perf_counter()
    snapshot = workdir / "snapshot.json"
    shutil.copyfile(survey, snapshot)  # the input is already snapshot-shaped: {"survey": ..., "responses": ...}
    for name in components.resolve(None):  # dependency order; one notebook at a time, as by hand
        executed = out / f"{name}.ipynb"
        upstream = []
        for need in components.get(name).needs:  # hand over the upstream result, as the pipeline does
            result = out / f"{need}.result.json"
            result.write_text(json.dumps(extract_result(nbformat.read(out / f"{need}.ipynb", as_version=4))))
            upstream += ["-p", result_path_parameter(need), str(result.resolve())]
        run([str(BIN / "papermill"), str(REPO_ROOT / "notebooks" / f"{name}.ipynb"), str(executed),
             "-p", "snapshot_path", str(snapshot.resolve()), *upstream, "-k", "workbench", "--cwd", str(workdir)],
            workdir)
        run([str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(executed)], workdir)
    return time.perf_counter() - start


def measure_baseline(survey: Path, runs: int, workdir: Path) -> list[float]:
    times = []
    for i in range(runs):
        times.append(baseline_once(survey, workdir / f"run{i}"))
        print(f"  baseline run {i + 1}/{runs}: {times[-1]:.2f} s", file=sys.stderr)
    return times


def table(first: float, workbench: list[float], baseline: list[float]) -> str:
    wb, base = statistics.median(workbench), statistics.median(baseline)
    ratio = wb / base
    rows = [
        ("measurement", "seconds", "min", "max"),
        ("workbench, first run", f"{first:.2f}", "", ""),
        (f"workbench, median of {len(workbench)}", f"{wb:.2f}", f"{min(workbench):.2f}", f"{max(workbench):.2f}"),
        (f"baseline, median of {len(baseline)}", f"{base:.2f}", f"{min(baseline):.2f}", f"{max(baseline):.2f}"),
        ("ratio workbench/baseline", f"{ratio:.2f}", "", ""),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])
             .rstrip() for row in rows]
    lines.append(f"target: ratio <= {TARGET_RATIO:.2f} -> {'met' if ratio <= TARGET_RATIO else 'MISSED'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="timed Workbench runs after the first (default 3)")
    parser.add_argument("--baseline-runs", type=int, default=None, help="baseline runs (default: --runs)")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds the worker idles before each timed run (default 0: back to back)")
    parser.add_argument("--survey", type=Path, default=REPO_ROOT / "notebooks" / "data" / "sample_survey.json",
                        help="snapshot-shaped survey JSON ({'survey': ..., 'responses': [...]})")
    args = parser.parse_args(argv)
    if args.runs < 1 or (args.baseline_runs is not None and args.baseline_runs < 1):
        parser.error("run counts must be at least 1")
    survey: Path = args.survey.resolve()
    if not survey.is_file():
        parser.error(f"no survey file at {survey}")
    try:
        with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
            print("measuring Workbench through the API...", file=sys.stderr)
            first, workbench = measure_workbench(survey, args.runs, Path(tmp) / "workbench", args.pause)
            # After the stack is stopped, so its idle processes do not compete with the baseline.
            print("measuring the baseline (papermill + nbconvert)...", file=sys.stderr)
            baseline = measure_baseline(survey, args.baseline_runs or args.runs, Path(tmp) / "baseline")
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"survey: {survey.name}; cores: {os.cpu_count()} (usable by this process: {affinity})")
    print(table(first, workbench, baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
