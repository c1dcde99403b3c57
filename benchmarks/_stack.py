"""Helpers shared by the stack benchmarks (`report_latency`, `batch`, `physical_limit`, `scale`, `throughput`).

The embedded stack on free ports with a fresh data folder (every stack benchmark starts it here), surveys
imported through the API, reports asked and polled through the API, and a sampler of the worker's process tree
(the worker and the kernels it starts): resident memory and CPU time. Nothing here is timed on its own; the
benchmarks decide what to time.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from workbench.statuses import ReportStatus

MB = 1024 * 1024


def log(message: str) -> None:
    """Progress, on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """First column left-aligned, the others right-aligned (as report_latency's table)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:],
                                                                                        strict=True))]).rstrip()
                     for row in rows)


# --- the stack ------------------------------------------------------------------------------------------------


@dataclass
class RunningStack:
    stack: Any  # cli.stack.Stack
    settings: Any  # workbench.config.Settings
    client: httpx.Client

    @property
    def worker_pid(self) -> int:
        return int(self.stack.processes["worker"].pid)

    @property
    def api_pid(self) -> int:
        return int(self.stack.processes["api"].pid)

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports; all sockets stay open until every port is picked so none repeats."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


BENCHMARK_KEY = "wb_be4c4a4b00_benchmark-admin-key"  # the throwaway stack's admin key


def configure_environment(data_dir: Path) -> None:
    """Point every WORKBENCH_* setting the stack uses at the temp dir and free ports.

    Must run before `Settings()` is built and before any child is spawned: children inherit os.environ.
    """
    api_port, temporal_port, ui_port = free_ports(3)
    os.environ.pop("WORKBENCH_DATABASE_URL", None)  # default SQLite inside data_dir
    os.environ.update({
        "WORKBENCH_DATA_DIR": str(data_dir),
        "WORKBENCH_API_HOST": "127.0.0.1",
        "WORKBENCH_API_PORT": str(api_port),
        "WORKBENCH_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "WORKBENCH_TEMPORAL_UI_PORT": str(ui_port),
        "WORKBENCH_TASK_QUEUE": f"benchmark-{os.getpid()}",
        "WORKBENCH_BOOTSTRAP_ADMIN_KEY": BENCHMARK_KEY,
        "WORKBENCH_RATE_LIMIT": "",
    })


def dump_logs(log_dir: Path, lines: int = 20) -> None:
    """The temp dir is deleted on exit, so show the tail of each child's log now."""
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- {log.name} (last {len(tail)} lines)", *tail, sep="\n", file=sys.stderr)


@contextlib.contextmanager
def embedded_stack(data_dir: Path, env: dict[str, str] | None = None,
                   client_timeout: float = 600) -> Iterator[RunningStack]:
    """Temporal dev server, one worker and the API on free ports with a fresh data folder; `env` (WORKBENCH_*
    settings) is set before anything is spawned, so every child inherits it.
    On an error the tail of each child's log goes to stderr; the stack is stopped on the way out."""
    configure_environment(data_dir)
    os.environ.update(env or {})
    # Imported only now, so nothing reads the settings before the environment is set.
    from cli.stack import Stack
    from workbench.config import Settings

    settings = Settings()
    stack = Stack(settings)
    stack.prepare()
    try:
        if not stack.start_temporal():
            raise RuntimeError(f"something already listens on {settings.temporal_address}")
        stack.start_worker()
        stack.start_api()
        with httpx.Client(base_url=settings.base_url, timeout=client_timeout,
                          headers={"Authorization": f"Bearer {BENCHMARK_KEY}"}) as client:
            yield RunningStack(stack, settings, client)
    except BaseException:
        dump_logs(stack.log_dir)
        raise
    finally:
        stack.stop()


# --- surveys --------------------------------------------------------------------------------------------------


def create_survey(client: httpx.Client, definition: dict[str, Any], title: str | None = None) -> str:
    """`POST /api/v1/surveys` with the definition (its `id` dropped); returns the new survey's id."""
    body = {k: v for k, v in definition.items() if k != "id"}
    if title:
        body["title"] = title
    made = client.post("/api/v1/surveys", json=body)
    made.raise_for_status()
    return str(made.json()["id"])


