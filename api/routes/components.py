"""The component catalogue: what each component needs, takes and returns."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SettingsDep
from api.schemas import ComponentSpecPublic, ComponentsPublic, ParameterPublic
from workbench.components import components

router = APIRouter(prefix="/api/v1/components", tags=["components"])


@router.get("")
def list_components(settings: SettingsDep) -> ComponentsPublic:
    """Every component with its needs, parameters (from its notebook's parameters cell) and result schema."""
    data = []
    for spec in components.specs():
        parameters = components.user_parameters(spec.name, settings.notebooks_dir)
        data.append(ComponentSpecPublic(
            name=spec.name, title=spec.title, notebook=spec.notebook, needs=list(spec.needs),
            parameters=[ParameterPublic(name=p.name, type=p.annotation, default=p.default,
                                        description=p.description) for p in parameters],
            parameters_schema=components.parameters_model(spec.name, settings.notebooks_dir).model_json_schema(),
            result_schema=spec.result_schema(),
        ))
    return ComponentsPublic(data=data, stages=components.stages(components.names()))
