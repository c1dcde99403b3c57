"""The FastAPI application. Wiring happens in `lifespan`; nothing connects at import.

Run with `workbench api` or `uvicorn --factory api.main:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api.routes import components, health, pages, reports, surveys
from api.temporal import TemporalGateway
from workbench import __version__
from workbench.config import Settings, get_settings
from workbench.storage.db import make_engine, make_sessionmaker


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.effective_database_url)
        app.state.settings = settings
        app.state.sessions = make_sessionmaker(engine)
        app.state.temporal = TemporalGateway(settings)
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="Workbench",
        version=__version__,
        summary="Survey reports produced by Jupyter notebooks, run durably on Temporal workers.",
        lifespan=lifespan,
    )
    app.include_router(health.router)
    app.include_router(surveys.router)
    app.include_router(reports.router)
    app.include_router(components.router)
    app.include_router(pages.router)

    @app.exception_handler(RequestValidationError)
    async def malformed_ids_are_not_found(request: Request, exc: RequestValidationError) -> Response:
        # An id that is not even a UUID names nothing, exactly like an unknown one: 404, not 422.
        errors = exc.errors()
        if errors and all(e["loc"][:1] == ("path",) and e["type"].startswith("uuid") for e in errors):
            return JSONResponse({"detail": f"{errors[0]['loc'][-1]} {errors[0].get('input')!r} not found"},
                                status_code=404)
        return await request_validation_exception_handler(request, exc)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app