def write_import_csv(path: Path, sample: dict[str, Any]) -> int:
    """The sample's responses as a CSV in the plain import format (as `import_speed.py` writes it); bytes written."""
    questions = [q["key"] for q in sample["survey"]["questions"]]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["respondent_id", "started_at", "completed_at", *questions])
        for response in sample["responses"]:
            answers = response["answers"]
            cells = ["|".join(v) if isinstance(v, list) else ("" if v is None else v)
                     for v in (answers.get(k) for k in questions)]
            writer.writerow([response["respondent_id"], response["started_at"], response["completed_at"] or "",
                             *cells])
    return path.stat().st_size


def import_csv(client: httpx.Client, survey_id: str, path: Path, timeout: float, poll: float = 0.2) -> float:
    """Seconds from `POST /api/v1/surveys/{id}/responses` (text/csv) until the responses are stored: the answer
    itself (201) or, for an upload over `background_import_bytes` (202), the import job's `completed`."""
    return upload_responses(client, survey_id, path.read_bytes(), "text/csv", timeout, poll)


def import_snapshot(client: httpx.Client, path: Path, timeout: float = 3600) -> str:
    """A snapshot-shaped file (`{"survey": ..., "responses": [...]}`) through the API, as report_latency's
    `import_survey`, but waiting for a background import (an upload over 2 MB) to finish; the survey's id."""
    data = json.loads(path.read_text())
    survey_id = create_survey(client, data["survey"])
    upload_responses(client, survey_id, json.dumps({"responses": data["responses"]}).encode(), "application/json",
                     timeout)
    return survey_id


def upload_responses(client: httpx.Client, survey_id: str, data: bytes, content_type: str, timeout: float,
                     poll: float = 0.2) -> float:
    """POST the responses and wait until they are stored (201, or 202 then the import job); seconds taken."""
    start = time.perf_counter()
    answer = client.post(f"/api/v1/surveys/{survey_id}/responses", content=data,
                         headers={"Content-Type": content_type})
    if answer.status_code not in (201, 202):
        raise RuntimeError(f"import refused: {answer.status_code} {answer.text[:500]}")
    if answer.status_code == 202:
        url = answer.json()["status_url"]
        while True:
            job = client.get(url)
            job.raise_for_status()
            body = job.json()
            if body["status"] == "completed":
                break
            if body["status"] == "failed":
                raise RuntimeError(f"import job failed: {body.get('error')} {body.get('issues', [])[:3]}")
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"import job {url} still {body['status']} after {timeout:.0f} s")
            time.sleep(poll)
    return time.perf_counter() - start


# --- reports --------------------------------------------------------------------------------------------------


def submit_report(client: httpx.Client, survey_id: str, components: list[str] | None = None) -> str:
    body: dict[str, Any] = {"survey_id": survey_id}
    if components:
        body["components"] = components
    queued = client.post("/api/v1/reports", json=body)
    queued.raise_for_status()
    return str(queued.json()["report_id"])


def report_status(client: httpx.Client, report_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/reports/{report_id}/status")
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def wait_report(client: httpx.Client, report_id: str, timeout: float, poll: float = 0.05,
                start: float | None = None) -> dict[str, Any]:
    """Poll the status until the report has finished; its last status body."""
    start = time.perf_counter() if start is None else start
    while True:
        body = report_status(client, report_id)
        if ReportStatus(body["status"]).finished:
            return body
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"report {report_id} still {body['status']} after {timeout:.0f} s")
        time.sleep(poll)


def check_completed(body: dict[str, Any]) -> None:
    """A partial or failed report is faster but not a report: an error, not a measurement."""
    if body["status"] != "completed":
        errors = {c["name"]: (c.get("error") or {}).get("message") or c["status"] for c in body["components"]
                  if c["status"] != "completed"}
        raise RuntimeError(f"report {body['report_id']} ended {body['status']}: {body.get('error')} ({errors})")


