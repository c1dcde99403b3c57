"""Throughput: N reports submitted at once to one worker, against the CPU bound measured in the same run.

    .venv/bin/python -m benchmarks.throughput [--reports 20] [--single-runs 4] [--survey FILE] [--responses N]

The embedded stack (as report_latency.py starts it), one survey imported through the API. After a warm-up report,
`--single-runs` reports run alone, one after another, half of them before the batch and half after it: the median
CPU time of the worker's process tree (the worker and every kernel it started, ended kernels included) per report
gives the **CPU bound**, reports per minute = 60 / (CPU seconds per report / cores). In between, `--reports`
reports are submitted at once (POST /api/v1/reports in a row) and the run is timed until the last has finished.
Target: at least 80% of the bound, and no report starved (latency over 3x the median). See README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks._stack import (
    RunningStack,
    TreeSampler,
    check_completed,
    embedded_stack,
    format_table,
    import_snapshot,
    log,
    processes_cpu_seconds,
    report_status,
    retried_components,
    submit_report,
    tree_cpu_seconds,
    usable_cores,
    wait_report,
)
from workbench.config import REPO_ROOT
from workbench.statuses import ReportStatus

TARGET_SHARE = 0.8
STARVED = 3.0  # a report whose latency exceeds this many times the median is flagged
TIMEOUT_SECONDS = 4 * 3600.0
POLL_SECONDS = 0.5
BATCH_SAMPLE_SECONDS = 1.0


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def others(running: RunningStack) -> list[int]:
    """The API and the Temporal server: not in the bound, shown for what the stack costs around the worker."""
    return [int(p.pid) for name, p in running.stack.processes.items() if name != "worker"]


def single_reports(running: RunningStack, survey_id: str, count: int, when: str) -> list[dict[str, float]]:
    """Reports alone, one after another: wall seconds, worker-tree CPU seconds, API + Temporal CPU seconds."""
    out: list[dict[str, float]] = []
    for i in range(count):
        worker0, rest0 = tree_cpu_seconds(running.worker_pid), processes_cpu_seconds(others(running))
        start = time.perf_counter()
        with TreeSampler(running.worker_pid) as sampler:
            body = wait_report(running.client, submit_report(running.client, survey_id), TIMEOUT_SECONDS)
        wall = time.perf_counter() - start
        check_completed(body)
        out.append({"wall": wall, "cpu": tree_cpu_seconds(running.worker_pid) - worker0,
                    "rest": processes_cpu_seconds(others(running)) - rest0, "peak": sampler.peaks.total,
                    "sampled": sampler.sampled_cpu_seconds()})
        log(f"  single report {i + 1}/{count} {when} the batch: {wall:.2f} s, worker tree CPU {out[-1]['cpu']:.2f} s "
            f"(sampled per process: {out[-1]['sampled']:.2f} s), API + Temporal CPU {out[-1]['rest']:.2f} s")
    return out


def all_at_once(running: RunningStack, survey_id: str, count: int) -> dict[str, Any]:
    """Submit `count` reports in a row, wait until all have finished; latencies from the server's created_at and
    completed_at (one clock, no polling granularity)."""
    worker0, rest0 = tree_cpu_seconds(running.worker_pid), processes_cpu_seconds(others(running))
    own0 = time.process_time()
    start = time.perf_counter()
    # Sampled every second, not every 100 ms as a single report is: this process shares the cores it measures, and
    # walking a tree of a dozen processes ten times a second cost about 9% of them during the batch.
    with TreeSampler(running.worker_pid, interval=BATCH_SAMPLE_SECONDS) as sampler:
        ids = [submit_report(running.client, survey_id) for _ in range(count)]
        log(f"  submitted {count} reports in {time.perf_counter() - start:.2f} s")
        pending, done = set(ids), 0
        while pending:
            if time.perf_counter() - start > TIMEOUT_SECONDS:
                raise TimeoutError(f"{len(pending)} reports still unfinished after {TIMEOUT_SECONDS:.0f} s")
            time.sleep(POLL_SECONDS)
            listed = running.client.get("/api/v1/reports", params={"survey_id": survey_id, "limit": 500})
            listed.raise_for_status()
            for item in listed.json()["data"]:
                if item["report_id"] in pending and ReportStatus(item["status"]).finished:
                    pending.discard(item["report_id"])
            if count - len(pending) != done:
                done = count - len(pending)
                log(f"  {done}/{count} finished ({time.perf_counter() - start:.0f} s)")
    wall = time.perf_counter() - start
    bodies = [report_status(running.client, rid) for rid in ids]
    created = [_when(b["created_at"]) for b in bodies]
    ended = [_when(b["completed_at"]) if b.get("completed_at") else None for b in bodies]
    latencies = [(e - c).total_seconds() if e else None for c, e in zip(created, ended, strict=True)]
    finished = [e for e in ended if e]
    span = (max(finished) - min(created)).total_seconds() if finished else wall
    return {"bodies": bodies, "latencies": latencies, "span": span, "wall": wall,
            "cpu": tree_cpu_seconds(running.worker_pid) - worker0,
            "rest": processes_cpu_seconds(others(running)) - rest0, "peak": sampler.peaks,
            "sampled": sampler.sampled_cpu_seconds(), "own": time.process_time() - own0}


def survey_file(survey: Path, responses: int | None, workdir: Path) -> Path:
    """The survey, or its first `responses` responses in a new snapshot-shaped file."""
    if responses is None:
        return survey
    data = json.loads(survey.read_text())
    data["responses"] = data["responses"][:responses]
    path = workdir / "survey.json"
    path.write_text(json.dumps(data))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=20, help="reports submitted at once (default 20)")
    parser.add_argument("--single-runs", type=int, default=4,
                        help="reports run alone for the CPU bound, half before the batch and half after it "
                             "(default 4)")
    parser.add_argument("--survey", type=Path, default=REPO_ROOT / "notebooks" / "data" / "sample_survey.json",
                        help="snapshot-shaped survey JSON (default: the bundled sample, 2,000 responses)")
    parser.add_argument("--responses", type=int, default=None, help="use only the survey's first N responses")
    args = parser.parse_args(argv)
    if min(args.reports, args.single_runs) < 1 or (args.responses is not None and args.responses < 1):
        parser.error("counts must be at least 1")
    if not args.survey.is_file():
        parser.error(f"no survey file at {args.survey}")
    # Every report is in flight at once: lift the per-organization cap on active reports (default 20).
    env = {"WORKBENCH_MAX_ACTIVE_REPORTS": ""}
    cores = usable_cores()
    try:
        with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
            with embedded_stack(Path(tmp) / "data", env) as running:
                survey_id = import_snapshot(running.client, survey_file(args.survey.resolve(), args.responses,
                                                                        Path(tmp)))
                start = time.perf_counter()
                check_completed(wait_report(running.client, submit_report(running.client, survey_id),
                                            TIMEOUT_SECONDS))
                log(f"  warm-up report: {time.perf_counter() - start:.2f} s (fills the embedding cache)")
                # Before and after: this machine's speed drifts over minutes, and the batch sits in between.
                singles = single_reports(running, survey_id, (args.single_runs + 1) // 2, "before")
                batch = all_at_once(running, survey_id, args.reports)
                singles += single_reports(running, survey_id, args.single_runs // 2, "after")
                slots = running.settings.max_concurrent_activities
                pool = running.settings.kernel_pool_size
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    cpu = statistics.median(s["cpu"] for s in singles)
    rest = statistics.median(s["rest"] for s in singles)
    wall = statistics.median(s["wall"] for s in singles)
    bound = 60 / (cpu / cores)
    rate = args.reports / batch["span"] * 60
    share = rate / bound
    latencies = [x for x in batch["latencies"] if x is not None]
    failed = [b for b in batch["bodies"] if b["status"] != "completed"]
    mid = statistics.median(latencies) if latencies else float("nan")
    starved = [(i + 1, x) for i, x in enumerate(batch["latencies"]) if x is not None and x > STARVED * mid]
    responses = args.responses or len(json.loads(args.survey.read_text())["responses"])
    print(f"survey: {args.survey.name} ({responses} responses), all components; cores: {os.cpu_count()} "
          f"(usable: {cores}); worker: {slots} notebook slots, kernel pool {pool}")
    rows = [
        ("measurement", "value"),
        (f"single report alone, wall s (median of {len(singles)})", f"{wall:.2f}"),
        ("single report, worker-tree CPU s", f"{cpu:.2f}"),
        ("  cross-check: the same, sampled per process every 100 ms",
         f"{statistics.median(s['sampled'] for s in singles):.2f}"),
        ("single report, API + Temporal CPU s (not in the bound)", f"{rest:.2f}"),
        (f"CPU bound, reports/min (60 / (CPU s / {cores} cores))", f"{bound:.2f}"),
        (f"{args.reports} at once: first created to last finished, s", f"{batch['span']:.1f}"),
        (f"{args.reports} at once: reports/min", f"{rate:.2f}"),
        (f"{args.reports} at once: worker-tree CPU s per report", f"{batch['cpu'] / args.reports:.2f}"),
        (f"{args.reports} at once: API + Temporal CPU s per report", f"{batch['rest'] / args.reports:.2f}"),
        (f"{args.reports} at once: this benchmark's own CPU s per report", f"{batch['own'] / args.reports:.2f}"),
        (f"{args.reports} at once: peak worker+kernels MB, kernels at once",
         f"{batch['peak'].total / 2**20:.0f}, {batch['peak'].most_kernels}"),
        ("share of the CPU bound", f"{share:.2f}"),
        ("  for information: share of a bound that counts the API + Temporal CPU too",
         f"{rate / (60 / ((cpu + rest) / cores)):.2f}"),
        ("latency per report s: min / median / max",
         f"{min(latencies):.1f} / {mid:.1f} / {max(latencies):.1f}" if latencies else "n/a"),
        ("failed reports", str(len(failed))),
    ]
    print(format_table(rows))
    print("latencies (s, in submission order): " + ", ".join("-" if x is None else f"{x:.1f}"
                                                             for x in batch["latencies"]))
    for number, latency in starved:
        print(f"STARVED: report {number} took {latency:.1f} s, over {STARVED:.0f}x the median ({mid:.1f} s)")
    retried = [r for b in batch["bodies"] for r in retried_components(b)]
    if retried:
        print(f"note: components retried: {', '.join(retried)}")
    print(f"target: at least {TARGET_SHARE:.0%} of the CPU bound -> {'met' if share >= TARGET_SHARE else 'MISSED'}; "
          f"no report over {STARVED:.0f}x the median latency -> {'met' if not starved else 'MISSED'}")
    for body in failed:
        try:
            check_completed(body)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
