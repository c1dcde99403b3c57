"""Builders for the surveys and snapshots that several test modules need (one place to change their shape)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.surveys.schema import Snapshot, SurveyDefinition

FEATURE_OPTIONS = ["Dashboards", "Alerts", "REST API"]
PLAN_OPTIONS = ["Free", "Pro"]
TEXT_STARTED_AT = "2024-05-01T10:00:00Z"
TEXT_QUESTIONS: list[dict[str, Any]] = [
    {"key": "nps", "type": "nps", "text": "How likely are you to recommend us?"},
    {"key": "liked_most", "type": "text", "text": "What did you like most?"},
    {"key": "improve", "type": "text", "text": "What should we improve?"},
]


def feedback_survey() -> SurveyDefinition:
    """A fresh survey with one question of each type: `nps` (required), `satisfaction`, `plan`, `features`,
    `improve`. Tests may change it: every call builds a new one."""
    return SurveyDefinition.model_validate({
        "title": "Feedback",
        "questions": [
            {"key": "nps", "type": "nps", "text": "Recommend?", "required": True},
            {"key": "satisfaction", "type": "rating", "text": "Satisfied?"},
            {"key": "plan", "type": "single_choice", "text": "Plan?", "options": PLAN_OPTIONS},
            {"key": "features", "type": "multi_choice", "text": "Features?", "options": FEATURE_OPTIONS},
            {"key": "improve", "type": "text", "text": "Improve?"},
        ],
    })


def text_snapshot(
    answers: Sequence[dict[str, Any]],
    ids: Sequence[str | None] | None = None,
    *,
    extra_questions: Sequence[dict[str, Any]] = (),
    completed_at: str | None = None,
) -> Snapshot:
    """A snapshot of survey `s1` ("Feedback": `nps`, and the text questions `liked_most` and `improve`).

    Args:
        answers: One answers dict per response.
        ids: Respondent ids (default `r000`, `r001`, ...); None entries are anonymous responses.
        extra_questions: Questions appended after the three above (e.g. a text question nobody answers).
        completed_at: Every response's completion time; None leaves them all incomplete.
    """
    ids = ids or [f"r{i:03d}" for i in range(len(answers))]
    return Snapshot.model_validate({
        "survey": {"id": "s1", "title": "Feedback", "questions": [*TEXT_QUESTIONS, *extra_questions]},
        "responses": [
            {"respondent_id": rid, "started_at": TEXT_STARTED_AT, "completed_at": completed_at, "answers": a}
            for rid, a in zip(ids, answers, strict=True)
        ],
    })
