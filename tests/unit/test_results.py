"""Result emission and extraction: the contract between a notebook and the pipeline."""

import math

import nbformat
import numpy as np
import pytest

from workbench.results import RESULT_MIME, ResultError, extract_result


def notebook_with(*payloads: object) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for payload in payloads:
        cell = nbformat.v4.new_code_cell("emit_result(...)")
        cell.outputs = [nbformat.v4.new_output("display_data", data={RESULT_MIME: payload, "text/plain": "x"})]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_markdown_cell("not code"))
    return nb


def test_extracts_the_single_result() -> None:
    assert extract_result(notebook_with({"a": 1, "b": [1, 2]}), frozenset({"a"})) == {"a": 1, "b": [1, 2]}


@pytest.mark.parametrize(
    ("payloads", "message"),
    [
        ((), "without emitting a result"),
        (({"a": 1}, {"a": 2}), "emitted 2 results"),
        (({},), "non-empty JSON object"),
        (([1, 2],), "non-empty JSON object"),
        (({"b": 1},), "lacks required keys: a"),
        (({"a": math.nan},), "result.a is nan"),
    ],
)
def test_rejects_missing_duplicate_or_invalid_results(payloads: tuple, message: str) -> None:
    with pytest.raises(ResultError, match=message):
        extract_result(notebook_with(*payloads), frozenset({"a"}))


def test_emit_result_converts_numpy_and_refuses_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench import results

    shown: list[dict] = []
    monkeypatch.setattr("IPython.display.display", lambda data, raw: shown.append(data))
    results.emit_result({"n": np.int64(3), "xs": np.array([1.5, 2.5]), "nested": {"m": np.float64(0.5)}})
    assert shown[0][RESULT_MIME] == {"n": 3, "xs": [1.5, 2.5], "nested": {"m": 0.5}}
    with pytest.raises(ResultError, match="not valid JSON"):
        results.emit_result({"bad": float("inf")})
    with pytest.raises(ResultError, match="non-empty dict"):
        results.emit_result({})
