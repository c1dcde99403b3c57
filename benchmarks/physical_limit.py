"""Latency against the physical limit: a report through the API vs. the same notebook code in one warm process.

    .venv/bin/python -m benchmarks.physical_limit [--runs N] [--compute-runs N] [--survey FILE]

**Workbench**: the embedded stack (as report_latency.py starts it), one report after another through the API,
from POST /api/v1/reports to the rendered page. **Limit**: the code of each component's notebook (every code cell
but the parameters cell: the analysis functions, the tables' and charts' rendering, charts to PNG, the emitted
result) run in this one warm Python process: no kernel, no papermill, no Temporal, no database; the snapshot's
load is timed apart and left out. The components are then laid out along the component graph (a component starts
when the components it `needs` are done and a slot of its queue is free, as the worker runs them:
`max_concurrent_activities` notebooks, `ai_concurrent_activities` model-calling ones); the limit is the larger of
that critical path and the CPU time of all components over the cores. Target: Workbench median at most 1.5x the
limit. A last table says where a report's CPU goes (the code, the kernels beyond it, the worker, the API, Temporal)
against what the target leaves on these cores. See README.md.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from threadpoolctl import threadpool_limits

from benchmarks._stack import (
    RunningStack,
    component_seconds,
    embedded_stack,
    format_table,
    import_snapshot,
    log,
    median,
    processes_cpu_seconds,
    retried_components,
    timed_report,
    tree_cpu_seconds,
    usable_cores,
)
from workbench.config import REPO_ROOT, Settings
from workbench.kernels import kernel_threads

TARGET_RATIO = 1.5
REPORT_TIMEOUT_SECONDS = 1800.0


# --- Workbench through the API ----------------------------------------------------------------------------------


def cpu_seconds(running: RunningStack) -> dict[str, float]:
    """CPU seconds used so far (user + system, ended children included) by each part of the stack: the worker
    process itself, what it started (the kernels, their template, git), the API, the Temporal server."""
    own = psutil.Process(running.worker_pid).cpu_times()
    worker = own.user + own.system
    others = [int(p.pid) for name, p in running.stack.processes.items() if name not in ("worker", "api")]
    return {"worker": worker, "kernels": tree_cpu_seconds(running.worker_pid) - worker,
            "api": tree_cpu_seconds(running.api_pid), "temporal": processes_cpu_seconds(others)}


def measure_api(survey: Path, runs: int, workdir: Path) -> dict[str, Any]:
    """A first report (cold: it also fills the stack's embedding cache), then `runs` timed reports."""
    with embedded_stack(workdir / "data") as running:
        survey_id = import_snapshot(running.client, survey)
        first, _ = timed_report(running.client, survey_id, REPORT_TIMEOUT_SECONDS)
        log(f"  workbench first run: {first:.2f} s")
        times: list[float] = []
        per_component: dict[str, list[float]] = {}
        before = cpu_seconds(running)
        for i in range(runs):
            seconds, body = timed_report(running.client, survey_id, REPORT_TIMEOUT_SECONDS)
            times.append(seconds)
            for name, value in component_seconds(body).items():
                if value is not None:
                    per_component.setdefault(name, []).append(value)
            retried = retried_components(body)
            log(f"  workbench run {i + 1}/{runs}: {seconds:.2f} s" + (f" (retried: {retried})" if retried else ""))
        after = cpu_seconds(running)
        slots = {"notebooks": running.settings.max_concurrent_activities,
                 "ai": running.settings.ai_concurrent_activities}
        return {"first": first, "times": times, "components": {k: median(v) for k, v in per_component.items()},
                "slots": slots, "cache": running.data_dir / "cache",
                "cpu": {part: (after[part] - before[part]) / runs for part in after}}


# --- the same notebook code in this process ------------------------------------------------------------------


class Cell:
    """A code cell compiled as the kernel runs it: the statements, then the last expression (if any), whose value
    the kernel displays."""

    def __init__(self, source: str, where: str) -> None:
        tree = ast.parse(source, where)
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        body = tree.body[:-1] if last is not None else tree.body
        self.body = compile(ast.Module(body=body, type_ignores=[]), where, "exec")
        self.last = compile(ast.Expression(body=last.value), where, "eval") if last is not None else None


class InProcessNotebooks:
    """Runs the component notebooks' code in this process, with what the kernel would do around it:

    * `IPython.display.display` formats each object as the kernel does (`DisplayFormatter`: text/plain, HTML of
      DataFrames, Markdown, PNG), and so does a cell's last expression; `print` goes to a buffer.
    * `workbench.notebook.load_snapshot` reads the snapshot as in a report run (the JSON the worker writes and,
      when this version of Workbench has it, its Parquet sibling; with the columns the notebook asks for), but
      its time is taken out of the component's and reported apart: loading is not in the limit.
    * `emit_result` runs as it is (it checks and serialises the result); its output is kept as the component's
      result, written to a file for the components that read it (not timed), as the pipeline does.
    """

    def __init__(self, survey: Path, workdir: Path) -> None:
        import matplotlib

        matplotlib.use("agg")  # the kernel's backend
        import IPython.display
        from IPython.core.formatters import DisplayFormatter

        import workbench.notebook
        from workbench.components import components
        from workbench.results import RESULT_MIME
        from workbench.surveys.schema import Snapshot

        self.workdir = workdir
        # The report's inputs as the worker writes them (workbench.reports.steps): the validated snapshot as JSON
        # and, where this version writes one, its Parquet form beside it.
        self.snapshot_path = workdir / "snapshot.json"
        self.snapshot = Snapshot.model_validate_json(survey.read_bytes())
        snapshot_bytes = self.snapshot.model_dump_json().encode()
        self.snapshot_path.write_bytes(snapshot_bytes)
        write_parquet = getattr(workbench.notebook, "write_snapshot_parquet", None)
        if write_parquet is not None:
            write_parquet(snapshot_bytes, workbench.notebook.parquet_sibling(self.snapshot_path))
        real_load = workbench.notebook.load_snapshot
        self.load = [0.0, 0.0]  # the current component's snapshot loads so far: wall, CPU seconds

        def load_snapshot(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return real_load(*args, **kwargs)
            finally:
                self.load[0] += time.perf_counter() - wall
                self.load[1] += time.process_time() - cpu

        self.components = components
        self.order = components.resolve(None)
        self.results: dict[str, dict[str, Any]] = {}
        formatter = DisplayFormatter()
        emitted: list[Any] = []
        self._emitted = emitted

        def display(*objs: Any, raw: bool = False, **_: Any) -> None:
            for obj in objs:
                if raw:
                    if isinstance(obj, dict) and RESULT_MIME in obj:
                        emitted.append(obj[RESULT_MIME])
                else:
                    formatter.format(obj)

        self._format = formatter.format
        IPython.display.display = display  # type: ignore[assignment]
        workbench.notebook.load_snapshot = load_snapshot  # type: ignore[assignment]
        self.cells: dict[str, tuple[str, list[Cell]]] = {}
        import nbformat

        for name in self.order:
            nb = nbformat.read(REPO_ROOT / "notebooks" / components.get(name).notebook, as_version=4)
            code = [c for c in nb.cells if c.cell_type == "code"]
            parameters = next(c.source for c in code if "parameters" in c.get("metadata", {}).get("tags", []))
            self.cells[name] = (parameters, [Cell(c.source, f"{name}[{i}]") for i, c in enumerate(code)
                                             if "parameters" not in c.get("metadata", {}).get("tags", [])])

    def run(self, name: str) -> tuple[float, float, float]:
        """(wall seconds, CPU seconds of this process, all threads) of one component's notebook code, without
        loading the snapshot, and the wall seconds of that load."""
        from workbench.components import result_path_parameter

        parameters, cells = self.cells[name]
        namespace: dict[str, Any] = {"__name__": "__main__"}
        exec(parameters, namespace)  # the defaults, as papermill leaves them
        namespace["snapshot_path"] = str(self.snapshot_path)  # then what papermill injects
        for need in self.components.get(name).needs:
            namespace[result_path_parameter(need)] = str(self.workdir / f"{need}.result.json")
        self._emitted.clear()
        self.load[:] = [0.0, 0.0]
        cwd = os.getcwd()
        os.chdir(self.workdir)  # the kernel's working folder
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            with contextlib.redirect_stdout(io.StringIO()):
                for cell in cells:
                    exec(cell.body, namespace)
                    if cell.last is not None:
                        value = eval(cell.last, namespace)
                        if value is not None:
                            self._format(value)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            os.chdir(cwd)
        if len(self._emitted) != 1:
            raise RuntimeError(f"{name} emitted {len(self._emitted)} results, not one")
        result = self._emitted[0]
        (self.workdir / f"{name}.result.json").write_text(json.dumps(result))
        self.results[name] = result
        load_wall, load_cpu = self.load
        return wall - load_wall, cpu - load_cpu, load_wall

    def run_all(self) -> dict[str, tuple[float, float, float]]:
        return {name: self.run(name) for name in self.order}  # dependency order, one at a time


def critical_path(durations: dict[str, float], slots: dict[str, int]) -> tuple[float, dict[str, float]]:
    """Lay the components out as the workflow and worker run them: a component starts as soon as everything it
    needs has finished and its queue has a free slot (in registry order); returns (end of the last, starts)."""
    from workbench.components import components

    specs = {name: components.get(name) for name in durations}
    free = dict(slots)
    pending = list(durations)
    running: list[tuple[float, str, str]] = []  # (end, name, queue)
    finished: dict[str, float] = {}
    starts: dict[str, float] = {}
    now = 0.0
    while pending or running:
        for name in list(pending):
            queue = specs[name].queue_for(None)
            if all(n in finished for n in specs[name].needs) and free.get(queue, 1) > 0:
                free[queue] = free.get(queue, 1) - 1
                pending.remove(name)
                starts[name] = now
                running.append((now + durations[name], name, queue))
        if not running:
            raise RuntimeError(f"cannot schedule {pending}")
        running.sort()
        now, name, queue = running.pop(0)
        finished[name] = now
        free[queue] += 1
    return now, starts


def measure_limit(survey: Path, runs: int, workdir: Path, cache: Path) -> tuple[InProcessNotebooks, dict[str, Any]]:
    """One warm-up pass (imports, model load), then `runs` passes; per component the median wall and CPU time."""
    os.environ["WORKBENCH_EMBEDDING_CACHE"] = str(cache)  # the cache the stack's kernels filled: warm for both
    workdir.mkdir(parents=True, exist_ok=True)
    notebooks = InProcessNotebooks(survey, workdir)
    warm = notebooks.run_all()
    log("  in-process warm-up: " + ", ".join(f"{n} {w:.2f} s" for n, (w, _, _) in warm.items()))
    passes = []
    # The native thread pools (OpenMP, BLAS; loaded by the warm-up) as a report's kernels have them: with more
    # threads the same code spins for more CPU (which would raise the CPU half of the limit) and is not faster.
    settings = Settings()
    with threadpool_limits(kernel_threads(settings.kernel_threads, settings.max_concurrent_activities)):
        for i in range(runs):
            passes.append(notebooks.run_all())
            log(f"  in-process pass {i + 1}/{runs}: {sum(w for w, _, _ in passes[-1].values()):.2f} s "
                "one after another")
    wall = {n: median([p[n][0] for p in passes]) for n in notebooks.order}
    cpu = {n: median([p[n][1] for p in passes]) for n in notebooks.order}
    load = {n: median([p[n][2] for p in passes]) for n in notebooks.order}
    return notebooks, {"wall": wall, "cpu": cpu, "load": load}


def report(api: dict[str, Any], limit: dict[str, Any], cores: int) -> tuple[str, float]:
    wall, cpu, load, slots = limit["wall"], limit["cpu"], limit["load"], api["slots"]
    path, starts = critical_path(wall, slots)
    cpu_bound = sum(cpu.values()) / cores
    physical = max(path, cpu_bound)
    rows = [("component", "in-process s", "CPU s", "starts at s", "load s (not in limit)", "through API s",
             "API/in-process")]
    for name in wall:
        through = api["components"].get(name)
        rows.append((name, f"{wall[name]:.2f}", f"{cpu[name]:.2f}", f"{starts[name]:.2f}", f"{load[name]:.2f}",
                     "" if through is None else f"{through:.2f}",
                     "" if through is None or not wall[name] else f"{through / wall[name]:.1f}x"))
    times = api["times"]
    wb = median(times)
    ratio = wb / physical
    slot_text = ", ".join(f"{q} {n}" for q, n in slots.items())
    summary = [
        ("measurement", "seconds", "min", "max"),
        ("snapshot loads, all components (not in the limit)", f"{sum(load.values()):.2f}", "", ""),
        (f"compute critical path (slots: {slot_text})", f"{path:.2f}", "", ""),
        (f"compute CPU time / {cores} cores", f"{cpu_bound:.2f}", "", ""),
        ("physical limit (the larger of the two)", f"{physical:.2f}", "", ""),
        ("workbench through the API, first run", f"{api['first']:.2f}", "", ""),
        (f"workbench through the API, median of {len(times)}", f"{wb:.2f}", f"{min(times):.2f}", f"{max(times):.2f}"),
        ("ratio workbench/limit", f"{ratio:.2f}", "", ""),
    ]
    text = "\n".join([
        format_table(rows), "",
        "in-process s: the notebook's code without loading the snapshot (load s: that load, as a kernel does it); "
        "through API s: the component's started_at..completed_at in its status (median of the timed runs)", "",
        format_table(summary),
        f"target: ratio <= {TARGET_RATIO:.2f} -> {'met' if ratio <= TARGET_RATIO else 'MISSED'}", "",
        cpu_budget(api["cpu"], sum(cpu.values()), physical, cores),
    ])
    return text, ratio


def cpu_budget(parts: dict[str, float], code: float, physical: float, cores: int) -> str:
    """Where a report's CPU goes, against what the target leaves: a report cannot end before its CPU time over
    the cores, so at the target ratio the whole report may take at most ratio x limit x cores of CPU."""
    code_in_kernels = min(code, parts["kernels"])
    total = sum(parts.values())
    budget = TARGET_RATIO * physical * cores
    rows = [
        ("CPU per report (mean of the timed runs)", "seconds"),
        ("the notebooks' code (the limit's CPU, as run in this process)", f"{code:.2f}"),
        ("the kernels beyond that code (start, Jupyter protocol, outputs, exit; and git)",
         f"{parts['kernels'] - code_in_kernels:.2f}"),
        ("the worker (papermill, HTML, database, Temporal SDK)", f"{parts['worker']:.2f}"),
        ("the API (this benchmark's status polls every 50 ms included)", f"{parts['api']:.2f}"),
        ("the Temporal server", f"{parts['temporal']:.2f}"),
        ("all", f"{total:.2f}"),
        (f"all / {cores} cores: no report can end sooner", f"{total / cores:.2f}"),
        (f"at most, for ratio {TARGET_RATIO:.2f} ({TARGET_RATIO:.2f} x limit x {cores} cores)", f"{budget:.2f}"),
        ("of which left for everything but the code", f"{budget - code:.2f}"),
    ]
    return format_table(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="timed reports through the API after the first (default 3)")
    parser.add_argument("--compute-runs", type=int, default=3,
                        help="timed in-process passes after the warm-up (default 3)")
    parser.add_argument("--survey", type=Path, default=REPO_ROOT / "notebooks" / "data" / "sample_survey.json",
                        help="snapshot-shaped survey JSON ({'survey': ..., 'responses': [...]}); "
                             "`python -m workbench.sample --n N --out FILE` writes one of any size")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.compute_runs < 1:
        parser.error("run counts must be at least 1")
    survey: Path = args.survey.resolve()
    if not survey.is_file():
        parser.error(f"no survey file at {survey}")
    try:
        with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
            log("measuring Workbench through the API...")
            api = measure_api(survey, args.runs, Path(tmp) / "workbench")
            # After the stack is stopped, so its idle processes do not compete with the in-process run.
            log("measuring the same notebook code in this process...")
            notebooks, limit = measure_limit(survey, args.compute_runs, Path(tmp) / "inprocess", api["cache"])
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cores = usable_cores()
    responses = len(notebooks.snapshot.responses)
    print(f"survey: {survey.name} ({responses} responses); cores: {os.cpu_count()} (usable by this process: {cores})")
    text, _ = report(api, limit, cores)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
