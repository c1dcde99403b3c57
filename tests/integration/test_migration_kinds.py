"""Migration 0004 on SQLite and PostgreSQL: a `rating` survey stored at 0003 reads as a 1-5 scale afterwards,
start times become optional, old snapshots still load, and the downgrade works while the data fits 0003."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tests.conftest import POSTGRES_ADMIN_URL
from workbench.storage import surveys as store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.migrate import downgrade, upgrade
from workbench.storage.models import DEFAULT_ORGANIZATION_ID, Response
from workbench.surveys.schema import ResponseRecord, Snapshot, SurveyDefinition

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
OLD_QUESTIONS = [
    {"key": "nps", "type": "nps", "text": "Recommend?", "options": None, "required": True},
    {"key": "satisfaction", "type": "rating", "text": "Satisfied?", "options": None, "required": False},
    {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro"], "required": False},
]

metadata = sa.MetaData()
surveys = sa.Table("surveys", metadata, sa.Column("id", sa.Uuid), sa.Column("organization_id", sa.Uuid),
                   sa.Column("title", sa.String), sa.Column("description", sa.Text),
                   sa.Column("created_at", sa.DateTime(timezone=True)))
questions = sa.Table("questions", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("survey_id", sa.Uuid), sa.Column("position", sa.Integer), sa.Column("key", sa.String),
                     sa.Column("type", sa.String), sa.Column("text", sa.Text), sa.Column("options", JSONType),
                     sa.Column("required", sa.Boolean))
responses = sa.Table("responses", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("survey_id", sa.Uuid), sa.Column("respondent_id", sa.String),
                     sa.Column("started_at", sa.DateTime(timezone=True)),
                     sa.Column("completed_at", sa.DateTime(timezone=True)), sa.Column("answers", JSONType),
                     sa.Column("created_at", sa.DateTime(timezone=True)))
reports = sa.Table("generated_reports", metadata, sa.Column("id", sa.Uuid), sa.Column("organization_id", sa.Uuid),
                   sa.Column("survey_id", sa.Uuid), sa.Column("status", sa.String),
                   sa.Column("component_names", JSONType), sa.Column("parameters", JSONType),
                   sa.Column("created_at", sa.DateTime(timezone=True)))
snapshots = sa.Table("report_snapshots", metadata, sa.Column("report_id", sa.Uuid),
                     sa.Column("response_count", sa.Integer), sa.Column("data", JSONType),
                     sa.Column("created_at", sa.DateTime(timezone=True)))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url_at_0003(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database migrated to 0003 (its own PostgreSQL database: the shared one is at head)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        upgrade(url, "0003")
        yield url
        return
    name = f"workbench_mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url, "0003")
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _store_old_survey(url: str) -> uuid.UUID:
    survey_id, report_id = uuid.uuid4(), uuid.uuid4()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(surveys.insert().values(id=survey_id, organization_id=DEFAULT_ORGANIZATION_ID, title="Old",
                                             description="", created_at=T0))
        conn.execute(questions.insert(), [{"survey_id": survey_id, "position": i, **q}
                                          for i, q in enumerate(OLD_QUESTIONS)])
        conn.execute(responses.insert(), [
            {"survey_id": survey_id, "respondent_id": "r1", "started_at": T0, "completed_at": T0 + timedelta(minutes=3),
             "answers": {"nps": 9, "satisfaction": 4, "plan": "Pro"}, "created_at": T0},
            {"survey_id": survey_id, "respondent_id": "r2", "started_at": T0, "completed_at": None,
             "answers": {"nps": 2, "satisfaction": 1}, "created_at": T0},
        ])
        conn.execute(reports.insert().values(id=report_id, organization_id=DEFAULT_ORGANIZATION_ID,
                                             survey_id=survey_id, status="completed", component_names=["basic_stats"],
                                             parameters={}, created_at=T0))
        old_snapshot = {"survey": {"id": str(survey_id), "title": "Old", "description": "", "questions": OLD_QUESTIONS},
                        "responses": [{"respondent_id": "r1", "started_at": "2026-03-02T07:00:00Z",
                                       "completed_at": None, "answers": {"satisfaction": 4}}]}
        conn.execute(snapshots.insert().values(report_id=report_id, response_count=1, data=old_snapshot,
                                               created_at=T0))
    engine.dispose()
    return survey_id


def test_a_rating_survey_from_0003_reads_as_a_scale_and_can_go_back(url_at_0003: str) -> None:
    survey_id = _store_old_survey(url_at_0003)
    upgrade(url_at_0003)

    engine = make_engine(url_at_0003)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as session:
        survey = store.get_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id)
        assert survey is not None
        stored = {q.key: (q.type, q.config) for q in survey.questions}
        assert stored == {"nps": ("nps", None), "satisfaction": ("scale", {"min": 1, "max": 5}),
                          "plan": ("single_choice", None)}
        definition = store.survey_definition(survey)
        satisfaction = definition.question("satisfaction")
        assert satisfaction is not None and (satisfaction.type, satisfaction.min, satisfaction.max) == ("scale", 1, 5)
        snapshot = store.build_snapshot(session, survey=survey)
        assert [r.answers for r in snapshot.responses] == [{"nps": 9, "satisfaction": 4, "plan": "Pro"},
                                                           {"nps": 2, "satisfaction": 1}]
        # a snapshot stored before the upgrade, with `type: rating`, still loads
        [old] = session.execute(sa.select(snapshots.c.data)).scalars()
        assert Snapshot.model_validate(old).survey.questions[1].type == "scale"
        # start times are optional now
        store.add_responses(session, survey_id=survey_id, records=[
            ResponseRecord(respondent_id="r3", completed_at=T0, answers={"nps": 10})])
    with sessions() as session:
        untimed = session.scalars(sa.select(Response).where(Response.respondent_id == "r3")).one()
        assert untimed.started_at is None and untimed.completed_at == T0

    # the downgrade refuses what 0003 cannot hold, without changing anything ...
    with pytest.raises(RuntimeError, match="1 response"):
        downgrade(url_at_0003, "0003")
    with transaction(sessions) as session:
        session.execute(sa.delete(Response).where(Response.respondent_id == "r3"))
    # ... and otherwise turns the 1-5 scale back into a rating
    downgrade(url_at_0003, "0003")
    engine.dispose()
    engine = make_engine(url_at_0003)
    with engine.connect() as conn:
        types = {key: qtype for key, qtype in conn.execute(sa.select(questions.c.key, questions.c.type))}
        assert types["satisfaction"] == "rating"
        assert "config" not in {c["name"] for c in sa.inspect(conn).get_columns("questions")}
        assert not {c["name"]: c for c in sa.inspect(conn).get_columns("responses")}["started_at"]["nullable"]
    engine.dispose()
    upgrade(url_at_0003)


def test_the_downgrade_refuses_kinds_0003_does_not_know(url_at_0003: str) -> None:
    upgrade(url_at_0003)
    engine = make_engine(url_at_0003)
    with transaction(make_sessionmaker(engine)) as session:
        store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=SurveyDefinition(
            title="New", questions=[{"key": "ease", "type": "scale", "text": "Ease", "min": 1, "max": 7},
                                    {"key": "agree", "type": "ordinal", "text": "Agree", "options": ["No", "Yes"]}]))
    engine.dispose()
    with pytest.raises(RuntimeError, match=r"2 question\(s\) use kinds or fields 0003 cannot hold \(ordinal, scale\)"):
        downgrade(url_at_0003, "0003")
    upgrade(url_at_0003)  # still at head: nothing was changed
