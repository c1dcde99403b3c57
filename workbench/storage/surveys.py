"""CRUD for surveys and their responses (keyword-only, session passed in, caller commits)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC
from typing import Any, NamedTuple, cast

from pydantic import TypeAdapter
from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from workbench.storage.models import Question, Response, Survey, utcnow
from workbench.surveys.schema import Question as QuestionDefinition
from workbench.surveys.schema import ResponseRecord, Snapshot, SurveyDefinition

# Question fields kept in `questions.config` rather than in columns of their own.
CONFIG_FIELDS = ("min", "max", "labels", "format", "required_if")


def _config(question: QuestionDefinition) -> dict[str, Any] | None:
    fields = question.model_dump(mode="json", include=set(CONFIG_FIELDS), exclude_none=True)
    return fields or None


def create_survey(session: Session, *, organization_id: uuid.UUID, definition: SurveyDefinition) -> Survey:
    """Store a validated definition as a survey with its questions (in order); flushed, not committed."""
    survey = Survey(organization_id=organization_id, title=definition.title, description=definition.description,
                    segments=list(definition.segments) or None)
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
        "segments": list(survey.segments or []),
    })


def existing_respondents(session: Session, *, survey_id: uuid.UUID) -> set[str]:
    stmt = select(Response.respondent_id).where(Response.survey_id == survey_id, Response.respondent_id.is_not(None))
    return set(session.scalars(stmt))


INSERT_CHUNK = 5_000  # responses per INSERT batch: bounds the parameter list held at once


def add_responses(
    session: Session, *, survey_id: uuid.UUID, records: Sequence[ResponseRecord],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert already validated records in import order, in chunks of bulk INSERTs; returns how many.

    Core `insert()` with a list of parameter sets (executemany / insertmanyvalues) rather than ORM objects: no
    identity map entry per row, about 3.5x faster on a large import. Nothing is committed here.

    Args:
        session: The session whose transaction the rows join.
        survey_id: The survey the responses answer.
        records: Validated records (`parse_responses`).
        progress: Called with the number of responses stored so far, after each chunk.

    Returns:
        How many responses were inserted.
    """
    created = utcnow()  # one import, one moment: also saves a default call per row
    table = cast(Table, Response.__table__)
    for start in range(0, len(records), INSERT_CHUNK):
        session.execute(insert(table), [
            {"survey_id": survey_id, "respondent_id": r.respondent_id, "started_at": r.started_at,
             "completed_at": r.completed_at, "answers": r.answers, "created_at": created}
            for r in records[start:start + INSERT_CHUNK]
        ])
        if progress is not None:
            progress(min(start + INSERT_CHUNK, len(records)))
    return len(records)


def create_survey_with_responses(
    session: Session, *, organization_id: uuid.UUID, definition: SurveyDefinition,
    records: Sequence[ResponseRecord], progress: Callable[[int], None] | None = None,
) -> Survey:
    """Store a survey and its (validated) responses in the caller's transaction: one atomic import.

    Flushed, not committed; a rollback leaves neither the survey nor any response behind.
    """
    survey = create_survey(session, organization_id=organization_id, definition=definition)
    if records:
        add_responses(session, survey_id=survey.id, records=records, progress=progress)
    return survey


def count_responses(session: Session, *, survey_id: uuid.UUID) -> tuple[int, int]:
    """(all responses, completed responses)."""
    stmt = select(func.count(), func.count(Response.completed_at)).where(Response.survey_id == survey_id)
    total, completed = session.execute(stmt).one()
    return int(total), int(completed)


RECORDS: TypeAdapter[list[ResponseRecord]] = TypeAdapter(list[ResponseRecord])  # validated records, a slice
SNAPSHOT_ROWS_AT_ONCE = 10_000


def _record_slices(session: Session, survey: Survey) -> Iterator[list[ResponseRecord]]:
    """The survey's responses as validated records, in import order, a slice at a time.

    Columns, not ORM objects, and a server-side cursor on PostgreSQL: the rows of 200,000 responses as mapped
    instances, or as dicts beside the records, cost more than the snapshot."""
    stmt = (select(Response.respondent_id, Response.started_at, Response.completed_at, Response.answers)
            .where(Response.survey_id == survey.id).order_by(Response.id)
            .execution_options(yield_per=SNAPSHOT_ROWS_AT_ONCE))
    for rows in session.execute(stmt).partitions():
        yield RECORDS.validate_python([
            {
                "respondent_id": r.respondent_id,
                # PostgreSQL answers in the session's time zone: the snapshot promises UTC
                "started_at": r.started_at.astimezone(UTC) if r.started_at is not None else None,
                "completed_at": r.completed_at.astimezone(UTC) if r.completed_at is not None else None,
                "answers": r.answers,
            }
            for r in rows
        ])


def _snapshot_survey(survey: Survey) -> dict[str, Any]:
    return {"id": str(survey.id), **survey_definition(survey).model_dump(mode="json")}


def build_snapshot(session: Session, *, survey: Survey) -> Snapshot:
    """Freeze the survey and every response so far, in import order."""
    records = [record for part in _record_slices(session, survey) for record in part]
    # The records are validated already: the model takes them as they are.
    return Snapshot.model_validate({"survey": _snapshot_survey(survey), "responses": records})


def snapshot_document(
    session: Session, *, survey: Survey, keep: Callable[[ResponseRecord], bool] | None = None
) -> SnapshotJson:
    """The snapshot of the survey (its responses `keep` accepts, all by default) as the JSON that
    `build_snapshot(...).model_dump_json()` gives.

    Built a slice of responses at a time: a worker preparing a report of 200,000 responses never holds them all as
    objects, only their JSON text."""
    slices = _record_slices(session, survey)
    if keep is not None:
        slices = ([r for r in records if keep(r)] for records in slices)
    return snapshot_json(_snapshot_survey(survey), slices)


class SnapshotJson(NamedTuple):
    """A snapshot's JSON document (`Snapshot.model_dump_json()`), its number of responses, and where each slice
    of responses it was written from lies in it: `data[start:end]` is that slice's items without the list's
    brackets, so a reader can parse the responses a slice at a time instead of all at once."""

    data: bytes
    response_count: int
    spans: tuple[tuple[int, int], ...]


def snapshot_json(survey: dict[str, Any], slices: Iterable[list[ResponseRecord]]) -> SnapshotJson:
    """`Snapshot.model_dump_json()` of `survey` and the records of `slices` (validated): written a slice at a time,
    so only the JSON text of the records already written is held."""
    head = Snapshot.model_validate({"survey": survey, "responses": []}).model_dump_json().encode()
    if not head.endswith(b"[]}"):
        raise AssertionError("the snapshot's JSON no longer ends with its responses")
    pieces: list[bytes] = []
    spans: list[tuple[int, int]] = []
    count = 0
    offset = len(head) - 2
    for records in slices:
        if records:
            piece = RECORDS.dump_json(records)[1:-1]  # the list's items, without its brackets
            offset += 1 if pieces else 0  # the comma between two slices
            pieces.append(piece)
            spans.append((offset, offset + len(piece)))
            offset += len(piece)
            count += len(records)
        del records  # not held while the next slice is validated
    return SnapshotJson(b"".join([head[:-2], b",".join(pieces), b"]}"]), count, tuple(spans))
