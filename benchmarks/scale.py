"""Scale: generated surveys of 2,000, 20,000 and 200,000 responses through the embedded stack.

    .venv/bin/python -m benchmarks.scale [--sizes 2000,20000,200000] [--seed 7] [--timeout 14400] [--memory-budget MB]

Per size: the import (a CSV through POST /api/v1/surveys/{id}/responses, until stored), the report (POST
/api/v1/reports until the rendered page is received), each component's time (started_at..completed_at in the
report's status), the worker tree's CPU time, and the peak resident memory of the worker process, of a single
kernel and of the worker and its kernels together (sampled every 100 ms). Targets: time grows no faster than
linearly (a 20x larger survey takes at most 25x the time, for import and report), and the 200,000-response report
runs with the worker and its kernels under 1.5 GB. See README.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks._stack import (
    MB,
    RunningStack,
    TreePeaks,
    TreeSampler,
    check_completed,
    component_seconds,
    create_survey,
    embedded_stack,
    format_table,
    import_csv,
    log,
    retried_components,
    submit_report,
    tree_cpu_seconds,
    usable_cores,
    wait_report,
)

GROWTH_LIMIT = 25 / 20  # time may grow at most 1.25x as fast as the size: 20x the responses, at most 25x the time
MEMORY_TARGET_SIZE = 200_000
MEMORY_TARGET_BYTES = 1.5 * 1024 * MB  # 1.5 GiB: the worker and its kernels together
WARM_UP_RESPONSES = 200
WARM_UP_SEED = 99  # not the measured seed, so the warm-up's answers are not the measured surveys' answers


@dataclass
class SizeRun:
    responses: int
    csv_bytes: int = 0
    generate: float = 0.0
    import_seconds: float | None = None
    api_peak: int = 0
    report_seconds: float | None = None
    page_seconds: float | None = None
    worker_cpu: float | None = None
    peaks: TreePeaks | None = None
    components: dict[str, float | None] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)
    error: str | None = None


def clear_embedding_cache(data_dir: Path) -> None:
    """Every size starts with a cold embedding cache: its answers are new to the stack, as a new survey's are."""
    for path in (data_dir / "cache").glob("embeddings.sqlite*"):
        path.unlink(missing_ok=True)


def generate_csv(n: int, seed: int, path: Path) -> tuple[dict[str, Any], int, float]:
    """Generate `n` responses and write them as an import CSV (not timed); (survey definition, bytes, seconds)."""
    from benchmarks._stack import write_import_csv
    from workbench.sample import generate_sample

    start = time.perf_counter()
    sample = generate_sample(seed, n)
    size = write_import_csv(path, sample)
    survey = sample["survey"]
    del sample
    gc.collect()
    return survey, size, time.perf_counter() - start


def warm_up(running: RunningStack, workdir: Path, timeout: float) -> None:
    """A small report first, so the measured sizes do not pay the stack's first poll and first kernel start."""
    path = workdir / "warm-up.csv"
    survey, _, _ = generate_csv(WARM_UP_RESPONSES, WARM_UP_SEED, path)
    survey_id = create_survey(running.client, survey, title="warm-up")
    import_csv(running.client, survey_id, path, timeout)
    start = time.perf_counter()
    body = wait_report(running.client, submit_report(running.client, survey_id), timeout, poll=0.1)
    check_completed(body)
    log(f"  warm-up report ({WARM_UP_RESPONSES} responses): {time.perf_counter() - start:.1f} s")


def measure_size(running: RunningStack, n: int, seed: int, workdir: Path, timeout: float) -> SizeRun:
    """One size; on an error the run comes back with what was measured so far and `error` set."""
    run = SizeRun(n)
    try:
        _measure(running, run, seed, workdir, timeout)
    except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
        run.error = str(exc)[:2000]
        log(f"error at {n}: {exc}")
    return run


