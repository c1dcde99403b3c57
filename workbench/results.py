"""How a notebook hands its result to the pipeline: one display output with a private MIME type.

Inside a notebook, `emit_result({...})` displays the result; the runner reads it back from the executed
notebook with `extract_result`. No side files, so what JupyterLab shows is exactly what the pipeline stores.
"""

from __future__ import annotations

import functools
import json
import math
import platform
from importlib import metadata
from typing import Any

from pydantic import BaseModel, ValidationError

RESULT_MIME = "application/vnd.workbench.result+json"


class ResultError(ValueError):
    """The executed notebook emitted no valid result."""


def _check_json(value: Any, path: str = "result") -> None:
    # Reject NaN/inf early: they are not JSON and PostgreSQL's JSONB refuses them.
    if isinstance(value, float) and not math.isfinite(value):
        raise ResultError(f"{path} is {value}, which is not valid JSON; use None for a missing number")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ResultError(f"{path} has a non-string key {k!r}")
            _check_json(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]")


def emit_result(result: dict[str, Any]) -> None:
    """Display `result` as this notebook's output for the pipeline (call it once, in the last cell)."""
    from IPython.display import display

    if not isinstance(result, dict) or not result:
        raise ResultError("the result must be a non-empty dict")
    _check_json(result)
    data = json.loads(json.dumps(result, allow_nan=False, default=_default))
    summary = f"Workbench result with keys: {', '.join(sorted(data))}"
    display({RESULT_MIME: data, "text/plain": summary}, metadata={RESULT_MIME: {"environment": environment()}},
            raw=True)


# Packages whose versions can change a result; recorded from inside the kernel with every result.
KEY_PACKAGES = ("workbench", "numpy", "pandas", "scipy", "scikit-learn", "matplotlib", "vaderSentiment",
                "ipykernel", "papermill", "nbclient")


def environment() -> dict[str, Any]:
    """The Python and key package versions of the running interpreter (the kernel, when called there)."""
    found = _versions()
    return {"python": found["python"], "packages": dict(found["packages"])}


@functools.cache
def _versions() -> dict[str, Any]:
    # Read once per process (about 8 ms: each name searches every folder on sys.path), and a forked kernel finds
    # them already read by its template (workbench.kernel_forks). What a process has imported does not change
    # with a later upgrade on disk, so the first reading stays the right one.
    packages: dict[str, str | None] = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {"python": platform.python_version(), "packages": packages}


def _default(value: Any) -> Any:
    # numpy scalars and arrays, pandas timestamps: converted so notebooks need not care.
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _result_outputs(nb: Any) -> list[dict[str, Any]]:
    return [
        output
        for cell in nb.cells
        if cell.get("cell_type") == "code"
        for output in cell.get("outputs", [])
        if RESULT_MIME in output.get("data", {})
    ]


def extract_result(nb: Any, model: type[BaseModel] | None = None) -> dict[str, Any]:
    """Return the single result a notebook emitted, or raise `ResultError` saying what is wrong.

    With `model`, the result must validate against it; the error names the first field that does not.
    """
    found = _result_outputs(nb)
    if not found:
        raise ResultError("the notebook finished without emitting a result (call workbench.results.emit_result)")
    if len(found) > 1:
        raise ResultError(f"the notebook emitted {len(found)} results; emit exactly one")
    result = found[0]["data"][RESULT_MIME]
    if not isinstance(result, dict) or not result:
        raise ResultError("the emitted result is not a non-empty JSON object")
    _check_json(result)
    if model is not None:
        try:
            model.model_validate(result)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "result"
            more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
            raise ResultError(f"the result does not match its schema: {where}: {first['msg']}{more}") from None
    return dict(result)


def result_environment(nb: Any) -> dict[str, Any] | None:
    """The kernel environment recorded with the emitted result (None for results emitted before it was)."""
    found = _result_outputs(nb)
    if len(found) != 1:
        return None
    meta = found[0].get("metadata", {}).get(RESULT_MIME, {})
    env = meta.get("environment") if isinstance(meta, dict) else None
    return dict(env) if isinstance(env, dict) else None
