"""CRUD for surveys and their responses (keyword-only, session passed in, caller commits)."""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workbench.storage.models import Question, Response, Survey
from workbench.surveys.schema import Question as QuestionDefinition
from workbench.surveys.schema import ResponseRecord, Snapshot, SurveyDefinition

# Question fields kept in `questions.config` rather than in columns of their own.
CONFIG_FIELDS = ("min", "max", "labels", "format", "required_if")


def _config(question: QuestionDefinition) -> dict[str, Any] | None:
    fields = question.model_dump(mode="json", include=set(CONFIG_FIELDS), exclude_none=True)
    return fields or None


def create_survey(session: Session, *, organization_id: uuid.UUID, definition: SurveyDefinition) -> Survey:
    """Store a validated definition as a survey with its questions (in order); flushed, not committed."""
    survey = Survey(organization_id=organization_id, title=definition.title, description=definition.description)
    survey.questions = [
        Question(position=i, key=q.key, type=q.type, text=q.text, options=q.options, required=q.required,
                 config=_config(q))
        for i, q in enumerate(definition.questions)
    ]
    session.add(survey)
    session.flush()
    return survey


def get_survey(session: Session, *, organization_id: uuid.UUID, survey_id: uuid.UUID) -> Survey | None:
    survey = session.get(Survey, survey_id)
    return survey if survey is not None and survey.organization_id == organization_id else None


def list_surveys(session: Session, *, organization_id: uuid.UUID, limit: int = 100, offset: int = 0) -> list[Survey]:
    stmt = (
        select(Survey)
        .where(Survey.organization_id == organization_id)
        .order_by(Survey.created_at.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt))


def survey_definition(survey: Survey) -> SurveyDefinition:
    """The definition of a stored survey (validated again, so a stored `rating` reads as a 1-5 scale)."""
    return SurveyDefinition.model_validate({
        "title": survey.title,
        "description": survey.description,
        "questions": [
            {"key": q.key, "type": q.type, "text": q.text, "options": q.options, "required": q.required,
             **(q.config or {})}
            for q in survey.questions
        ],
    })


def existing_respondents(session: Session, *, survey_id: uuid.UUID) -> set[str]:
    stmt = select(Response.respondent_id).where(Response.survey_id == survey_id, Response.respondent_id.is_not(None))
    return set(session.scalars(stmt))


def add_responses(session: Session, *, survey_id: uuid.UUID, records: list[ResponseRecord]) -> int:
    """Insert already validated records; returns how many."""
    session.add_all(
        Response(
            survey_id=survey_id,
            respondent_id=r.respondent_id,
            started_at=r.started_at,
            completed_at=r.completed_at,
            answers=r.answers,
        )
        for r in records
    )
    session.flush()
    return len(records)


def count_responses(session: Session, *, survey_id: uuid.UUID) -> tuple[int, int]:
    """(all responses, completed responses)."""
    stmt = select(func.count(), func.count(Response.completed_at)).where(Response.survey_id == survey_id)
    total, completed = session.execute(stmt).one()
    return int(total), int(completed)


def build_snapshot(session: Session, *, survey: Survey) -> Snapshot:
    """Freeze the survey and every response so far, in import order."""
    stmt = select(Response).where(Response.survey_id == survey.id).order_by(Response.id)
    definition = survey_definition(survey)
    return Snapshot.model_validate({
        "survey": {"id": str(survey.id), **definition.model_dump(mode="json")},
        "responses": [
            {
                "respondent_id": r.respondent_id,
                # PostgreSQL answers in the session's time zone: the snapshot promises UTC
                "started_at": r.started_at.astimezone(UTC) if r.started_at is not None else None,
                "completed_at": r.completed_at.astimezone(UTC) if r.completed_at is not None else None,
                "answers": r.answers,
            }
            for r in session.scalars(stmt)
        ],
    })