def _measure(running: RunningStack, run: SizeRun, seed: int, workdir: Path, timeout: float) -> None:
    n = run.responses
    path = workdir / f"survey-{n}.csv"
    survey, run.csv_bytes, run.generate = generate_csv(n, seed, path)
    log(f"  {n}: generated {run.csv_bytes / MB:.1f} MB of CSV in {run.generate:.1f} s (not timed)")
    survey_id = create_survey(running.client, survey, title=f"{survey['title']} ({n} responses)")
    with TreeSampler(running.api_pid) as api:
        run.import_seconds = import_csv(running.client, survey_id, path, timeout)
    run.api_peak = api.peaks.total
    path.unlink()
    log(f"  {n}: import {run.import_seconds:.1f} s")
    clear_embedding_cache(running.data_dir)
    poll = 0.05 if n <= 5_000 else 0.5
    cpu_before = tree_cpu_seconds(running.worker_pid)
    start = time.perf_counter()
    with TreeSampler(running.worker_pid) as sampler:
        run.peaks = sampler.peaks  # filled while it samples; kept if the report fails
        report_id = submit_report(running.client, survey_id)
        body = wait_report(running.client, report_id, timeout, poll, start)
        finished = time.perf_counter()
        run.worker_cpu = tree_cpu_seconds(running.worker_pid) - cpu_before
    run.components = component_seconds(body)
    run.retried = retried_components(body)
    check_completed(body)
    page = running.client.get(f"/reports/{report_id}")
    page.raise_for_status()
    run.report_seconds = time.perf_counter() - start
    run.page_seconds = time.perf_counter() - finished
    log(f"  {n}: report {run.report_seconds:.1f} s (page {run.page_seconds:.2f} s), peak worker+kernels "
        f"{run.peaks.total / MB:.0f} MB" + (f"; retried: {run.retried}" if run.retried else ""))


