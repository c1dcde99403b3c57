"""Execute the basic_stats and visualizations notebooks with papermill on the `workbench` kernel."""

from __future__ import annotations

import html as html_lib
import json
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest

from workbench.analysis.charts import make_charts
from workbench.analysis.stats import basic_stats
from workbench.components import components
from workbench.notebook import load_snapshot
from workbench.rendering.html import render_component_html
from workbench.results import extract_result

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SAMPLE = NOTEBOOKS / "data" / "sample_survey.json"
UNSAFE = '<img src=x onerror=alert(1)> "$5" & co'


def _run(name: str, snapshot: Path, out_dir: Path) -> Any:
    out = out_dir / f"{name}.out.ipynb"
    parameters = {"snapshot_path": str(snapshot.resolve())}
    for need in components.get(name).needs:  # upstream results as the pipeline hands them over (basic_stats only)
        upstream = out_dir / f"{need}.result.json"
        upstream.write_text(json.dumps(basic_stats(load_snapshot(snapshot))))
        parameters[f"{need}_result_path"] = str(upstream)
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=parameters,
        kernel_name="workbench", cwd=str(NOTEBOOKS), progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def _pngs(nb: Any) -> list[str]:
    return [o["data"]["image/png"] for o in _outputs(nb) if "image/png" in o.get("data", {})]


@pytest.fixture(scope="module")
def unsafe_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A survey whose title, question, option and answers carry markup; it has no NPS question."""
    path = tmp_path_factory.mktemp("unsafe") / "snapshot.json"
    path.write_text(json.dumps({
        "survey": {
            "id": "unsafe", "title": UNSAFE,
            "questions": [
                {"key": "r", "type": "rating", "text": f"Rate {UNSAFE}"},
                {"key": "c", "type": "single_choice", "text": "Pick", "options": [UNSAFE, "$"]},
                {"key": "t", "type": "text", "text": "Say"},
            ],
        },
        "responses": [
            {"started_at": "2026-03-02T10:00:00Z", "completed_at": "2026-03-02T10:01:00Z",
             "answers": {"r": 4, "c": UNSAFE, "t": '<script>alert("x")</script>'}},
            {"started_at": "2026-03-03T10:00:00Z", "answers": {"r": 2}},
        ],
    }))
    return path


# basic_stats on the bundled sample emitting what `basic_stats` computes in process: the JupyterLab-defaults test of
# tests/integration/test_notebook_check.py (which runs every notebook on the sample once).


def test_visualizations_notebook_shows_every_chart(tmp_path: Path) -> None:
    nb = _run("visualizations", SAMPLE, tmp_path)
    result = extract_result(nb, components.get("visualizations").result_model)
    specs = [spec for spec, _ in make_charts(load_snapshot(SAMPLE))]
    assert result == {"charts": specs, "chart_count": len(specs)}
    assert len(specs) == 6  # nps, its breakdown, two ratings, two choice questions
    assert len(_pngs(nb)) == len(specs)
    assert all(len(png) > 1000 for png in _pngs(nb))
    # every chart carries its title as alternative text, into the rendered HTML
    alts = [o["metadata"]["image/png"]["alt"] for o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert alts == [spec["title"] for spec in specs]
    html = render_component_html(nb)
    assert all(f'alt="{html_lib.escape(alt)}"' in html for alt in alts)


@pytest.mark.parametrize("name", ["basic_stats", "visualizations"])
def test_notebooks_escape_untrusted_text(name: str, unsafe_snapshot: Path, tmp_path: Path) -> None:
    nb = _run(name, unsafe_snapshot, tmp_path)
    extract_result(nb, components.get(name).result_model)
    rich = [
        text
        for o in _outputs(nb)
        for mime, text in o.get("data", {}).items()
        if mime in ("text/markdown", "text/html")
    ]
    assert rich, "the notebook should show some Markdown or HTML"
    joined = "".join(rich)
    assert "<img" not in joined and "<script" not in joined
    if name == "visualizations":
        assert len(_pngs(nb)) == 2  # the rating and the choice question; no NPS question here


@pytest.fixture(scope="module")
def kinds_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every kind, a conditional question, and no timestamps at all (an export without times)."""
    path = tmp_path_factory.mktemp("kinds") / "snapshot.json"
    path.write_text(json.dumps({
        "survey": {
            "id": "kinds", "title": "Kinds",
            "questions": [
                {"key": "grade", "type": "scale", "text": "Grade", "min": 0, "max": 10, "labels": {"0": "Bad"}},
                {"key": "agree", "type": "ordinal", "text": "Agree?", "options": ["No", "Maybe", "Yes"]},
                {"key": "size", "type": "numeric", "text": "Size"},
                {"key": "plan", "type": "single_choice", "text": "Plan", "options": ["Free", "Pro"]},
                {"key": "why", "type": "text", "text": "Why Pro?", "required_if": {"question": "plan", "in": ["Pro"]}},
                {"key": "day", "type": "date", "text": "Since"},
            ],
        },
        "responses": [
            {"answers": {"grade": 7, "agree": "Yes", "size": 12.5, "plan": "Pro", "why": "SSO", "day": "2026-01-05"}},
            {"answers": {"grade": 3, "agree": "No", "size": 3, "plan": "Free", "day": "2026-02-20"}},
        ],
    }))
    return path


@pytest.mark.parametrize("name", ["basic_stats", "visualizations"])
def test_notebooks_handle_every_kind_and_unknown_times(name: str, kinds_snapshot: Path, tmp_path: Path) -> None:
    nb = _run(name, kinds_snapshot, tmp_path)
    result = extract_result(nb, components.get(name).result_model)
    if name == "basic_stats":
        assert result["completion_known"] is False and result["nps"] is None
        shown = "".join(str(o.get("data", {})) + str(o.get("text", "")) for o in _outputs(nb))
        assert "completion is unknown" in shown and "responses per week are unknown" in shown
        assert "0.0" not in shown.split("Completion rate")[1][:80]  # not a made-up 0%
    else:
        assert [c["kind"] for c in result["charts"]] == ["bar", "barh", "histogram", "barh", "timeline"]
        assert len(_pngs(nb)) == 5
