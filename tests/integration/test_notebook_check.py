"""`workbench notebooks check`: the real notebooks pass, broken copies fail naming the problem; and a notebook
run in JupyterLab with its defaults gives exactly the result the pipeline stores for the sample survey."""

from __future__ import annotations

import json
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import share_embedding_cache
from tests.integration.test_notebooks_text import DEFAULTS, SAMPLE
from tests.integration.test_report_run import load_survey
from workbench import notebook_check
from workbench.analysis.stats import basic_stats
from workbench.components import components
from workbench.config import REPO_ROOT, Settings
from workbench.notebook import load_snapshot
from workbench.notebook_check import NotebookReport, cell_errors, check_notebooks, sample_result_path
from workbench.reports.request import create_report_run
from workbench.reports.steps import execute_component, prepare_report
from workbench.results import extract_result
from workbench.runner import run_notebook
from workbench.storage import reports as report_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID

NOTEBOOKS = REPO_ROOT / "notebooks"


def check_settings(tmp: Path, notebooks_dir: Path = NOTEBOOKS) -> Settings:
    return Settings(data_dir=share_embedding_cache(tmp / "data"), notebooks_dir=notebooks_dir,
                    cell_timeout_seconds=120)


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory: pytest.TempPathFactory) -> list[NotebookReport]:
    """One check of the real notebooks, shared by the tests below (each notebook run costs seconds)."""
    return check_notebooks(check_settings(tmp_path_factory.mktemp("check")))


def test_the_real_notebooks_pass(real_reports: list[NotebookReport]) -> None:
    assert [r.component for r in real_reports] == components.names()  # stage order: basic_stats first
    for r in real_reports:
        assert r.ok, (r.component, r.failures)
        assert r.seconds is not None and r.seconds > 0
        assert [c.name for c in r.checks] == list(notebook_check.CHECKS)
    by_name = {r.component: r for r in real_reports}
    assert by_name["basic_stats"].check("sample result").ok is True  # type: ignore[union-attr]
    assert by_name["visualizations"].result["chart_count"] == 6  # type: ignore[index]


def _edit(folder: Path, name: str, edit: Any) -> None:
    path = folder / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    edit(nb)
    nbformat.write(nb, path)


def _cell(nb: Any, tag: str | None = None, containing: str | None = None) -> Any:
    return next(c for c in nb.cells if (tag is None or tag in c.metadata.get("tags", []))
                and (containing is None or containing in c.source))


def test_broken_notebooks_fail_and_name_the_problem(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, folder)

    def untyped_and_wrong_kernel(nb: Any) -> None:
        _cell(nb, tag="parameters").source += "\nlimit = 5"
        nb.metadata.kernelspec.name = "python3"

    def invalid_result(nb: Any) -> None:
        _cell(nb, containing="emit_result(result)").source = 'result["overall"]["n"] = -1\nemit_result(result)'

    def prints_an_error(nb: Any) -> None:
        nb.cells.insert(3, nbformat.v4.new_code_cell('import sys\nprint("lexicon not found", file=sys.stderr)'))

    def no_parameters_cell(nb: Any) -> None:
        _cell(nb, tag="parameters").metadata.tags = []

    def alpha_out_of_range(nb: Any) -> None:
        _cell(nb, containing="emit_result(result)").source = 'result["alpha"] = 2\nemit_result(result)'

    _edit(folder, "basic_stats", untyped_and_wrong_kernel)
    _edit(folder, "sentiment", invalid_result)
    _edit(folder, "themes", prints_an_error)
    _edit(folder, "visualizations", no_parameters_cell)
    _edit(folder, "segments", alpha_out_of_range)
    stale = sample_result_path(folder, "basic_stats")
    stale.write_text(stale.read_text().replace('"response_count": 2000', '"response_count": 1999'))

    reports = {r.component: r for r in check_notebooks(check_settings(tmp_path, folder))}
    assert not any(r.ok for r in reports.values())

    def failed(component: str) -> dict[str, str]:
        return {c.name: c.detail for c in reports[component].failures}

    basic = failed("basic_stats")
    assert set(basic) == {"parameters typed", "kernel", "sample result"}
    assert "line 2: limit has no type annotation" in basic["parameters typed"]
    assert "'python3'" in basic["kernel"] and "'workbench'" in basic["kernel"]
    assert basic["sample result"].startswith("stale sample result: data/results/basic_stats.json")
    assert failed("sentiment") == {"result": "the result does not match its schema: overall.n: "
                                             "Input should be greater than or equal to 0"}
    assert failed("themes") == {"cell errors": "cell 3: lexicon not found"}
    assert failed("segments") == {"result": "the result does not match its schema: alpha: "
                                            "Input should be less than 1"}
    # Without the tag, the cell's own defaults overwrite what papermill injects: the run reads a path relative to
    # its scratch folder and fails, as it would in production.
    visualizations = failed("visualizations")
    assert set(visualizations) == {"parameters cell", "inputs", "result", "cell errors"}
    assert "no cell tagged 'parameters'" in visualizations["parameters cell"]
    assert "FileNotFoundError" in visualizations["result"]


