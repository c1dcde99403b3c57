"""Result emission and extraction: the contract between a notebook and the pipeline."""

import math

import nbformat
import numpy as np
import pytest
from pydantic import BaseModel, Field

from workbench.results import RESULT_MIME, ResultError, extract_result, result_environment


class NeedsA(BaseModel):
    a: int = Field(ge=0)


class Nested(BaseModel):
    inner: NeedsA


def notebook_with(*payloads: object) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for payload in payloads:
        cell = nbformat.v4.new_code_cell("emit_result(...)")
        cell.outputs = [nbformat.v4.new_output("display_data", data={RESULT_MIME: payload, "text/plain": "x"})]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_markdown_cell("not code"))
    return nb


def test_extracts_the_single_result() -> None:
    # extra keys pass through untouched: the model names what must be there, not all there may be
    assert extract_result(notebook_with({"a": 1, "b": [1, 2]}), NeedsA) == {"a": 1, "b": [1, 2]}


@pytest.mark.parametrize(
    ("payloads", "message"),
    [
        ((), "without emitting a result"),
        (({"a": 1}, {"a": 2}), "emitted 2 results"),
        (({},), "non-empty JSON object"),
        (([1, 2],), "non-empty JSON object"),
        (({"b": 1},), "does not match its schema: a: Field required"),
        (({"a": -1},), "a: Input should be greater than or equal to 0"),
        (({"a": "x", "b": 1},), "a: Input should be a valid integer"),
        (({"a": math.nan},), "result.a is nan"),
    ],
)
def test_rejects_missing_duplicate_or_invalid_results(payloads: tuple, message: str) -> None:
    with pytest.raises(ResultError, match=message):
        extract_result(notebook_with(*payloads), NeedsA)


def test_a_schema_mismatch_names_the_nested_field() -> None:
    with pytest.raises(ResultError, match=r"inner\.a: Input should be a valid integer"):
        extract_result(notebook_with({"inner": {"a": [1]}}), Nested)


def test_emit_result_converts_numpy_and_refuses_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench import results

    shown: list[dict] = []
    metadata: list[dict] = []
    monkeypatch.setattr("IPython.display.display",
                        lambda data, raw, metadata=None: (shown.append(data), metadata_seen.append(metadata)))
    metadata_seen = metadata
    results.emit_result({"n": np.int64(3), "xs": np.array([1.5, 2.5]), "nested": {"m": np.float64(0.5)}})
    assert shown[0][RESULT_MIME] == {"n": 3, "xs": [1.5, 2.5], "nested": {"m": 0.5}}
    # the kernel's environment travels with the result, for the component's provenance
    env = metadata[0][RESULT_MIME]["environment"]
    assert env["python"].count(".") == 2 and env["packages"]["pandas"] == __import__("pandas").__version__
    with pytest.raises(ResultError, match="not valid JSON"):
        results.emit_result({"bad": float("inf")})
    with pytest.raises(ResultError, match="non-empty dict"):
        results.emit_result({})


def test_the_environment_is_read_back_from_the_result_output() -> None:
    nb = notebook_with({"a": 1})
    nb.cells[0].outputs[0]["metadata"] = {RESULT_MIME: {"environment": {"python": "3.11.2", "packages": {}}}}
    assert result_environment(nb) == {"python": "3.11.2", "packages": {}}
    assert result_environment(notebook_with({"a": 1})) is None  # a result emitted before environments were kept


def test_the_package_versions_are_read_once_per_process_and_each_caller_gets_its_own_copy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench import results

    results._versions.cache_clear()
    calls: list[str] = []
    real = results.metadata.version
    monkeypatch.setattr(results.metadata, "version", lambda name: (calls.append(name), real(name))[1])
    first = results.environment()
    assert calls == list(results.KEY_PACKAGES)
    first["packages"]["pandas"] = "changed by a caller"
    second = results.environment()
    assert calls == list(results.KEY_PACKAGES)  # not read again
    assert second["packages"]["pandas"] == __import__("pandas").__version__
    results._versions.cache_clear()
