"""The steps of a report run, as plain functions over the database (Temporal activities wrap these).

Each step is safe to repeat: a retried step overwrites what an earlier attempt stored, never adds to it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import dataclasses
import gc
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from sqlalchemy.orm import Session, sessionmaker

from workbench.components import SNAPSHOT_PARAMETER, ComponentSpec, components, result_path_parameter
from workbench.config import Settings
from workbench.kernels import NATIVE_THREAD_VARIABLES, kernel_threads
from workbench.rendering.html import render_component_html
from workbench.reports import admission
from workbench.results import ResultError, extract_result, result_environment
from workbench.runner import KernelDiedError, NotebookError, NotebookRun, run_notebook
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.db import transaction
from workbench.storage.models import ComponentStatus, Report, ReportStatus
from workbench.surveys.schema import ResponseRecord, Snapshot

log = logging.getLogger(__name__)
EMBEDDING_CACHE_ENV = "WORKBENCH_EMBEDDING_CACHE"  # read by workbench.text.embeddings inside the kernel
ProgressCallback = Callable[[int, int], None]
PROGRESS_INTERVAL = 0.5  # seconds between two progress writes of one component (the last cell's is never held)


class ReportNotFound(LookupError):
    """The report id is unknown (deleted, or never created)."""


class InvalidReport(ValueError):
    """The report cannot run as requested (no responses, unknown component): retrying will not help."""


# From this many responses (about 200 bytes each as JSON) a step that held the whole snapshot as objects hands the
# memory it freed back to the system before the kernels start: glibc keeps freed blocks for reuse, so a worker
# that prepared a 200,000-response report stayed near a gigabyte while its kernels ran.
LARGE_SNAPSHOT = 20_000


def release_freed_memory() -> None:
    """Collect cycles, then ask the allocators to return their free pages: Arrow's pool (when the Parquet writer
    loaded it) and the C allocator (glibc's malloc_trim; elsewhere a no-op)."""
    gc.collect()
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _load_report(session: Session, report_id: uuid.UUID) -> Report:
    report = report_store.load_report(session, report_id=report_id)
    if report is None:
        raise ReportNotFound(f"report {report_id} does not exist")
    return report



def segment_keep(segment_filter: dict[str, Any] | None) -> Callable[[ResponseRecord], bool] | None:
    """Whether a response is in one segment (`{"question": key, "value": answer}`, a per-segment report of a
    batch); None without a filter (every response)."""
    if not segment_filter:
        return None
    key, value = str(segment_filter.get("question")), segment_filter.get("value")
    return lambda record: bool(record.answers.get(key) == value)


def segment_snapshot(snapshot: Snapshot, segment_filter: dict[str, Any] | None) -> Snapshot:
    """Only the responses of one segment (see `segment_keep`); the snapshot as it is without a filter."""
    keep = segment_keep(segment_filter)
    if keep is None:
        return snapshot
    return snapshot.model_copy(update={"responses": [r for r in snapshot.responses if keep(r)]})


def prepare_report(sessions: sessionmaker[Session], report_id: uuid.UUID) -> int:
    """Validate the report, mark it running and freeze its input; returns the number of responses."""
    with transaction(sessions) as session:
        report = _load_report(session, report_id)
        unknown = [n for n in report.component_names if n not in components]
        if unknown:
            raise InvalidReport(f"unknown components: {', '.join(unknown)}")
        count = report_store.snapshot_response_count(session, report_id=report_id)  # a rerun's: frozen already
        if count is None:
            survey = survey_store.get_survey(session, organization_id=report.organization_id,
                                             survey_id=report.survey_id)
            if survey is None:
                raise InvalidReport(f"survey {report.survey_id} no longer exists")
            document = survey_store.snapshot_document(session, survey=survey,
                                                      keep=segment_keep(report.segment_filter))
            count = document.response_count
            if count:
                report_store.save_snapshot_document(session, report_id=report_id, document=document.data,
                                                    response_count=count)
            del document
        if not count:
            raise InvalidReport("the survey has no responses" + (
                f" answering {report.segment_filter.get('question')} = {report.segment_filter.get('value')!r}"
                if report.segment_filter else ""))
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.RUNNING)
    if count >= LARGE_SNAPSHOT:
        release_freed_memory()
    return count


