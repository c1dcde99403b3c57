"""The registry of report components: which notebook produces which result.

A component is one parameterised notebook in `notebooks/`; adding one means adding the notebook and one
`register()` call here. `basic_stats` runs first; the rest run in parallel after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ComponentSpec:
    """What the pipeline needs to know about one component."""

    name: str
    title: str
    notebook: str  # file name inside the notebooks folder
    required_keys: frozenset[str] = field(default_factory=frozenset)  # the emitted result must have these
    runs_first: bool = False


class ComponentRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, ComponentSpec] = {}

    def register(self, spec: ComponentSpec) -> None:
        self._specs[spec.name] = spec

    def get(self, name: str) -> ComponentSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"unknown component '{name}' (known: {', '.join(self.names())})") from None

    def names(self) -> list[str]:
        return list(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs


components = ComponentRegistry()
components.register(ComponentSpec(
    name="basic_stats", title="Basic statistics", notebook="basic_stats.ipynb", runs_first=True,
    required_keys=frozenset({"response_count", "completed_count", "completion_rate", "questions"}),
))
components.register(ComponentSpec(
    name="sentiment", title="Sentiment", notebook="sentiment.ipynb",
    required_keys=frozenset({"engine", "questions"}),
))
components.register(ComponentSpec(
    name="themes", title="Themes", notebook="themes.ipynb",
    required_keys=frozenset({"engine", "questions"}),
))
components.register(ComponentSpec(
    name="visualizations", title="Visualisations", notebook="visualizations.ipynb",
    required_keys=frozenset({"charts"}),
))
