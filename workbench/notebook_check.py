"""Check every component notebook against its contract by running it, the way a report run would.

Per notebook: the `parameters` cell exists and every line in it is typed; the kernel named in the notebook's
metadata is the project's; each upstream result has its `<need>_result_path` parameter; a fresh kernel runs it
on the sample survey (upstream results are the ones produced earlier in the same check, as in a report run);
the emitted result validates against the component's result model; no cell printed an error. The committed
sample results (`<notebooks>/data/results/<component>.json`, what downstream notebooks read by default in
JupyterLab) must equal what the notebooks produce now; `update_sample_results=True` rewrites them instead.

Any stderr output counts as an error, warnings included: the executed notebook is what the report shows, so a
warning reaches every reader. A notebook that expects a specific, harmless warning silences that one warning
(`warnings.filterwarnings(...)` in its import cell) rather than the check ignoring a whole class of them.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from workbench.components import (
    SNAPSHOT_PARAMETER,
    ComponentSpec,
    ParametersCellError,
    components,
    result_path_parameter,
)
from workbench.components.parameters import NotebookParameters
from workbench.config import Settings
from workbench.reports.steps import kernel_environment
from workbench.results import ResultError, extract_result
from workbench.runner import NotebookError, NotebookRun, run_notebook

SAMPLE_SURVEY = Path("data") / "sample_survey.json"
SAMPLE_RESULTS = Path("data") / "results"
# Papermill's tags on the cells it adds: the injected parameters, and the banner and anchor of a failure.
ADDED_TAGS = frozenset({"injected-parameters", "papermill-error-cell-tag"})

# The checks in the order they are reported (the CLI's table columns).
CHECKS = ("parameters cell", "parameters typed", "kernel", "inputs", "result", "cell errors", "sample result")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: not applicable or not run (e.g. an upstream notebook failed)
    detail: str = ""


@dataclass
class NotebookReport:
    component: str
    notebook: str
    checks: list[Check] = field(default_factory=list)
    seconds: float | None = None  # the run's wall time; None when it did not run
    result: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        # "Not applicable" checks pass, but a notebook that never ran (its upstream failed) has proven nothing.
        return all(c.ok is not False for c in self.checks) and not self.skipped

    @property
    def skipped(self) -> bool:
        return self.seconds is None

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)


def sample_result_path(notebooks_dir: Path, component: str) -> Path:
    return notebooks_dir / SAMPLE_RESULTS / f"{component}.json"


def upstream_components(names: Iterable[str] | None = None) -> list[str]:
    """Components some other component needs: their sample results must be committed for JupyterLab."""
    specs = [components.get(n) for n in (names if names is not None else components.names())]
    needed = {n for s in specs for n in s.needs}
    return [n for n in components.names() if n in needed]


def missing_sample_results(notebooks_dir: Path) -> list[str]:
    return [n for n in upstream_components() if not sample_result_path(notebooks_dir, n).exists()]


def write_sample_result(path: Path, result: dict[str, Any]) -> None:
    # Stable formatting keeps the committed file's diffs readable.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")


def _static_checks(spec: ComponentSpec, nb: Any, notebooks_dir: Path, kernel_name: str) -> list[Check]:
    checks: list[Check] = []
    parsed: NotebookParameters | None
    try:
        parsed = components.notebook_parameters(spec.name, notebooks_dir)
        checks.append(Check("parameters cell", True, f"cell {parsed.cell_index}"))
    except ParametersCellError as exc:
        parsed = None
        checks.append(Check("parameters cell", False, str(exc)))
    if parsed is None:
        checks.append(Check("parameters typed", None, "no parameters cell"))
    elif parsed.problems:
        checks.append(Check("parameters typed", False, "; ".join(parsed.problems)))
    else:
        count = len(parsed.parameters)
        checks.append(Check("parameters typed", True, f"{count} parameter{'' if count == 1 else 's'}"))
    found = nb.metadata.get("kernelspec", {}).get("name")
    checks.append(Check("kernel", found == kernel_name,
                        found if found == kernel_name else f"metadata.kernelspec.name is {found!r}, "
                                                           f"not {kernel_name!r}"))
    expected = [SNAPSHOT_PARAMETER, *(result_path_parameter(n) for n in spec.needs)]
    missing = [p for p in expected if parsed is None or p not in parsed.names()]
    checks.append(Check("inputs", not missing,
                        f"no parameter {', '.join(missing)}" if missing else ", ".join(expected)))
    return checks


def _source_indices(nb: Any) -> list[int | None]:
    """Each executed cell's index in the source notebook (None for cells papermill added), so reports point at
    the cell the analyst sees in JupyterLab."""
    indices: list[int | None] = []
    source = 0
    for cell in nb.cells:
        if ADDED_TAGS.intersection(cell.get("metadata", {}).get("tags", [])):
            indices.append(None)
        else:
            indices.append(source)
            source += 1
    return indices


def cell_errors(nb: Any) -> list[str]:
    """'cell N: first line' for every error output and every stderr stream (N: the cell's index in the source
    notebook, counting markdown cells, from 0)."""
    found: list[str] = []
    for cell, source_index in zip(nb.cells, _source_indices(nb), strict=True):
        if cell.get("cell_type") != "code":
            continue
        index = "injected parameters" if source_index is None else source_index
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"cell {index}: {output.get('ename')}: {output.get('evalue', '')}".strip())
            elif output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = "".join(output.get("text", "")).strip()
                found.append(f"cell {index}: {text.splitlines()[0] if text else '(empty stderr)'}")
    return found


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _check_one(
    settings: Settings, spec: ComponentSpec, sample: Path, upstream: dict[str, Path], work: Path,
    update_sample_results: bool,
) -> NotebookReport:
    notebooks_dir = settings.notebooks_dir
    report = NotebookReport(spec.name, spec.notebook)
    notebook_path = notebooks_dir / spec.notebook
    if not notebook_path.exists():
        report.checks.append(Check("parameters cell", False, f"{notebook_path} does not exist"))
        return report
    report.checks.extend(_static_checks(spec, nbformat.read(str(notebook_path), as_version=4), notebooks_dir,
                                        settings.kernel_name))
    missing = [n for n in spec.needs if n not in upstream]
    if missing:  # as in a report run: never run on missing input
        report.checks.append(Check("result", None, f"not run: {', '.join(missing)} produced no result"))
        return report
    work_dir = work / spec.name
    work_dir.mkdir()
    parameters: dict[str, Any] = {SNAPSHOT_PARAMETER: str(sample)}
    parameters.update({result_path_parameter(n): str(upstream[n]) for n in spec.needs})
    started = time.monotonic()
    # The kernel's directory is a scratch folder, as in a report run: relative paths that only resolve in
    # notebooks/ would break in production, so they must break here too.
    run = run_notebook(notebook_path, work_dir / "executed.ipynb", parameters, kernel_name=settings.kernel_name,
                       cwd=work_dir, cell_timeout=settings.cell_timeout_seconds,
                       env=kernel_environment(settings, spec), memory_limit_mb=settings.kernel_memory_limit_mb)
    report.seconds = time.monotonic() - started
    if run.error is not None or run.notebook is None:
        report.checks.append(Check("result", False, _run_error(run)))
    else:
        try:
            report.result = extract_result(run.notebook, spec.result_model)
            report.checks.append(Check("result", True, f"valid {spec.result_model.__name__}"))
        except ResultError as exc:
            report.checks.append(Check("result", False, str(exc)))
    errors = cell_errors(run.notebook) if run.notebook is not None else []
    report.checks.append(Check("cell errors", not errors, "; ".join(_first_line(e, 160) for e in errors[:3])
                               + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "") or "none"))
    report.checks.append(_sample_result_check(notebooks_dir, spec.name, report.result, update_sample_results))
    return report


def _run_error(run: NotebookRun) -> str:
    error = run.error
    if isinstance(error, NotebookError) and error.cell_index is not None and run.notebook is not None \
            and error.cell_index < len(run.notebook.cells):
        index = _source_indices(run.notebook)[error.cell_index]
        return _first_line(f"cell {'injected parameters' if index is None else index} raised {error.ename}: "
                           f"{error.evalue}")
    return _first_line(str(error or "the notebook did not run"))


def _sample_result_check(
    notebooks_dir: Path, name: str, result: dict[str, Any] | None, update: bool
) -> Check:
    path = sample_result_path(notebooks_dir, name)
    required = name in upstream_components()  # downstream notebooks read it by default
    if not path.exists() and not required:
        return Check("sample result", None, "none committed (no component reads it)")
    if result is None:
        return Check("sample result", None, "no result to compare")
    where = path.relative_to(notebooks_dir) if path.is_relative_to(notebooks_dir) else path
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            stored, reason = None, f"{where} is not JSON ({exc.msg})"
        else:
            reason = f"stale sample result: {where} differs from what the notebook emits now"
        if stored == result:
            return Check("sample result", True, f"{where} is current")
    else:
        reason = f"missing sample result: {where}"
    if update:
        write_sample_result(path, result)
        return Check("sample result", True, f"updated {where}")
    return Check("sample result", False, f"{reason} (run `workbench notebooks check --update-sample-results`)")


def check_notebooks(
    settings: Settings,
    *,
    names: Iterable[str] | None = None,
    sample_path: Path | None = None,
    update_sample_results: bool = False,
    on_report: Callable[[NotebookReport], None] | None = None,
) -> list[NotebookReport]:
    """Check `names` (default: every registered component, plus what they need) in dependency stages.

    Notebooks of one stage run in parallel, each in its own fresh kernel, like the workers run a report.
    """
    sample = (sample_path or settings.notebooks_dir / SAMPLE_SURVEY).resolve()
    if not sample.exists():
        raise FileNotFoundError(f"no sample survey at {sample}")
    reports: list[NotebookReport] = []
    with tempfile.TemporaryDirectory(prefix="workbench-check-") as tmp:
        work = Path(tmp)
        upstream: dict[str, Path] = {}
        for stage in components.stages(components.resolve(names)):
            with ThreadPoolExecutor(max(1, min(len(stage), settings.max_concurrent_activities))) as pool:
                done = list(pool.map(lambda n: _check_one(settings, components.get(n), sample, upstream, work,
                                                          update_sample_results), stage))
            for report in done:
                if report.result is not None:
                    # Written as the pipeline writes `<need>.result.json` for a downstream notebook.
                    path = work / f"{report.component}.result.json"
                    path.write_text(json.dumps(report.result, sort_keys=True))
                    upstream[report.component] = path
                reports.append(report)
                if on_report is not None:
                    on_report(report)
    return reports
