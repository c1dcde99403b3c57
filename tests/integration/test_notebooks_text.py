"""The sentiment and themes notebooks run under papermill and emit what the analysis modules compute; the
sentiment notebook also runs through the production runner under the kernel memory limit (onnxruntime
inside a limited address space) and says which engine scored the answers and how accurate it measured."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest

from workbench.analysis.sentiment import analyze_sentiment
from workbench.analysis.themes import extract_themes
from workbench.components import components
from workbench.config import Settings
from workbench.notebook import load_snapshot
from workbench.results import extract_result
from workbench.runner import run_notebook
from workbench.surveys.schema import Snapshot

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SAMPLE = NOTEBOOKS / "data" / "sample_survey.json"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> I love it, great!'

LIKED = [
    "Fast delivery, the parcel arrived early", "Great prices and good value for money",
    "The mobile app is easy to use", "Friendly support team, very helpful", "Checkout was quick and simple",
]
IMPROVE = [
    "The app crashes when I log in", "Shipping costs are far too high", "Support wait times are terrible",
    "Add more payment options please", "The website is slow and confusing", "",
]

# top_n=10 quotes every distinct positive answer, so the hostile one is quoted (and must come out escaped).
ANALYSES: dict[str, Callable[[Snapshot], dict[str, Any]]] = {
    "sentiment": lambda snap: analyze_sentiment(snap, top_n=10),
    "themes": lambda snap: extract_themes(snap, n_themes=6),
}
PARAMETERS: dict[str, dict[str, Any]] = {"sentiment": {"top_n": 10}, "themes": {}}
# What the notebooks' own defaults compute on the bundled sample (their "Run All" in JupyterLab): checked by
# tests/integration/test_notebook_check.py, whose JupyterLab-defaults test runs every notebook that way once.
DEFAULTS: dict[str, Callable[[Snapshot], dict[str, Any]]] = {
    "sentiment": lambda snap: analyze_sentiment(snap),
    "themes": lambda snap: extract_themes(snap, n_themes=6),
}


@pytest.fixture(scope="module")
def small_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(7)
    responses = [
        {
            "respondent_id": f"r{i:04d}",
            "started_at": "2024-05-01T10:00:00Z",
            "completed_at": "2024-05-01T10:05:00Z",
            "answers": {"nps": rng.randint(0, 10), "liked_most": rng.choice(LIKED), "improve": rng.choice(IMPROVE)},
        }
        for i in range(120)
    ]
    responses[0]["answers"]["liked_most"] = HOSTILE  # untrusted text must not become live HTML
    data = {
        "survey": {
            "id": "test-survey",
            "title": "Customer feedback",
            "questions": [
                {"key": "nps", "type": "nps", "text": "How likely are you to recommend us?"},
                {"key": "liked_most", "type": "text", "text": "What did you like most?"},
                {"key": "improve", "type": "text", "text": "What should we improve?"},
                {"key": "other", "type": "text", "text": "Anything else?"},  # never answered
            ],
        },
        "responses": responses,
    }
    path = tmp_path_factory.mktemp("snapshot") / "survey.json"
    path.write_text(json.dumps(data))
    return path


def run(name: str, tmp_path: Path, parameters: dict[str, Any]) -> Any:
    out = tmp_path / f"{name}.out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / components.get(name).notebook), str(out),
        parameters=parameters, kernel_name="workbench", cwd=str(NOTEBOOKS), progress_bar=False,
    )
    return nbformat.read(out, as_version=4)


def html_outputs(nb: Any) -> str:
    return "\n".join(
        o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
        for o in c.get("outputs", []) if "text/html" in o.get("data", {})
    )


@pytest.mark.parametrize("name", ["sentiment", "themes"])
def test_notebook_emits_module_result(name: str, small_snapshot: Path, tmp_path: Path) -> None:
    nb = run(name, tmp_path, {"snapshot_path": str(small_snapshot), **PARAMETERS[name]})

    emitted = extract_result(nb, components.get(name).result_model)
    expected = json.loads(json.dumps(ANALYSES[name](load_snapshot(small_snapshot)), allow_nan=False))
    assert emitted == expected
    assert set(emitted["questions"]) == {"liked_most", "improve", "other"}
    if name == "sentiment":
        assert emitted["questions"]["liked_most"]["n"] == 120
        assert emitted["engine"] == "minilm" and emitted["engine_info"]["evaluation"]["accuracy"] > 0.782
    else:
        assert emitted["questions"]["liked_most"]["themes"]
        assert emitted["questions"]["other"]["themes"] == [] and emitted["questions"]["other"]["note"]

    html = html_outputs(nb)
    assert "<script>" not in html and "<img" not in html
    if name == "sentiment":  # the hostile answer is positive, so it is quoted (escaped)
        assert "&lt;script&gt;" in html
        assert "macro-F1" in html and "majority baseline" in html  # the engine's measured accuracy is shown
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("name", ["sentiment", "themes"])
def test_saved_notebook_shape(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec["name"] == "workbench"
    assert nb.cells[0].cell_type == "markdown"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and 'snapshot_path: str = "data/sample_survey.json"' in tagged[0].source
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    assert nb.cells[-1].source.strip() == "emit_result(result)"


def test_sentiment_notebook_through_the_runner_under_the_memory_limit(
    small_snapshot: Path, tmp_path: Path
) -> None:
    # The production path: kernel launched by workbench.kernels with the default address-space limit.
    limit = Settings.model_fields["kernel_memory_limit_mb"].default
    for engine in ("minilm", "vader"):
        work = tmp_path / engine
        work.mkdir()
        result = run_notebook(
            NOTEBOOKS / "sentiment.ipynb", work / "out.ipynb", {"snapshot_path": str(small_snapshot),
                                                                 "engine": engine},
            kernel_name="workbench", cwd=work, cell_timeout=300, memory_limit_mb=limit,
        )
        assert result.error is None, result.error
        emitted = extract_result(result.notebook, components.get("sentiment").result_model)
        assert emitted["engine"] == engine and emitted["engine_info"]["name"] == engine
        assert emitted["engine_info"]["evaluation"]["n"] > 4000
        stderr = [o for c in result.notebook.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
        assert stderr == []  # onnxruntime and tokenizers stay quiet