def fail_report(sessions: sessionmaker[Session], report_id: uuid.UUID, message: str) -> None:
    """The report could not start: it fails, and its components are skipped with the reason."""
    with transaction(sessions) as session:
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.FAILED, error=message)
        report = report_store.load_report(session, report_id=report_id)
        for c in report.components if report is not None else []:
            if not c.status.finished:
                report_store.skip_component(session, report_id=report_id, name=c.component_type,
                                            reason=f"not run: {message}")


def skip_component(sessions: sessionmaker[Session], report_id: uuid.UUID, name: str, reason: str) -> None:
    with transaction(sessions) as session:
        report_store.skip_component(session, report_id=report_id, name=name, reason=reason)


@dataclass(frozen=True)
class _Inputs:
    parameters: dict[str, Any]  # what the notebook gets: injected paths plus the request's values
    requested: dict[str, Any]  # the request's values alone
    snapshot_sha256: str
    upstream_sha256: dict[str, str]


def _upstream_inputs(session: Session, report: Report, spec: ComponentSpec, work_dir: Path) -> _Inputs:
    """Write the upstream results into `work_dir`; the notebook's parameters point at them and at the snapshot's
    place there (`snapshot_sha256` is left empty: `_link_snapshot` puts the snapshot there)."""
    parameters: dict[str, Any] = {SNAPSHOT_PARAMETER: str(work_dir / "snapshot.json")}
    upstream = report_store.component_results(session, report_id=report.id, names=list(spec.needs))
    missing = [n for n in spec.needs if n not in upstream]
    if missing:  # the workflow skips such a component; this guards direct calls
        raise InvalidReport(f"{spec.name} needs the results of {', '.join(missing)}, which did not complete")
    hashes = {}
    for need in spec.needs:
        data = json.dumps(upstream[need], sort_keys=True).encode()
        path = work_dir / f"{need}.result.json"
        path.write_bytes(data)
        parameters[result_path_parameter(need)] = str(path)
        hashes[need] = hashlib.sha256(data).hexdigest()
    requested = dict((report.parameters or {}).get(spec.name, {}))
    return _Inputs({**parameters, **requested}, requested, "", hashes)


class _SnapshotLink:
    """`_link_snapshot` on a thread of its own, started before the kernel: the report's first components wait for
    one of them to write the shared snapshot, and their kernels start meanwhile instead of after it. The
    notebook's first cell waits for it (`wait`, the runner's `before_cells`)."""

    def __init__(self, sessions: sessionmaker[Session], report_id: uuid.UUID, work_dir: Path) -> None:
        self._digest: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._link, args=(sessions, report_id, work_dir), daemon=True,
                                        name=f"snapshot-{work_dir.name}")
        self._thread.start()

    def _link(self, sessions: sessionmaker[Session], report_id: uuid.UUID, work_dir: Path) -> None:
        try:
            with sessions() as session:
                self._digest.set_result(_link_snapshot(session, report_id, work_dir))
        except BaseException as exc:
            self._digest.set_exception(exc)

    def wait(self) -> str:
        """The snapshot's sha256 once it is in the folder; raises what linking it raised."""
        return self._digest.result()

    def join(self) -> None:
        """Wait for the thread, whatever it did (before its folder is removed)."""
        self._thread.join()


# The report's snapshot, written once per worker into the report's folder (`work/<report>/`) and hard-linked into
# each component's folder. Its components run side by side (four at once by default), and each used to load the
# whole snapshot from the database, validate it and serialise it again: four copies at once, most of the worker's
# memory on a large survey. One lock per report in this process makes the others wait for the first and link.
# The files stay until the report ends (`release_report_files`, or the sweep of finished reports' folders): a
# component that starts after the others ended (`summary`, the ones after `basic_stats`) links them too, where
# writing them again cost about a third of a second of the worker's CPU each time on 2,000 responses. A report's
# snapshot is frozen when it is prepared (reruns keep it), so the files never go stale.
SHARED_SNAPSHOT = ("snapshot.json", "snapshot.parquet")
SHARED_SNAPSHOT_SHA = "snapshot.sha256"  # written last: the files beside it are complete
_snapshot_locks: dict[uuid.UUID, threading.Lock] = {}
_snapshot_locks_guard = threading.Lock()