def timed_report(client: httpx.Client, survey_id: str, timeout: float,
                 poll: float = 0.05) -> tuple[float, dict[str, Any]]:
    """As report_latency.timed_report (POST, poll the status, GET the rendered page), also returning the final
    status body (per-component times). Raises on a report that did not complete."""
    start = time.perf_counter()
    report_id = submit_report(client, survey_id)
    body = wait_report(client, report_id, timeout, poll, start)
    check_completed(body)
    page = client.get(f"/reports/{report_id}")
    page.raise_for_status()
    return time.perf_counter() - start, body


def _when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def component_seconds(body: dict[str, Any]) -> dict[str, float | None]:
    """Per component: completed_at - started_at from the status (the activity's run: inputs written, kernel
    started, notebook executed, outputs stored); None when either is missing."""
    out: dict[str, float | None] = {}
    for c in body["components"]:
        start, end = _when(c.get("started_at")), _when(c.get("completed_at"))
        out[c["name"]] = None if start is None or end is None else (end - start).total_seconds()
    return out


def retried_components(body: dict[str, Any]) -> list[str]:
    return [f"{c['name']} ({c['attempts']} attempts)" for c in body["components"] if (c.get("attempts") or 0) > 1]


# --- the worker's process tree ----------------------------------------------------------------------------------


KERNEL_MARKERS = ("workbench.kernels", "ipykernel", "workbench.kernel_forks")
TEMPLATE_MARKER = "workbench.kernel_forks"  # the kernel template (a worker's child); its children are kernels


