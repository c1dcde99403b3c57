"""Liveness and readiness of the API and what it depends on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from api.deps import SessionsDep, SettingsDep
from api.schemas import HealthPublic, LivePublic
from workbench.rendering.pdf import find_chromium

router = APIRouter(tags=["health"])


def _database_answers(sessions: sessionmaker[Session]) -> bool:
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@router.get("/health/live")
def live() -> LivePublic:
    """200 while the process serves requests, whatever its dependencies do: restart it only when this fails."""
    return LivePublic(status="ok")


NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"model": HealthPublic, "description": "The database or Temporal is down"}}


@router.get("/health/ready", responses=NOT_READY)
@router.get("/health", responses=NOT_READY)
async def health(request: Request, sessions: SessionsDep, settings: SettingsDep) -> HealthPublic:
    """Readiness: 200 when the database and Temporal answer; 503 otherwise (send no traffic). `chromium` tells
    whether PDFs can render. `/health` is the same check."""
    # The database check blocks (a connect may wait): a thread keeps the event loop serving other requests.
    database = await run_in_threadpool(_database_answers, sessions)
    temporal = await request.app.state.temporal.healthy()
    chromium = await run_in_threadpool(find_chromium, settings.chromium_path)
    body = HealthPublic(status="ok" if database and temporal else "degraded", database=database, temporal=temporal,
                        chromium=chromium is not None)
    if body.status != "ok":
        return JSONResponse(body.model_dump(), status_code=503)  # type: ignore[return-value]
    return body