def _snapshot_lock(report_id: uuid.UUID) -> threading.Lock:
    with _snapshot_locks_guard:
        return _snapshot_locks.setdefault(report_id, threading.Lock())


def _link_snapshot(session: Session, report_id: uuid.UUID, work_dir: Path) -> str:
    """Put the report's `snapshot.json` (and `snapshot.parquet`, when it could be written) into `work_dir`;
    returns the JSON's sha256 (the provenance's input hash)."""
    report_dir = work_dir.parent
    with _snapshot_lock(report_id):
        for attempt in range(2):
            digest = _shared_snapshot(session, report_id, report_dir)
            try:
                for name in SHARED_SNAPSHOT:
                    if name != "snapshot.json" and not (report_dir / name).exists():
                        continue  # no Parquet (its writer failed): the notebooks read the JSON
                    _link_or_copy(report_dir / name, work_dir / name)
                return digest
            except FileNotFoundError:
                # Removed meanwhile by another worker process sharing this data folder: write it again.
                if attempt:
                    raise
                (report_dir / SHARED_SNAPSHOT_SHA).unlink(missing_ok=True)
    raise AssertionError("unreachable")


def _shared_snapshot(session: Session, report_id: uuid.UUID, report_dir: Path) -> str:
    from workbench.notebook import write_snapshot_parquet  # pandas and pyarrow: when needed

    marker = report_dir / SHARED_SNAPSHOT_SHA
    if marker.exists() and (report_dir / "snapshot.json").exists():
        return marker.read_text().strip()
    document = report_store.load_snapshot_document(session, report_id=report_id)
    if document is None:
        raise InvalidReport(f"report {report_id} has no snapshot; prepare it first")
    snapshot_bytes = document.data
    report_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(report_dir / "snapshot.json", snapshot_bytes)
    # Its columnar form beside it, which `load_snapshot` prefers; never a reason to fail (notebooks then read
    # the JSON).
    try:
        write_snapshot_parquet(snapshot_bytes, report_dir / "snapshot.parquet", spans=document.spans)
    except Exception:
        (report_dir / "snapshot.parquet").unlink(missing_ok=True)
        log.exception("writing snapshot.parquet for report %s failed; its notebooks read the JSON", report_id)
    digest = hashlib.sha256(snapshot_bytes).hexdigest()
    _write_atomically(marker, digest.encode())
    if len(snapshot_bytes) >= LARGE_SNAPSHOT * 200:
        del snapshot_bytes, document
        release_freed_memory()
    return digest


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        partial.write_bytes(data)
        partial.chmod(0o444)  # shared by hard links: no component may change what the others read
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _link_or_copy(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)


def _components_running(report_dir: Path) -> bool:
    try:
        return any(p.is_dir() for p in report_dir.iterdir())
    except FileNotFoundError:
        return False


def _forget_lock(report_id: uuid.UUID, report_dir: Path) -> None:
    """After a component's folder is removed: when no component of the report is left running here, drop its
    lock (the files stay for the report's next components). A component starting meanwhile may then take a new
    lock beside one still held; the worst that does is write the same files twice, atomically."""
    if not _components_running(report_dir):
        with _snapshot_locks_guard:
            _snapshot_locks.pop(report_id, None)


