"""Report components: the registry (`components`), their specs, parameters and result models."""

from __future__ import annotations

from workbench.components.catalog import register_all
from workbench.components.parameters import (
    SNAPSHOT_PARAMETER,
    Parameter,
    ParametersCellError,
    result_path_parameter,
)
from workbench.components.spec import ComponentError, ComponentRegistry, ComponentSpec, UnknownComponent

components = register_all(ComponentRegistry())

__all__ = [
    "SNAPSHOT_PARAMETER",
    "ComponentError",
    "ComponentRegistry",
    "ComponentSpec",
    "Parameter",
    "ParametersCellError",
    "UnknownComponent",
    "components",
    "result_path_parameter",
]
