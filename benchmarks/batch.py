"""Batch throughput: a batch of N reports on the embedded stack vs. the same reports asked one after another.

    .venv/bin/python -m benchmarks.batch [--reports 200] [--baseline-reports 3] [--concurrency 4]
                                         [--components basic_stats] [--responses 300]

See benchmarks/README.md for what is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks._stack import embedded_stack
from workbench.config import REPO_ROOT
from workbench.statuses import ReportStatus

SAMPLE = REPO_ROOT / "notebooks" / "data" / "sample_survey.json"
POLL_SECONDS = 0.1
TIMEOUT_SECONDS = 4 * 3600.0


def import_copies(client: httpx.Client, count: int, responses: int) -> list[str]:
    """`count` copies of the sample survey, each with its first `responses` responses (not timed): a batch makes
    one report per survey."""
    data = json.loads(SAMPLE.read_text())
    survey = {k: v for k, v in data["survey"].items() if k != "id"}
    ids = []
    for i in range(count):
        made = client.post("/api/v1/surveys", json={**survey, "title": f"{survey['title']} #{i + 1}",
                                                    "responses": data["responses"][:responses]})
        made.raise_for_status()
        ids.append(made.json()["id"])
        if (i + 1) % 50 == 0:
            print(f"  imported {i + 1}/{count} surveys", file=sys.stderr)
    return ids


def single_report(client: httpx.Client, survey_id: str, components: list[str]) -> tuple[float, bool]:
    """(seconds from POST /api/v1/reports until it finished, whether it failed)."""
    start = time.perf_counter()
    queued = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": components})
    queued.raise_for_status()
    url = queued.json()["status_url"]
    while True:
        body = client.get(url).json()
        if ReportStatus(body["status"]).finished:
            return time.perf_counter() - start, body["status"] not in ("completed", "partial")
        if time.perf_counter() - start > TIMEOUT_SECONDS:
            raise TimeoutError(f"{url} still {body['status']}")
        time.sleep(POLL_SECONDS)


def run_batch(client: httpx.Client, survey_ids: list[str], components: list[str], concurrency: int) \
        -> tuple[float, dict[str, Any]]:
    """(seconds from POST /api/v1/report-batches until the batch completed, its final status)."""
    start = time.perf_counter()
    queued = client.post("/api/v1/report-batches", json={"survey_ids": survey_ids, "components": components,
                                                          "concurrency": concurrency})
    queued.raise_for_status()
    url, last = queued.json()["status_url"], -1
    while True:
        body = client.get(url).json()
        if body["status"] in ("completed", "failed"):
            return time.perf_counter() - start, body
        if body["done"] + body["failed"] != last and (body["done"] + body["failed"]) % 10 == 0:
            last = body["done"] + body["failed"]
            print(f"  batch: {body['done']} done, {body['failed']} failed, {body['running']} running of "
                  f"{body['total']} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
        if time.perf_counter() - start > TIMEOUT_SECONDS:
            raise TimeoutError(f"{url} still {body['status']}")
        time.sleep(POLL_SECONDS * 5)


def table(rows: list[tuple[str, int, float, int]], ratio: float) -> str:
    lines = [("run", "reports", "seconds", "reports/min", "failures")]
    lines += [(name, str(n), f"{s:.1f}", f"{n / s * 60:.1f}", str(f)) for name, n, s, f in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    out = ["  ".join([line[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True))])
           for line in lines]
    out.append(f"ratio batch/sequential (seconds): {ratio:.2f}  (speed-up {1 / ratio:.2f}x)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=200, help="reports in the batch (default 200)")
    parser.add_argument("--baseline-reports", type=int, default=3,
                        help="single reports timed one after another for the baseline (default 3)")
    parser.add_argument("--concurrency", type=int, default=4, help="the batch's concurrency (default 4)")
    parser.add_argument("--components", default="basic_stats", help="comma-separated (default basic_stats)")
    parser.add_argument("--responses", type=int, default=300, help="responses per survey (default 300)")
    args = parser.parse_args(argv)
    if min(args.reports, args.baseline_reports, args.concurrency, args.responses) < 1:
        parser.error("counts must be at least 1")
    components = [c.strip() for c in args.components.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        with embedded_stack(Path(tmp) / "data", client_timeout=300) as running:
            print(f"importing {args.reports} copies of the sample survey...", file=sys.stderr)
            surveys = import_copies(running.client, args.reports, args.responses)
            single_report(running.client, surveys[0], components)  # warm-up: the first report pays cold caches
            singles = [single_report(running.client, surveys[i % len(surveys)], components)
                       for i in range(args.baseline_reports)]
            per_report = statistics.median(s for s, _ in singles)
            print(f"  single report, median of {len(singles)}: {per_report:.2f} s", file=sys.stderr)
            seconds, body = run_batch(running.client, surveys, components, args.concurrency)
    if body["status"] != "completed" or body["done"] + body["failed"] != args.reports:
        print(f"error: the batch ended {body['status']}: {body.get('error')}", file=sys.stderr)
        return 1
    sequential = per_report * args.reports
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"components: {', '.join(components)}; {args.responses} responses per survey; cores: {os.cpu_count()} "
          f"(usable: {affinity}); batch concurrency {args.concurrency}")
    print(table([
        (f"sequential single reports (median of {len(singles)} x {args.reports})", args.reports, sequential,
         sum(f for _, f in singles)),
        (f"batch (concurrency {args.concurrency})", args.reports, seconds, body["failed"]),
    ], seconds / sequential))
    return 0


if __name__ == "__main__":
    sys.exit(main())
