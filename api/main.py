"""The FastAPI application. Wiring happens in `lifespan`; nothing connects at import.

Run with `workbench api` or `uvicorn --factory api.main:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from api.errors import install_error_handlers
from api.import_jobs import ImportRunner
from api.metrics import install_metrics
from api.routes import components, health, imports, pages, reports, surveys, ui, webhooks
from api.schemas import ResponsesImport
from api.security import install_front_door
from api.temporal import TemporalGateway
from workbench import __version__
from workbench.config import Settings, get_settings
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.surveys.schema import QUESTION_KEY


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.effective_database_url)
        app.state.settings = settings
        app.state.sessions = make_sessionmaker(engine)
        app.state.temporal = TemporalGateway(settings)
        app.state.imports = ImportRunner(app.state.sessions, settings.data_dir)
        app.state.imports.start()
        try:
            yield
        finally:
            app.state.imports.shutdown()
            engine.dispose()

    app = FastAPI(
        title="Workbench",
        version=__version__,
        summary="Survey reports produced by Jupyter notebooks, run durably on Temporal workers.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(surveys.router)
    app.include_router(imports.router)
    app.include_router(reports.router)
    app.include_router(components.router)
    app.include_router(webhooks.router)
    app.include_router(webhooks.receiver)
    app.include_router(pages.router)
    app.include_router(ui.router)
    install_error_handlers(app)
    install_metrics(app)
    install_front_door(app, settings)
    app.openapi = _completed_openapi(app.openapi, extra_models=[ResponsesImport])  # type: ignore[method-assign]

    return app


def _completed_openapi(
    generate: Callable[[], dict[str, Any]], extra_models: list[type[BaseModel]]
) -> Callable[[], dict[str, Any]]:
    """FastAPI's OpenAPI document, plus what it cannot know from the routes' signatures.

    - the models of bodies a route reads itself (the responses import), as components its `$ref`s resolve to;
    - the question key's pattern, which the survey schema checks in a validator (invisible to JSON Schema).
    """
    def openapi() -> dict[str, Any]:
        completed = "x-completed" in generate()
        schema = generate()  # FastAPI caches the document: the changes below are made once
        if completed:
            return schema
        models = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in extra_models:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in model_schema.pop("$defs", {}).items():
                models.setdefault(name, definition)
            models.setdefault(model.__name__, model_schema)
        for name, definition in models.items():
            if name == "Question" or name.startswith("Question-"):
                # Anchored: the validator matches the whole key, a JSON Schema pattern matches anywhere.
                definition["properties"]["key"]["pattern"] = f"^(?:{QUESTION_KEY.pattern.strip('^$')})$"
        schema["x-completed"] = True
        return schema

    return openapi
