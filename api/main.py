"""The FastAPI application. Wiring happens in `lifespan`; nothing connects at import.

Run with `workbench api` or `uvicorn --factory api.main:create_app`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from api.routes import health, pages, reports, surveys
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
    app.include_router(pages.router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app