def is_template(process: psutil.Process, worker: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return process.ppid() == worker.pid and any(TEMPLATE_MARKER in part for part in process.cmdline())
    return False


def is_kernel(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return any(marker in part for part in process.cmdline() for marker in KERNEL_MARKERS)
    return False


def _descendants(root: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return root.children(recursive=True)
    return []


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of `pid` and every live descendant, plus what their ended children used.

    An ended child's time moves into its parent's `children_user`/`children_system` when the parent reaps it (the
    worker reaps its kernels), so the sum over the live tree never loses a kernel that already exited: the
    difference of two readings is the tree's CPU time in between, short-lived processes included. (Only a process
    reaped outside the tree, an orphan adopted by init, would be missed.)"""
    total = 0.0
    root = psutil.Process(pid)
    for process in [root, *_descendants(root)]:
        with contextlib.suppress(psutil.Error):
            t = process.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def processes_cpu_seconds(pids: Sequence[int]) -> float:
    """`tree_cpu_seconds` summed over several roots (e.g. the API and Temporal server)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += tree_cpu_seconds(pid)
    return total


@dataclass
class TreePeaks:
    """Peaks of resident memory (RSS) over one sampled span, in bytes."""

    root: int = 0  # the worker process itself
    kernel: int = 0  # one kernel (with whatever it started)
    kernels: int = 0  # all kernels at one moment
    total: int = 0  # worker + everything below it at one moment
    total_pss: int = 0  # worker + everything below it, PSS (shared pages split between their users), every 5th sample
    most_kernels: int = 0  # kernels alive at once
    samples: int = 0
    kernel_pids: set[int] = field(default_factory=set)
    by_component: dict[str, int] = field(default_factory=dict)  # a kernel's peak by its working folder's name
    at_total: dict[str, int] = field(default_factory=dict)  # what made up `total` at its peak: "worker", kernels


class TreeSampler:
    """Samples the RSS of a process tree every `interval` seconds in a thread: `with TreeSampler(pid) as s: ...`,
    then `s.peaks`. Kernels are the descendants whose command line names the kernel launcher or ipykernel; a
    kernel's memory includes the processes it started. RSS counts shared pages (libraries) in every process, so
    the total over-counts what the machine actually spends: an upper bound. Every `pss_every`-th sample also
    sums the PSS (proportional set size: each shared page split between the processes mapping it), which does not
    over-count."""

    def __init__(self, pid: int, interval: float = 0.1, pss_every: int = 5) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.pss_every = pss_every  # PSS reads /proc/<pid>/smaps_rollup: a few ms a process, so not every time
        self.peaks = TreePeaks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="tree-sampler")
        self._kernel_cache: dict[tuple[int, float], str | None] = {}
        # CPU seconds (user + system) last seen per process of the tree, and at the first sample: a cross-check of
        # tree_cpu_seconds that does not rely on reaping (it misses what a process does in its last interval).
        self._cpu_seen: dict[tuple[int, float], float] = {}
        self._cpu_first: dict[tuple[int, float], float] | None = None  # kernel -> its component; None: not one

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _kernel(self, process: psutil.Process) -> str | None:
        """The component a kernel runs (the runner starts it in `<data>/work/<report>/<component>`), "" for a
        kernel in another folder (a pool kernel), None for a process that is no kernel."""
        with contextlib.suppress(psutil.Error):
            key = (process.pid, process.create_time())
            if key not in self._kernel_cache:
                label = None
                if is_kernel(process):
                    label = ""
                    with contextlib.suppress(psutil.Error):
                        cwd = Path(process.cwd())
                        label = cwd.name if cwd.parent.parent.name == "work" else ""
                if label != "":  # a kernel not (yet) in a component's folder is looked at again next time
                    self._kernel_cache[key] = label
                return label
            return self._kernel_cache[key]
        return None

    def sample(self) -> None:
        peaks = self.peaks
        try:
            root_rss = self.root.memory_info().rss
        except psutil.Error:
            return
        total, kernels, alive = root_rss, 0, 0
        parts = {"worker": root_rss}
        # One scan of the machine's processes per sample (psutil's children() reads every /proc/<pid>/stat), the
        # tree built from it: a scan per kernel made the sampler a tenth of two cores' work.
        everyone = _descendants(self.root)
        below: dict[int, list[psutil.Process]] = {}
        for process in everyone:
            with contextlib.suppress(psutil.Error):
                below.setdefault(process.ppid(), []).append(process)

        def subtree(process: psutil.Process) -> list[psutil.Process]:
            out, stack = [], [process]
            while stack:
                for child in below.get(stack.pop().pid, []):
                    out.append(child)
                    stack.append(child)
            return out

        kernel_procs: list[psutil.Process] = []
        for child in below.get(self.root.pid, []):
            if is_template(child, self.root):  # forked kernels: count the template apart, each fork as a kernel
                parts["kernel template"] = _rss(child)
                total += parts["kernel template"]
                kernel_procs.extend(below.get(child.pid, []))
            else:
                kernel_procs.append(child)
        for child in kernel_procs:
            rss = _rss(child) + sum(_rss(p) for p in subtree(child))
            total += rss
            label = self._kernel(child)
            name = label or ("kernel" if label is not None else "other")
            parts[name] = parts.get(name, 0) + rss
            if label is not None:
                if label:
                    peaks.by_component[label] = max(peaks.by_component.get(label, 0), rss)
                peaks.kernel = max(peaks.kernel, rss)
                peaks.kernel_pids.add(child.pid)
                kernels += rss
                alive += 1
        for process in [self.root, *everyone]:
            with contextlib.suppress(psutil.Error):
                t = process.cpu_times()
                self._cpu_seen[(process.pid, process.create_time())] = t.user + t.system
        if self._cpu_first is None:
            self._cpu_first = dict(self._cpu_seen)
        if self.pss_every and peaks.samples % self.pss_every == 0:
            peaks.total_pss = max(peaks.total_pss, sum(_pss(p) for p in [self.root, *everyone]))
        peaks.root = max(peaks.root, root_rss)
        peaks.kernels = max(peaks.kernels, kernels)
        if total > peaks.total:
            peaks.total, peaks.at_total = total, parts
        peaks.most_kernels = max(peaks.most_kernels, alive)
        peaks.samples += 1

    def sampled_cpu_seconds(self) -> float:
        """CPU seconds of the tree between the first and the last sample, summed per process as last seen."""
        first = self._cpu_first or {}
        return sum(seen - first.get(key, 0.0) for key, seen in self._cpu_seen.items())

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)
        self.sample()


def _rss(process: psutil.Process) -> int:
    with contextlib.suppress(psutil.Error):
        return int(process.memory_info().rss)
    return 0


def _pss(process: psutil.Process) -> int:
    with contextlib.suppress(psutil.Error, AttributeError):
        return int(process.memory_full_info().pss)
    return 0


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