def release_report_files(data_dir: Path, report_id: uuid.UUID) -> bool:
    """The report has ended: remove its shared snapshot and its folder, unless a component still runs in it
    here (a cancelled one ending; the sweep of finished reports' folders removes it later). True if removed."""
    report_dir = data_dir / "work" / str(report_id)
    with _snapshot_lock(report_id):
        if _components_running(report_dir):
            return False
        for name in (SHARED_SNAPSHOT_SHA, *SHARED_SNAPSHOT):
            (report_dir / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            report_dir.rmdir()  # fails if a component's folder was made meanwhile: the sweep removes it later
    with _snapshot_locks_guard:
        _snapshot_locks.pop(report_id, None)
    return not report_dir.exists()


# Settings a kernel that declares the OpenAI key also gets (as WORKBENCH_<NAME>), so `workbench.text.llm` can build
# its client, cache and token ledger there: where and what to ask, and the budget it counts against.
OPENAI_KERNEL_SETTINGS = ("openai_base_url", "openai_model", "openai_timeout_seconds", "openai_max_retries",
                          "openai_token_budget", "openai_batch_size")
REPORT_ID_ENV = "WORKBENCH_REPORT_ID"  # what the token ledger charges (workbench.text.llm)
COMPONENT_ENV = "WORKBENCH_COMPONENT"


def kernel_environment(
    settings: Settings, spec: ComponentSpec, report_id: uuid.UUID | str | None = None, component: str | None = None
) -> dict[str, str]:
    """The kernel's environment: the worker's, less its WORKBENCH_* configuration, plus the declared secrets, where
    text engines keep their embedding cache (under the data folder, shared by the worker's kernels) and the size of
    its native thread pools (`kernel_threads`; a variable already set in the worker's environment is kept unless
    `WORKBENCH_KERNEL_THREADS` is set).

    A component that declares `openai_api_key`, when a key is set, also gets the other `openai_*` settings, the
    database URL (model-reply cache and token ledger) and the report id and component name the ledger charges:
    all as environment variables, never as notebook parameters (executed notebooks are stored and downloadable).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env[EMBEDDING_CACHE_ENV] = str((settings.data_dir / "cache").resolve())
    threads = str(kernel_threads(settings.kernel_threads, settings.max_concurrent_activities))
    for variable in NATIVE_THREAD_VARIABLES:
        if settings.kernel_threads is not None or variable not in env:  # the setting wins; else the operator's
            env[variable] = threads
    for name in spec.secrets:
        value = getattr(settings, name)
        if value is not None:
            env[f"WORKBENCH_{name.upper()}"] = value.get_secret_value() if hasattr(value, "get_secret_value") \
                else str(value)
    if "openai_api_key" in spec.secrets and settings.openai_api_key is not None:
        for name in OPENAI_KERNEL_SETTINGS:
            value = getattr(settings, name)
            env[f"WORKBENCH_{name.upper()}"] = "" if value is None else str(value)
        env["WORKBENCH_DATABASE_URL"] = settings.effective_database_url
        if report_id is not None:
            env[REPORT_ID_ENV] = str(report_id)
        env[COMPONENT_ENV] = component or spec.name
    return env


def execute_component(
    sessions: sessionmaker[Session],
    settings: Settings,
    report_id: uuid.UUID,
    name: str,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Run one component's notebook on the report's snapshot and store result, HTML, notebook and provenance.

    The executed notebook and its HTML are stored whatever happens. Raises `NotebookError` (don't retry)
    after storing a deterministic failure; other exceptions (kernel died, database down) propagate for a retry.
    """
    spec = components.get(name)
    notebook_path = settings.notebooks_dir / spec.notebook
    report_dir = settings.data_dir / "work" / str(report_id)
    work_dir = report_dir / name
    shutil.rmtree(work_dir, ignore_errors=True)  # leftovers of an attempt on a worker that died
    work_dir.mkdir(parents=True)
    snapshot: _SnapshotLink | None = None
    try:
        with sessions() as session:
            inputs = _upstream_inputs(session, _load_report(session, report_id), spec, work_dir)
            responses = report_store.snapshot_response_count(session, report_id=report_id) or 0
        snapshot = _SnapshotLink(sessions, report_id, work_dir)
        # Waits (still pending) while the kernels running here and this one would not fit the memory budget.
        with admission.for_budget(settings.worker_memory_budget_mb).admit(spec.memory_estimate_mb(responses)):
            _run_component(sessions, settings, report_id, spec, notebook_path, work_dir, inputs, snapshot,
                           on_progress)
    finally:
        if snapshot is not None:
            snapshot.join()
        shutil.rmtree(work_dir, ignore_errors=True)
        _forget_lock(report_id, report_dir)  # the snapshot stays for the report's other components


def _run_component(
    sessions: sessionmaker[Session], settings: Settings, report_id: uuid.UUID, spec: ComponentSpec,
    notebook_path: Path, work_dir: Path, inputs: _Inputs, snapshot: _SnapshotLink,
    on_progress: ProgressCallback | None,
) -> None:
    name = spec.name
    source = nbformat.read(str(notebook_path), as_version=4)
    cells_total = sum(1 for c in source.cells if c.cell_type == "code") + 1  # + papermill's injected cell
    with transaction(sessions) as session:
        # start_component clears the error: what the previous attempt died of decides whether to try again.
        previous = report_store.get_component(session, report_id=report_id, name=name)
        previous_error = previous.error if previous is not None else None
        report_store.start_component(session, report_id=report_id, name=name, cells_total=cells_total)

    progress = _ProgressRows(sessions, report_id, name, on_progress)
    try:
        run = run_notebook(
            notebook_path, work_dir / "executed.ipynb", inputs.parameters,
            kernel_name=settings.kernel_name, cwd=work_dir, cell_timeout=settings.cell_timeout_seconds,
            on_cell=progress.cell_done, env=kernel_environment(settings, spec, report_id, name),
            memory_limit_mb=settings.kernel_memory_limit_mb, before_cells=snapshot.wait,
        )
    finally:
        progress.close()  # nothing written after this: the outcome below sets the final count
    inputs = dataclasses.replace(inputs, snapshot_sha256=snapshot.wait())  # linked: the cells ran after it
    result, error = _result_or_error(run, spec, previous_error)
    with transaction(sessions) as session:
        report_store.finish_component(
            session, report_id=report_id, name=name,
            status=ComponentStatus.COMPLETED if error is None else ComponentStatus.FAILED,
            result=result, html=_render(render_component_html, run.notebook),
            notebook=run.notebook_text(),
            error=_error_info(error), cells_done=_executed_cells(run.notebook),
            provenance=_provenance(settings, spec, notebook_path, inputs, run),
        )
    if error is not None:
        raise error


class _ProgressRows:
    """A component's cells done, written to its row at most every `PROGRESS_INTERVAL`: a count that comes sooner
    waits for a timer, which writes the latest one (so a long cell after quick ones shows them all done). A
    notebook of many quick cells made one write transaction per cell, each waiting for the database's write lock
    beside the other components'. The first count and the last cell's are written at once."""

    def __init__(self, sessions: sessionmaker[Session], report_id: uuid.UUID, name: str,
                 on_progress: ProgressCallback | None) -> None:
        self._sessions, self._report_id, self._name, self._on_progress = sessions, report_id, name, on_progress
        self._lock = threading.Lock()  # writes in order, and none after `close`
        self._written_at = float("-inf")
        self._pending: int | None = None
        self._timer: threading.Timer | None = None
        self._closed = False

    def cell_done(self, done: int, total: int) -> None:
        if self._on_progress:
            self._on_progress(done, total)
        with self._lock:
            if self._closed:
                return
            wait = self._written_at + PROGRESS_INTERVAL - time.monotonic()
            if wait > 0 and done < total:
                self._pending = done
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
            self._pending = None
            self._write(done)

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed or self._pending is None:
                return
            done, self._pending = self._pending, None
            try:
                self._write(done)
            except Exception:  # advisory: the component's outcome writes the final count (or fails and retries)
                log.warning("progress of %s for report %s not written", self._name, self._report_id, exc_info=True)

    def _write(self, done: int) -> None:
        with transaction(self._sessions) as session:
            report_store.set_component_progress(session, report_id=self._report_id, name=self._name,
                                                cells_done=done)
        self._written_at = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()


def _provenance(
    settings: Settings, spec: ComponentSpec, notebook_path: Path, inputs: _Inputs, run: NotebookRun
) -> dict[str, Any]:
    defaults = {p.name: p.default for p in components.user_parameters(spec.name, settings.notebooks_dir)}
    kernel_env = result_environment(run.notebook) if run.notebook is not None else None
    return {
        "notebook": {"file": spec.notebook, "sha256": hashlib.sha256(notebook_path.read_bytes()).hexdigest(),
                     **git_revision(notebook_path)},
        "parameters": {**defaults, **inputs.requested},
        "kernel": {"name": settings.kernel_name, **(kernel_env or {})},
        "input": {"snapshot_sha256": inputs.snapshot_sha256, "upstream_sha256": inputs.upstream_sha256},
    }


def git_revision(path: Path) -> dict[str, Any]:
    """The commit `path` was read at and whether it differs from it; empty outside a git checkout."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=path.parent, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    # One git process for both facts: the header line names the commit, any other line is a change to the file.
    status = git("status", "--porcelain=v2", "--branch", "--", path.name)
    if status is None:
        return {}
    lines = status.splitlines()
    commit = next((line.split()[2] for line in lines if line.startswith("# branch.oid ")), None)
    if commit is None or commit == "(initial)":
        return {}
    return {"git_commit": commit, "git_modified": any(not line.startswith("#") for line in lines)}


def _result_or_error(
    run: NotebookRun, spec: ComponentSpec, previous_error: dict[str, Any] | None = None
) -> tuple[dict[str, Any] | None, Exception | None]:
    if isinstance(run.error, KernelDiedError) and run.error.cell_index is not None and previous_error \
            and previous_error.get("ename") == "KernelDiedError" \
            and previous_error.get("cell_index") == run.error.cell_index:
        # The same cell killed its kernel twice: out of memory or exiting, not bad luck; a third try won't help.
        index = run.error.cell_index
        cause = f" (likely {run.error.cause})" if run.error.cause else ""
        return None, NotebookError(f"the kernel died twice on cell {index}{cause}",
                                   cell_index=index, ename="KernelDiedError", evalue=str(run.error))
    if run.error is not None or run.notebook is None:
        return None, run.error
    try:
        return extract_result(run.notebook, spec.result_model), None
    except ResultError as exc:
        return None, NotebookError(str(exc), ename="ResultError", evalue=str(exc))


def _error_info(error: Exception | None) -> dict[str, Any] | None:
    if error is None:
        return None
    if isinstance(error, NotebookError | KernelDiedError):
        return error.as_dict()
    return {"message": str(error), "ename": type(error).__name__}


def _executed_cells(nb: Any) -> int | None:
    if nb is None:
        return None
    return sum(1 for c in nb.cells if c.cell_type == "code" and c.get("execution_count"))


def _render(render: Callable[[Any], str], nb: Any) -> str | None:
    if nb is None:
        return None
    try:
        return render(nb)
    except Exception:  # a rendering bug must not hide the result or the notebook
        log.exception("rendering the component HTML failed")
        return None


def store_report_pdf(sessions: sessionmaker[Session], settings: Settings, report_id: uuid.UUID) -> bool:
    """Render and store a finished report's PDF ahead of its first download; True when one is stored now.

    A report without a PDF (failed, cancelled) or a browser that will not start is logged, never raised: the
    download renders on demand as usual.
    """
    from workbench.rendering.pdf import ChromiumUnavailable
    from workbench.reports.views import NoPdf, ensure_stored_pdf

    with sessions() as session:
        report = _load_report(session, report_id)
        try:
            _, cached = ensure_stored_pdf(session, report, settings.chromium_path)
        except (NoPdf, ChromiumUnavailable) as exc:
            log.info("no PDF stored ahead for report %s: %s", report_id, exc)
            return False
        session.commit()
        return not cached


def cancel_report(sessions: sessionmaker[Session], report_id: uuid.UUID, reason: str) -> list[str]:
    """Settle a cancelled report: it and its unfinished components become cancelled; finished components keep
    their results. Returns the components cancelled. Idempotent (a retry finds nothing left to cancel)."""
    with transaction(sessions) as session:
        report = _load_report(session, report_id)
        if report.status.finished:  # it finished first: a late cancel changes nothing
            return []
        cancelled = report_store.cancel_unfinished_components(session, report_id=report_id, reason=reason)
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.CANCELLED, error=reason)
        return cancelled


def finish_report(
    sessions: sessionmaker[Session], report_id: uuid.UUID, failures: dict[str, str] | None = None
) -> ReportStatus:
    """Set the report's final status from its components' states (completed, partial or failed); returns it.

    A component still pending or running (its activity gave up, e.g. after an outage longer than the retry
    budget) is marked failed with the reason in `failures`, so the rows always agree with the report.
    """
    failures = failures or {}
    with transaction(sessions) as session:
        report = _load_report(session, report_id)
        for c in report.components:
            if not c.status.finished:
                reason = failures.get(c.component_type, "the run ended before this component finished")
                report_store.fail_unfinished_component(row=c, message=reason)
        failed = [c for c in report.components if c.status != ComponentStatus.COMPLETED]
        if not failed:
            status, message = ReportStatus.COMPLETED, None
        else:
            status = ReportStatus.FAILED if len(failed) == len(report.components) else ReportStatus.PARTIAL
            message = "; ".join(
                f"{c.component_type} {c.status.value}: {(c.error or {}).get('message', 'no result')}" for c in failed
            )
        report_store.set_report_status(session, report_id=report_id, status=status, error=message)
        return status
