"""Liveness and readiness of the API and what it depends on."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import SessionDep, SettingsDep
from api.schemas import HealthPublic
from workbench.rendering.pdf import find_chromium

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"model": HealthPublic}})
async def health(request: Request, session: SessionDep, settings: SettingsDep) -> HealthPublic:
    """200 when the database and Temporal answer; 503 otherwise. `chromium` tells whether PDFs can render."""
    try:
        session.execute(text("SELECT 1"))
        database = True
    except Exception:
        database = False
    temporal = await request.app.state.temporal.healthy()
    body = HealthPublic(status="ok" if database and temporal else "degraded", database=database, temporal=temporal,
                        chromium=find_chromium(settings.chromium_path) is not None)
    if body.status != "ok":
        return JSONResponse(body.model_dump(), status_code=503)  # type: ignore[return-value]
    return body
