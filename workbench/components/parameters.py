"""A component's parameters, read from its notebook's `parameters` cell.

The cell is the single source of truth: each line `name: type = default  # description` becomes one parameter,
and the set becomes a pydantic model (so a JSON Schema, and validation of what a report request asks for).
Parameters the pipeline injects (`snapshot_path`, `<upstream>_result_path`) are listed apart: a request
cannot set them.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import nbformat
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

PARAMETERS_TAG = "parameters"
SNAPSHOT_PARAMETER = "snapshot_path"
RESULT_PATH_SUFFIX = "_result_path"

# What an annotation in a parameters cell may use: plain JSON-able types. Evaluated by us, never by a kernel.
_ANNOTATION_NAMES: dict[str, Any] = {
    "int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict, "None": None,
    "Literal": Literal,
}


class ParametersCellError(ValueError):
    """The notebook's parameters cell breaks the contract (missing, untyped, not a literal default)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: str  # as written in the cell, e.g. "int" or "list[str]"
    type: Any
    default: Any
    description: str


@dataclass(frozen=True)
class NotebookParameters:
    """Everything the parameters cell declares, split into what a request may set and what the pipeline sets."""

    cell_index: int
    parameters: tuple[Parameter, ...]
    problems: tuple[str, ...] = field(default=())  # untyped or unreadable lines; empty when the cell is clean

    def user(self, needs: tuple[str, ...]) -> tuple[Parameter, ...]:
        injected = injected_parameter_names(needs)
        return tuple(p for p in self.parameters if p.name not in injected)

    def names(self) -> set[str]:
        return {p.name for p in self.parameters}


def result_path_parameter(upstream: str) -> str:
    """The parameter through which a notebook receives the path of `upstream`'s result JSON."""
    return f"{upstream}{RESULT_PATH_SUFFIX}"


def injected_parameter_names(needs: tuple[str, ...]) -> set[str]:
    return {SNAPSHOT_PARAMETER, *(result_path_parameter(n) for n in needs)}


def find_parameters_cell(nb: Any) -> int | None:
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def _comments_by_line(source: str) -> dict[int, tuple[str, bool]]:
    """Line -> (comment text, whether the comment is the whole line)."""
    comments: dict[int, tuple[str, bool]] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                whole = token.line.strip().startswith("#")
                comments[token.start[0]] = (token.string.lstrip("#").strip(), whole)
    except (tokenize.TokenError, IndentationError):
        pass
    return comments


def _description(comments: dict[int, tuple[str, bool]], line: int) -> str:
    # The comment on the line itself, else the block of comment-only lines right above it (the previous
    # parameter's own comment is not part of it).
    if line in comments:
        return comments[line][0]
    above: list[str] = []
    previous = line - 1
    while previous in comments and comments[previous][1]:
        above.insert(0, comments[previous][0])
        previous -= 1
    return " ".join(above)


def parse_parameters_cell(source: str, cell_index: int = 0) -> NotebookParameters:
    """Read `name: type = literal  # description` lines; anything else in the cell is a problem to report."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParametersCellError(f"the parameters cell is not valid Python: {exc.msg} (line {exc.lineno})") from exc
    comments = _comments_by_line(source)
    parameters: list[Parameter] = []
    problems: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "typing":
            continue  # `from typing import Literal` is allowed for choices
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            problems.append(f"line {node.lineno}: {', '.join(names) or 'assignment'} has no type annotation")
            continue
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            problems.append(f"line {node.lineno}: only `name: type = value` lines belong in the parameters cell")
            continue
        name = node.target.id
        annotation = ast.unparse(node.annotation)
        try:
            kind = eval(compile(ast.Expression(node.annotation), "<parameters>", "eval"),  # noqa: S307
                        {"__builtins__": {}}, dict(_ANNOTATION_NAMES))
        except Exception:
            problems.append(f"line {node.lineno}: {name}: unsupported type {annotation!r} (use int, float, str, "
                            "bool, list[...], dict[...], Literal[...] or X | None)")
            continue
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            problems.append(f"line {node.lineno}: {name}: the default must be a literal value")
            continue
        parameters.append(Parameter(name, annotation, kind, default, _description(comments, node.lineno)))
    return NotebookParameters(cell_index, tuple(parameters), tuple(problems))


def read_notebook_parameters(path: Path) -> NotebookParameters:
    nb = nbformat.read(str(path), as_version=4)
    index = find_parameters_cell(nb)
    if index is None:
        raise ParametersCellError(f"{path.name} has no cell tagged '{PARAMETERS_TAG}'")
    return parse_parameters_cell(nb.cells[index].source, index)


def parameters_model(
    component: str, parameters: tuple[Parameter, ...], rules: dict[str, dict[str, Any]] | None = None
) -> type[BaseModel]:
    """A strict pydantic model of the parameters a request may set (unknown names refused, no coercion)."""
    rules = rules or {}
    fields: dict[str, Any] = {
        p.name: (p.type, Field(p.default, description=p.description or None, **rules.get(p.name, {})))
        for p in parameters
    }
    config = ConfigDict(extra="forbid", strict=True, title=f"{component} parameters")
    return create_model(f"{component}_parameters", __config__=config, **fields)


def validate_parameters(model: type[BaseModel], values: dict[str, Any]) -> list[tuple[str, str]]:
    """(parameter name, message) for every problem in `values`; empty when they are valid."""
    try:
        model.model_validate(values)
    except ValidationError as exc:
        return [(".".join(str(part) for part in err["loc"]) or "parameters", err["msg"]) for err in exc.errors()]
    return []
