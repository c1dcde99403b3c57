"""The FastAPI application. Wiring happens in `lifespan`; nothing connects at import.

Run with `workbench api` or `uvicorn --factory api.main:create_app`.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRouter
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.access import AuditTrail, AuditWriter, KeyCache, RateLimits, SignInRequired, authorize
from api.caching import BodyCache
from api.errors import database_unavailable, install_error_handlers
from api.import_jobs import ImportRunner
from api.metrics import install_metrics
from api.routes import (
    access,
    batches,
    components,
    health,
    imports,
    pages,
    reports,
    schedules,
    surveys,
    ui,
    webhooks,
)
from api.schemas import ResponsesImport, error_responses
from api.security import install_front_door
from api.temporal import TemporalGateway
from workbench import __version__
from workbench.access import Role
from workbench.config import Settings, get_settings
from workbench.storage import access as access_store
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workbench.surveys.schema import QUESTION_KEY

# Every router the app serves, in order; the access-matrix test walks their routes.
ROUTERS: list[APIRouter] = [health.router, surveys.router, imports.router, reports.router, components.router,
                            webhooks.router, webhooks.receiver, access.router, access.pages, pages.router, ui.router,
                            batches.router, schedules.router, schedules.pages]

BACKGROUND_CONNECTIONS = 4


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Each blocking handler holds a session: with more threads than pooled connections the extra ones only
        # opened and closed connections of their own, and 40 threads (anyio's default) contending for one GIL
        # on a small machine stretched the tail latency of every read. The pool also holds one each for the
        # threads outside the handlers' limit (the audit writer, key lookups, progress pollers, imports).
        engine = make_engine(settings.effective_database_url,
                             pool_size=settings.database_pool_size + BACKGROUND_CONNECTIONS)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.database_pool_size
        app.state.settings = settings
        app.state.sessions = make_sessionmaker(engine)
        app.state.temporal = TemporalGateway(settings)
        app.state.imports = ImportRunner(app.state.sessions, settings.data_dir)
        app.state.imports.start()
        app.state.rate_limits = RateLimits(settings.rate_limit)
        app.state.bodies = BodyCache(settings.api_cache_mb * 1024 * 1024)
        app.state.keys = KeyCache(settings.api_key_cache_seconds)
        app.state.audit = AuditWriter(app.state.sessions).start()
        app.state.bootstrap_key = None
        if settings.bootstrap_admin_key is not None:
            try:
                store_bootstrap_key(app.state.sessions, settings.bootstrap_admin_key.get_secret_value())
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                # The API starts while the database is down (it answers 503 meanwhile): store it once it is back.
                app.state.bootstrap_key = settings.bootstrap_admin_key.get_secret_value()
        # Everything loaded so far (modules, the app, settings) lives as long as the process: out of the
        # collector's sight, a full collection no longer walks it, which stalled every request in flight for
        # a few hundred ms under load (the reads benchmark's p99).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            app.state.imports.shutdown()
            app.state.audit.stop()
            engine.dispose()

    app = FastAPI(
        title="Workbench",
        version=__version__,
        summary="Survey reports produced by Jupyter notebooks, run durably on Temporal workers.",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],  # every route: its rule in api.access.RULES, applied before it runs
    )
    for router in ROUTERS:
        public = router in (health.router, webhooks.receiver)
        app.include_router(router, responses=None if public else error_responses(401, 403, 429))
    install_error_handlers(app)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> RedirectResponse:
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='')}", status_code=303)

    app.add_middleware(AuditTrail)
    install_metrics(app)
    install_front_door(app, settings)
    app.openapi = _completed_openapi(app.openapi, extra_models=[ResponsesImport])  # type: ignore[method-assign]

    return app


def store_bootstrap_key(sessions: sessionmaker[Session], text: str) -> None:
    """The deployment's first admin key, from the settings (several API replicas may race: one insert wins)."""
    with sessions() as session:
        try:
            access_store.ensure_key(session, text=text, organization_id=DEFAULT_ORGANIZATION_ID, user_name="admin",
                                    role=Role.ADMIN, name="bootstrap key (WORKBENCH_BOOTSTRAP_ADMIN_KEY)")
            session.commit()
        except IntegrityError:
            session.rollback()
        except ValueError as exc:
            raise SystemExit(f"WORKBENCH_BOOTSTRAP_ADMIN_KEY: {exc}") from None


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
