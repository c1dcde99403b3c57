"""What a report component is: a notebook, what it needs, what it takes and what it returns.

Components form a graph: a component names the components whose results it reads (`needs`). A report runs a
component as soon as everything it needs has completed; one whose upstream failed is skipped, never run on
missing input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from workbench.components.parameters import (
    NotebookParameters,
    Parameter,
    parameters_model,
    read_notebook_parameters,
    validate_parameters,
)


class ComponentError(ValueError):
    """A component request that cannot be met; `field` names the input at fault (e.g. `parameters.themes.x`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownComponent(ComponentError, LookupError):
    pass


@dataclass(frozen=True)
class ComponentSpec:
    """One component: its notebook (in the notebooks folder) and its contract."""

    name: str
    title: str
    notebook: str
    result_model: type[BaseModel]  # the emitted result must validate against it
    needs: tuple[str, ...] = ()  # components whose results this one reads
    # Extra pydantic Field constraints per parameter (ge, le, min_length, ...); names, types and defaults come
    # from the notebook's parameters cell.
    parameter_rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Settings fields handed to the kernel as WORKBENCH_<NAME> environment variables, never as parameters:
    # papermill writes parameters into the executed notebook, which is stored and downloadable.
    secrets: tuple[str, ...] = ()
    # The workload it belongs to, hence its task queue: "notebooks" (kernel-heavy) or "ai" (calls a model).
    queue: str = "notebooks"
    # Values of the `engine` parameter that call a remote model: such a run goes to the "ai" queue, so a slow
    # model never holds a notebooks slot, and is refused at request time when no model key is configured.
    remote_engines: frozenset[str] = frozenset()
    # What its kernel takes, for admission by memory (`workbench.reports.admission`): the interpreter with its
    # imports, plus a part per 1,000 responses of the snapshot (measured peaks, rounded up; benchmarks/README.md).
    memory_base_mb: float = 300
    memory_mb_per_1000_responses: float = 1.5

    def memory_estimate_mb(self, responses: int) -> float:
        """The peak memory its kernel is expected to take on a snapshot of `responses` responses."""
        return self.memory_base_mb + self.memory_mb_per_1000_responses * responses / 1000

    def queue_for(self, parameters: Mapping[str, Any] | None) -> str:
        """The workload this component's run belongs to, given its parameters."""
        if (parameters or {}).get("engine") in self.remote_engines:
            return "ai"
        return self.queue

    def result_schema(self) -> dict[str, Any]:
        return self.result_model.model_json_schema()


@lru_cache(maxsize=64)
def _read_parameters(path: Path, mtime_ns: int) -> NotebookParameters:
    return read_notebook_parameters(path)


class ComponentRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, ComponentSpec] = {}

    def register(self, spec: ComponentSpec) -> ComponentSpec:
        missing = [n for n in spec.needs if n not in self._specs]
        if missing:  # registering upstream first also rules out cycles
            raise ValueError(f"{spec.name} needs unregistered components {missing}; register them first")
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        dependants = [s.name for s in self._specs.values() if name in s.needs]
        if dependants:
            raise ValueError(f"{dependants} need {name}")
        self._specs.pop(name, None)

    def get(self, name: str) -> ComponentSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownComponent("components", f"unknown component '{name}' (known: {', '.join(self.names())})") \
                from None

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[ComponentSpec]:
        return list(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    # --- the graph ----------------------------------------------------------------------------------------

    def resolve(self, names: Iterable[str] | None) -> list[str]:
        """The requested components plus everything they need, in registry (so dependency) order."""
        requested = list(names) if names is not None else self.names()
        if not requested:
            raise ComponentError("components", "no components requested")
        if len(set(requested)) != len(requested):
            raise ComponentError("components", "a component is listed twice")
        unknown = [n for n in requested if n not in self._specs]
        if unknown:
            raise UnknownComponent("components", f"unknown components {unknown}; known: {self.names()}")
        wanted: set[str] = set()
        pending = list(requested)
        while pending:
            name = pending.pop()
            if name not in wanted:
                wanted.add(name)
                pending.extend(self._specs[name].needs)
        return [n for n in self._specs if n in wanted]

    def stages(self, names: Iterable[str]) -> list[list[str]]:
        """`names` (already resolved) grouped by depth: each stage needs only components of earlier stages."""
        depth: dict[str, int] = {}
        for name in self.resolve(names):  # dependency order, so every need has its depth already
            depth[name] = 1 + max((depth[n] for n in self._specs[name].needs), default=-1)
        stages: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for name, level in depth.items():
            stages[level].append(name)
        return stages

    # --- parameters ---------------------------------------------------------------------------------------

    def notebook_parameters(self, name: str, notebooks_dir: Path) -> NotebookParameters:
        path = notebooks_dir / self.get(name).notebook
        return _read_parameters(path, path.stat().st_mtime_ns)

    def user_parameters(self, name: str, notebooks_dir: Path) -> tuple[Parameter, ...]:
        return self.notebook_parameters(name, notebooks_dir).user(self.get(name).needs)

    def parameters_model(self, name: str, notebooks_dir: Path) -> type[BaseModel]:
        spec = self.get(name)
        rules = {k: dict(v) for k, v in spec.parameter_rules.items()}
        return parameters_model(name, self.user_parameters(name, notebooks_dir), rules)

    def check_parameters(
        self, requested: Mapping[str, Any] | None, names: list[str], notebooks_dir: Path
    ) -> dict[str, dict[str, Any]]:
        """Validate per-component parameters for a report of `names`; returns them as plain dicts.

        Raises `ComponentError` naming `parameters.<component>[.<parameter>]` for the first problem.
        """
        requested = dict(requested or {})
        checked: dict[str, dict[str, Any]] = {}
        for component, values in requested.items():
            if component not in self._specs:
                raise UnknownComponent(f"parameters.{component}", f"unknown component '{component}'")
            if component not in names:
                raise ComponentError(f"parameters.{component}",
                                     f"parameters given for '{component}', which this report does not run")
            if not isinstance(values, Mapping):
                raise ComponentError(f"parameters.{component}", "parameters must be an object of name: value")
            problems = validate_parameters(self.parameters_model(component, notebooks_dir), dict(values))
            if problems:
                where, message = problems[0]
                raise ComponentError(f"parameters.{component}.{where}", f"{component}.{where}: {message}")
            checked[component] = dict(values)
        return checked