def _s(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _mb(value: int | None) -> str:
    return "" if not value else f"{value / MB:.0f}"


def tables(runs: list[SizeRun]) -> tuple[str, bool]:
    """The per-size rows, the components per size, the growth ratios and the targets; (text, all targets met)."""
    rows = [("responses", "CSV MB", "import s", "report s", "page s", "worker CPU s", "peak worker MB",
             "peak kernel MB", "peak total MB", "peak total PSS MB", "kernels at once", "peak API MB (import)")]
    for r in runs:
        p = r.peaks
        rows.append((f"{r.responses:,}", f"{r.csv_bytes / MB:.1f}", _s(r.import_seconds), _s(r.report_seconds),
                     _s(r.page_seconds, 2), _s(r.worker_cpu), _mb(p.root if p else None),
                     _mb(p.kernel if p else None), _mb(p.total if p else None), _mb(p.total_pss if p else None),
                     str(p.most_kernels) if p else "", _mb(r.api_peak)))
    out = [format_table(rows), ""]
    names = list(dict.fromkeys(n for r in runs for n in r.components))
    if names:
        comp = [("component", *(f"{r.responses:,} s" for r in runs), *(f"{r.responses:,} kernel MB" for r in runs))]
        comp += [(name, *(_s(r.components.get(name)) for r in runs),
                  *(_mb(r.peaks.by_component.get(name) if r.peaks else None) for r in runs)) for name in names]
        out += [format_table(comp), ""]
    met = True
    done = [r for r in runs if r.report_seconds is not None and r.import_seconds is not None]
    if len(done) >= 2:
        growth = [("growth", "size x", "import x", "report x", "allowed x",
                   *(f"{n} x" for n in names))]
        for small, big in zip(done, done[1:], strict=False):
            size = big.responses / small.responses
            allowed = GROWTH_LIMIT * size
            imp = big.import_seconds / small.import_seconds  # type: ignore[operator]
            rep = big.report_seconds / small.report_seconds  # type: ignore[operator]
            met = met and imp <= allowed and rep <= allowed
            per = []
            for name in names:
                a, b = small.components.get(name), big.components.get(name)
                per.append(f"{b / a:.1f}" if a and b else "")
            growth.append((f"{small.responses:,} -> {big.responses:,}", f"{size:.1f}", f"{imp:.1f}", f"{rep:.1f}",
                           f"{allowed:.1f}", *per))
        out += [format_table(growth), ""]
        out.append(f"target: import and report time grow at most {GROWTH_LIMIT:.2f}x as fast as the size "
                   f"(20x size -> at most 25x time) -> {'met' if met else 'MISSED'}")
    else:
        out.append("target (time growth): needs two sizes -> n/a")
    largest = next((r for r in runs if r.responses == MEMORY_TARGET_SIZE and r.peaks is not None), None)
    if largest is None or largest.report_seconds is None:
        out.append(f"target: the {MEMORY_TARGET_SIZE:,}-response report with worker+kernels under "
                   f"{MEMORY_TARGET_BYTES / MB:.0f} MB -> n/a (not measured in this run)")
    else:
        ok = largest.peaks.total < MEMORY_TARGET_BYTES  # type: ignore[union-attr]
        met = met and ok
        out.append(f"target: the {MEMORY_TARGET_SIZE:,}-response report with worker+kernels under "
                   f"{MEMORY_TARGET_BYTES / MB:.0f} MB: {largest.peaks.total / MB:.0f} MB "  # type: ignore[union-attr]
                   f"(PSS {largest.peaks.total_pss / MB:.0f} MB) -> {'met' if ok else 'MISSED'}")  # type: ignore[union-attr]
        out.append("  at that peak, RSS MB: " + ", ".join(  # type: ignore[union-attr]
            f"{name} {rss / MB:.0f}" for name, rss in largest.peaks.at_total.items()))
    for r in runs:
        if r.retried:
            out.append(f"note: at {r.responses:,} a component was retried: {', '.join(r.retried)}")
        if r.error:
            out.append(f"error at {r.responses:,}: {r.error}")
    return "\n".join(out), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,20000,200000",
                        help="comma-separated survey sizes in responses (default 2000,20000,200000)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7, the bundled sample's)")
    parser.add_argument("--timeout", type=int, default=4 * 3600,
                        help="seconds a cell, a component, an import and a report may take (default 14400); "
                             "set as WORKBENCH_CELL_TIMEOUT_SECONDS and WORKBENCH_COMPONENT_TIMEOUT_SECONDS")
    parser.add_argument("--memory-budget", type=int, default=None, metavar="MB",
                        help="the worker's memory budget for its kernels (WORKBENCH_WORKER_MEMORY_BUDGET_MB; "
                             "default: the setting's, off)")
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes takes whole numbers, e.g. 2000,20000")
    if not sizes or sizes[0] < 10:
        parser.error("sizes must be at least 10 responses")
    env = {
        "WORKBENCH_CELL_TIMEOUT_SECONDS": str(args.timeout),
        "WORKBENCH_COMPONENT_TIMEOUT_SECONDS": str(args.timeout),
        "WORKBENCH_MAX_UPLOAD_BYTES": str(1024 * MB),  # the 200,000-response CSV is about 60 MB
        **({"WORKBENCH_WORKER_MEMORY_BUDGET_MB": str(args.memory_budget)} if args.memory_budget else {}),
    }
    runs: list[SizeRun] = []
    broke = False
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        try:
            with embedded_stack(Path(tmp) / "data", env) as running:
                warm_up(running, Path(tmp), args.timeout)
                for n in sizes:
                    runs.append(measure_size(running, n, args.seed, Path(tmp), args.timeout))
                    if runs[-1].error:
                        broke = True
                        break  # a larger size would fail the same way, only later
        except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            broke = True
    if runs:
        print(f"sizes: {', '.join(f'{n:,}' for n in sizes)} (seed {args.seed}); cores: {os.cpu_count()} "
              f"(usable: {usable_cores()}); memory is RSS, shared pages counted in every process")
        text, _ = tables(runs)
        print(text)
    return 1 if broke else 0


if __name__ == "__main__":
    sys.exit(main())
