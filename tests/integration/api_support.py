"""Helpers for the in-process API tests: a survey, responses, and calls that create them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from workbench.storage.models import Report

UNREACHABLE_TEMPORAL = "127.0.0.1:1"  # nothing listens on port 1: connecting fails at once

SURVEY: dict[str, Any] = {
    "title": "Acme feedback",
    "description": "Quarterly relationship survey",
    "questions": [
        {"key": "nps", "type": "nps", "text": "Recommend?", "required": True},
        {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro"]},
        {"key": "features", "type": "multi_choice", "text": "Features?", "options": ["Alerts", "API"]},
        {"key": "improve", "type": "text", "text": "Improve?"},
    ],
}
CSV_HEADER = "respondent_id,started_at,completed_at,nps,plan,features,improve\n"


def response(rid: str | None, nps: Any = 8, **answers: Any) -> dict[str, Any]:
    return {"respondent_id": rid, "started_at": "2026-03-02T07:00:00Z", "completed_at": "2026-03-02T07:04:00Z",
            "answers": {"nps": nps, **answers}}


def create_survey(client: TestClient, **changes: Any) -> str:
    r = client.post("/api/v1/surveys", json={**SURVEY, **changes})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def import_json(client: TestClient, survey_id: str, responses: list[dict[str, Any]]) -> Any:
    return client.post(f"/api/v1/surveys/{survey_id}/responses", json={"responses": responses})


def import_csv(client: TestClient, survey_id: str, text: str, content_type: str = "text/csv") -> Any:
    return client.post(f"/api/v1/surveys/{survey_id}/responses", content=text.encode("utf-8"),
                       headers={"content-type": content_type})


def count(client: TestClient, survey_id: str) -> int:
    r = client.get(f"/api/v1/surveys/{survey_id}")
    assert r.status_code == 200
    return r.json()["response_count"]


def report_count(db: sessionmaker[Session]) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Report)) or 0


# --- surveys ------------------------------------------------------------------------------------------------