def test_update_rewrites_a_stale_sample_result(tmp_path: Path) -> None:
    folder = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, folder)
    stale = sample_result_path(folder, "basic_stats")
    stale.write_text("{}\n")
    [report] = check_notebooks(check_settings(tmp_path, folder), names=["basic_stats"], update_sample_results=True)
    assert report.ok and report.check("sample result").detail == "updated data/results/basic_stats.json"  # type: ignore[union-attr]
    # Byte for byte the committed file: the update writes the same format.
    assert stale.read_bytes() == sample_result_path(NOTEBOOKS, "basic_stats").read_bytes()


def test_error_outputs_and_stderr_are_cell_errors() -> None:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output("stream", name="stdout", text="fine\n")]),
        nbformat.v4.new_code_cell("2", outputs=[
            nbformat.v4.new_output("error", ename="KeyError", evalue="'nps'", traceback=[])]),
        nbformat.v4.new_code_cell("3", outputs=[
            nbformat.v4.new_output("stream", name="stderr", text="FutureWarning: x\n  more\n")]),
    ])
    assert cell_errors(nb) == ["cell 2: KeyError: 'nps'", "cell 3: FutureWarning: x"]


# --- the CLI ----------------------------------------------------------------------------------------------------

def test_cli_check_exits_0_on_the_real_notebooks(
    real_reports: list[NotebookReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reports of the real run above: the command's own run would only repeat it.
    monkeypatch.setattr(notebook_check, "check_notebooks", lambda settings, **kw: real_reports)
    result = CliRunner().invoke(app, ["notebooks", "check"])
    assert result.exit_code == 0, result.output
    assert "visualizations.ipynb: pass" in result.output and "segments.ipynb: pass" in result.output
    assert "all 6 notebooks pass" in result.output


def test_cli_check_exits_1_and_names_the_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = NotebookReport("themes", "themes.ipynb", [
        notebook_check.Check("result", True, "valid ThemesResult"),
        notebook_check.Check("cell errors", False, "cell 3: lexicon not found")], seconds=1.0)
    monkeypatch.setattr(notebook_check, "check_notebooks", lambda settings, **kw: [broken])
    result = CliRunner().invoke(app, ["notebooks", "check"])
    assert result.exit_code == 1
    assert "themes.ipynb: FAIL" in result.output and "cell 3: lexicon not found" in result.output


# --- JupyterLab defaults vs the pipeline --------------------------------------------------------------------------

def run_pipeline(settings: Settings, survey_id: uuid.UUID, names: list[str] | None = None
                 ) -> tuple[sessionmaker[Session], uuid.UUID]:
    """A report's components run by the production steps (what the Temporal activities call), stage by stage."""
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    with transaction(sessions) as session:
        report = create_report_run(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id,
                                   component_names=names, notebooks_dir=settings.notebooks_dir)
    prepare_report(sessions, report.id)
    for stage in components.stages(report.component_names):
        with ThreadPoolExecutor(len(stage)) as pool:
            list(pool.map(lambda name: execute_component(sessions, settings, report.id, name), stage))
    return sessions, report.id


def test_notebooks_run_with_their_defaults_give_what_the_pipeline_stores(settings: Settings, tmp_path: Path) -> None:
    share_embedding_cache(settings.data_dir)
    survey_id = load_survey(settings, responses=2000)  # the whole sample, as the defaults read it
    sessions, report_id = run_pipeline(settings, survey_id)
    with sessions() as session:
        stored = report_store.component_results(session, report_id=report_id, names=components.names())

    def top_to_bottom(name: str) -> dict[str, Any]:
        # What "Run All" in JupyterLab does: no parameters, the notebook's own folder as working directory, so
        # the defaults read data/sample_survey.json and the committed data/results/*.json.
        spec = components.get(name)
        run = run_notebook(NOTEBOOKS / spec.notebook, tmp_path / f"{name}.ipynb", {}, kernel_name="workbench",
                           cwd=NOTEBOOKS, cell_timeout=120)
        assert run.error is None and run.notebook is not None, run.error
        return extract_result(run.notebook, spec.result_model)

    with ThreadPoolExecutor(4) as pool:
        in_lab = dict(zip(components.names(), pool.map(top_to_bottom, components.names()), strict=True))
    assert set(stored) == set(in_lab)
    for name in components.names():
        # Compared as JSON: the database hands back what json.loads would (no tuples, same floats).
        assert json.loads(json.dumps(in_lab[name])) == stored[name], name
    # The notebooks' defaults emit what the analysis modules compute on the sample in process.
    sample = load_snapshot(SAMPLE)
    assert in_lab["basic_stats"] == json.loads(json.dumps(basic_stats(sample)))
    assert in_lab["basic_stats"]["response_count"] == 2000 and in_lab["basic_stats"]["nps"]["n"] > 0
    for name, analysis in DEFAULTS.items():
        assert in_lab[name] == json.loads(json.dumps(analysis(sample))), name
        assert {"liked_most", "improve"} <= set(in_lab[name]["questions"])
