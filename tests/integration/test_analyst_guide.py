"""The worked example of notebooks/README.md works: its notebook, result model and registration, built from the
guide's `example=...` code blocks, run through the production pipeline and pass `workbench notebooks check`."""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.integration.test_notebook_check import check_settings, run_pipeline
from tests.integration.test_report_run import load_survey
from workbench.components import ComponentSpec, components
from workbench.components import catalog as catalog_module
from workbench.config import REPO_ROOT, Settings
from workbench.notebook_check import check_notebooks
from workbench.storage import reports as report_store

GUIDE = REPO_ROOT / "notebooks" / "README.md"
NAME = "response_lengths"
BLOCK = re.compile(r"^```(\w+) example=(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def guide_blocks() -> list[tuple[str, str]]:
    """(kind, source) of every marked block, in the guide's order."""
    return [(kind, source) for _, kind, source in BLOCK.findall(GUIDE.read_text())]


def build_notebook(blocks: list[tuple[str, str]]) -> Any:
    cells = []
    for kind, source in blocks:
        source = source.rstrip("\n")
        if kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(source))
        elif kind == "parameters":
            cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": ["parameters"]}))
        elif kind == "code":
            cells.append(nbformat.v4.new_code_cell(source))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "workbench", "display_name": "Workbench (Python 3)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


@pytest.fixture
def guide_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ComponentSpec, Path]]:
    """The guide's component: its notebook in a copy of the notebooks folder, its spec in the global registry."""
    blocks = guide_blocks()
    kinds = [kind for kind, _ in blocks]
    assert kinds.count("parameters") == 1 and kinds.count("model") == 1 and kinds.count("register") == 1, kinds
    folder = tmp_path / "notebooks"
    shutil.copytree(REPO_ROOT / "notebooks", folder)
    nb = build_notebook(blocks)
    nbformat.validate(nb)
    nbformat.write(nb, folder / f"{NAME}.ipynb")
    # The model block is written for catalog.py, so it runs in a module with that module's names (`_Result`,
    # `Field`); a real module, since pydantic resolves the (postponed) annotations in the model's module.
    module = types.ModuleType("guide_catalog")
    module.__dict__.update({k: v for k, v in vars(catalog_module).items() if not k.startswith("__")})
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile("from __future__ import annotations\n" + next(s for k, s in blocks if k == "model"),
                 GUIDE, "exec"), module.__dict__)
    # The registration block is the body of `register_all(registry)`.
    module.__dict__["registry"] = components
    exec(textwrap.dedent(next(s for k, s in blocks if k == "register")), module.__dict__)
    try:
        yield components.get(NAME), folder
    finally:
        components.unregister(NAME)
    assert NAME not in components


def test_the_guides_example_runs_in_the_pipeline(
    guide_component: tuple[ComponentSpec, Path], settings: Settings
) -> None:
    spec, folder = guide_component
    assert spec.notebook == f"{NAME}.ipynb" and spec.needs == ()
    settings = settings.model_copy(update={"notebooks_dir": folder})
    # Its parameters are what GET /api/v1/components publishes: typed, described, constrained by the rules.
    schema = components.parameters_model(NAME, folder).model_json_schema()
    assert schema["properties"]["long_answer_words"] == {
        "default": 50, "description": "answers with at least this many words count as long",
        "maximum": 500, "minimum": 1, "title": "Long Answer Words", "type": "integer"}

    survey_id = load_survey(settings, responses=300)
    sessions, report_id = run_pipeline(settings, survey_id, [NAME])
    with sessions() as session:
        [row] = report_store.component_documents(session, report_id=report_id)
        assert row.status == "completed" and row.error is None, row.error
        result = spec.result_model.model_validate(row.result).model_dump()
        assert row.html and "Histogram of the number of words per answer" in row.html
    assert result["long_answer_words"] == 50
    assert set(result["questions"]) == {"liked_most", "improve"}  # the sample's text questions
    for question in result["questions"].values():
        assert 0 < question["n"] <= 300 and question["mean_words"] > 0 and 0 <= question["long_share"] <= 1


def test_the_guides_example_passes_the_notebook_check(
    guide_component: tuple[ComponentSpec, Path], tmp_path: Path
) -> None:
    _, folder = guide_component
    [report] = check_notebooks(check_settings(tmp_path, folder), names=[NAME])
    assert report.ok, report.failures
