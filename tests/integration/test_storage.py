"""Storage on SQLite and PostgreSQL: migrations, surveys and responses, snapshots, components, pipeline steps."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workbench.reports import steps as pipeline
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.migrate import downgrade, upgrade
from workbench.storage.models import (
    DEFAULT_ORGANIZATION_ID,
    ComponentStatus,
    Organization,
    Report,
    ReportComponent,
    ReportStatus,
    Response,
    Survey,
)
from workbench.surveys.schema import ResponseRecord, SurveyDefinition

ORG = DEFAULT_ORGANIZATION_ID
T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)

DEFINITION = SurveyDefinition.model_validate({
    "title": "Acme feedback",
    "description": "Quarterly",
    "questions": [
        {"key": "nps", "type": "nps", "text": "Recommend?", "required": True},
        {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro", "Enterprise"]},
        {"key": "features", "type": "multi_choice", "text": "Features?", "options": ["Alerts", "API"]},
        {"key": "improve", "type": "text", "text": "Improve?"},
        {"key": "satisfaction", "type": "rating", "text": "Satisfied?"},
    ],
})


def rec(
    rid: str | None, nps: int = 8, *, started: datetime = T0, completed: bool = True, **answers: Any
) -> ResponseRecord:
    return ResponseRecord(
        respondent_id=rid, started_at=started, completed_at=started + timedelta(minutes=4) if completed else None,
        answers={"nps": nps, **answers},
    )


def new_survey(sessions: sessionmaker[Session], records: list[ResponseRecord] | None = None) -> uuid.UUID:
    with transaction(sessions) as session:
        survey = survey_store.create_survey(session, organization_id=ORG, definition=DEFINITION)
        if records:
            survey_store.add_responses(session, survey_id=survey.id, records=records)
        return survey.id


def new_report(sessions: sessionmaker[Session], survey_id: uuid.UUID, names: list[str] | None = None) -> uuid.UUID:
    with transaction(sessions) as session:
        report = report_store.create_report(
            session, organization_id=ORG, survey_id=survey_id, component_names=names or ["basic_stats", "themes"]
        )
        return report.id


def test_migrations_create_the_default_organization(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        orgs = list(session.scalars(select(Organization)))
    assert [o.id for o in orgs] == [DEFAULT_ORGANIZATION_ID]
    assert orgs[0].slug and orgs[0].name
    assert orgs[0].created_at.tzinfo is not None


def test_create_survey_round_trip(sessions: sessionmaker[Session]) -> None:
    survey_id = new_survey(sessions)
    with sessions() as session:
        survey = survey_store.get_survey(session, organization_id=ORG, survey_id=survey_id)
        assert survey is not None
        assert (survey.title, survey.description) == ("Acme feedback", "Quarterly")
        assert [q.key for q in survey.questions] == ["nps", "plan", "features", "improve", "satisfaction"]
        assert [q.position for q in survey.questions] == [0, 1, 2, 3, 4]
        assert survey.questions[1].options == ["Free", "Pro", "Enterprise"]
        assert survey.questions[0].options is None and survey.questions[0].required is True
        assert survey_store.survey_definition(survey) == DEFINITION
        assert survey.created_at.tzinfo is not None
        # scoped by organisation
        assert survey_store.get_survey(session, organization_id=uuid.uuid4(), survey_id=survey_id) is None
        assert survey_store.get_survey(session, organization_id=ORG, survey_id=uuid.uuid4()) is None
        assert [s.id for s in survey_store.list_surveys(session, organization_id=ORG)] == [survey_id]


def test_add_and_count_responses(sessions: sessionmaker[Session]) -> None:
    survey_id = new_survey(sessions)
    other_id = new_survey(sessions, [rec("x")])
    with transaction(sessions) as session:
        assert survey_store.count_responses(session, survey_id=survey_id) == (0, 0)
        added = survey_store.add_responses(session, survey_id=survey_id, records=[
            rec("a"), rec("b", completed=False), rec(None), rec(None, completed=False),
        ])
        assert added == 4
    with sessions() as session:
        assert survey_store.count_responses(session, survey_id=survey_id) == (4, 2)
        assert survey_store.count_responses(session, survey_id=other_id) == (1, 1)
        assert survey_store.existing_respondents(session, survey_id=survey_id) == {"a", "b"}


def test_respondent_is_unique_per_survey_in_the_database(sessions: sessionmaker[Session]) -> None:
    first = new_survey(sessions, [rec("dup")])
    second = new_survey(sessions, [rec("dup")])  # the same respondent id in another survey is fine
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        survey_store.add_responses(session, survey_id=first, records=[rec("dup")])
    with sessions() as session:
        assert survey_store.count_responses(session, survey_id=first) == (1, 1)
        assert survey_store.count_responses(session, survey_id=second) == (1, 1)


def test_snapshot_keeps_import_order_and_utc_instants(sessions: sessionmaker[Session]) -> None:
    plus_two = timezone(timedelta(hours=2))
    records = [
        rec("z", 1, features=["API", "Alerts"], improve="Zürich 🚀"),
        rec("a", 9, started=datetime(2026, 3, 2, 9, 30, tzinfo=plus_two)),
        rec(None, 5, completed=False, plan="Pro"),
        rec("m", 0, started=datetime(2026, 1, 1, 23, 0, tzinfo=timezone(timedelta(hours=-5)))),
    ]
    survey_id = new_survey(sessions, records[:2])
    with transaction(sessions) as session:  # a second import comes after the first
        survey_store.add_responses(session, survey_id=survey_id, records=records[2:])
    with sessions() as session:
        survey = survey_store.get_survey(session, organization_id=ORG, survey_id=survey_id)
        assert survey is not None
        snapshot = survey_store.build_snapshot(session, survey=survey)

    assert snapshot.survey.id == str(survey_id)
    assert [q.key for q in snapshot.survey.questions] == [q.key for q in DEFINITION.questions]
    assert [r.respondent_id for r in snapshot.responses] == ["z", "a", None, "m"]
    assert [r.answers["nps"] for r in snapshot.responses] == [1, 9, 5, 0]
    assert snapshot.responses[0].answers["features"] == ["API", "Alerts"]
    assert snapshot.responses[0].answers["improve"] == "Zürich 🚀"
    assert snapshot.responses[2].completed_at is None
    for stored, given in zip(snapshot.responses, records, strict=True):
        assert stored.started_at.utcoffset() == timedelta(0)
        assert stored.started_at == given.started_at  # the same instant
        if given.completed_at is not None:
            assert stored.completed_at is not None and stored.completed_at.utcoffset() == timedelta(0)
            assert stored.completed_at == given.completed_at
    assert snapshot.responses[1].started_at == datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    assert snapshot.responses[3].started_at == datetime(2026, 1, 2, 4, 0, tzinfo=UTC)


@pytest.fixture
def foreign_tz_sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions whose PostgreSQL connection speaks another time zone (as a server configured so would)."""
    kwargs: dict[str, Any] = {}
    if database_url.startswith("postgresql"):
        kwargs["connect_args"] = {"options": "-c TimeZone=Asia/Kolkata"}
    engine = make_engine(database_url, **kwargs)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_snapshot_is_utc_whatever_the_connection_time_zone(foreign_tz_sessions: sessionmaker[Session]) -> None:
    survey_id = new_survey(foreign_tz_sessions, [rec("a", started=datetime(2026, 1, 1, 23, 0, tzinfo=UTC))])
    with foreign_tz_sessions() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        [response] = survey_store.build_snapshot(session, survey=survey).responses
    assert response.started_at.utcoffset() == timedelta(0)
    assert response.started_at == datetime(2026, 1, 1, 23, 0, tzinfo=UTC)
    assert response.model_dump(mode="json")["started_at"] == "2026-01-01T23:00:00Z"


def test_create_report_makes_one_pending_row_per_component(sessions: sessionmaker[Session]) -> None:
    survey_id = new_survey(sessions, [rec("a")])
    report_id = new_report(sessions, survey_id, ["basic_stats", "sentiment", "themes"])
    with sessions() as session:
        report = report_store.load_report(session, report_id=report_id)
        assert report is not None
        assert report.status == ReportStatus.QUEUED and report.error is None
        assert report.component_names == ["basic_stats", "sentiment", "themes"]
        assert [(c.component_type, c.position, c.status, c.attempts) for c in report.components] == [
            ("basic_stats", 0, "pending", 0), ("sentiment", 1, "pending", 0), ("themes", 2, "pending", 0),
        ]
        assert report_store.get_report(session, report_id=report_id, organization_id=uuid.uuid4()) is None
        assert report_store.load_report(session, report_id=uuid.uuid4()) is None
        assert [r.id for r in report_store.list_reports(session, organization_id=ORG, survey_id=survey_id)] == [
            report_id]


def test_report_lists_leave_the_components_and_their_results_unread(sessions: sessionmaker[Session]) -> None:
    from workbench.storage import batches as batch_store
    from workbench.storage import schedules as schedule_store

    survey_id = new_survey(sessions, [rec("a")])
    report_id = new_report(sessions, survey_id, ["basic_stats", "sentiment"])
    batch_id, schedule_id = uuid.uuid4(), uuid.uuid4()
    with transaction(sessions) as session:
        report = session.get(Report, report_id)
        assert report is not None
        report.batch_id, report.batch_index, report.schedule_id = batch_id, 0, schedule_id
    queries: dict[str, Callable[[Session], list[Any]]] = {
        "list": lambda s: report_store.list_reports(s, organization_id=ORG, survey_id=survey_id),
        "latest": lambda s: [schedule_store.latest_report(s, organization_id=ORG, survey_id=survey_id)],
        "batch": lambda s: batch_store.batch_reports(s, batch_id=batch_id),
        "schedule": lambda s: schedule_store.schedule_reports(s, schedule_id=schedule_id),
    }
    for query, run in queries.items():
        with sessions() as session:  # one each: a report already in the session would keep what it had loaded
            reports = run(session)
            assert [r.id for r in reports if r is not None] == [report_id], query
            assert "components" in inspect(reports[0]).unloaded, query  # no component row (nor its result) read
            # still there if asked for
            assert [c.component_type for c in reports[0].components] == ["basic_stats", "sentiment"], query


def test_save_snapshot_is_idempotent(sessions: sessionmaker[Session]) -> None:
    survey_id = new_survey(sessions, [rec("a"), rec("b")])
    report_id = new_report(sessions, survey_id)
    with transaction(sessions) as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        first = survey_store.build_snapshot(session, survey=survey)
        report_store.save_snapshot(session, report_id=report_id, snapshot=first)
    with transaction(sessions) as session:  # responses arrive after the snapshot was frozen
        survey_store.add_responses(session, survey_id=survey_id, records=[rec("c")])
    with transaction(sessions) as session:  # a retried step saves again: the first snapshot stays
        survey = session.get(Survey, survey_id)
        assert survey is not None
        second = survey_store.build_snapshot(session, survey=survey)
        assert len(second.responses) == 3
        report_store.save_snapshot(session, report_id=report_id, snapshot=second)
    with sessions() as session:
        assert report_store.snapshot_response_count(session, report_id=report_id) == 2
        # stored as a JSON document (its text goes in as it is), not as a JSON string holding one
        table = report_store.ReportSnapshot
        stored = session.scalar(select(table.data).where(table.report_id == report_id))
        assert stored == first.model_dump(mode="json")
        loaded = report_store.load_snapshot(session, report_id=report_id)
        assert loaded == first
        assert report_store.load_snapshot(session, report_id=uuid.uuid4()) is None


def test_start_component_twice_keeps_one_row(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]))
    with transaction(sessions) as session:
        assert report_store.start_component(session, report_id=report_id, name="themes", cells_total=7) == 1
        report_store.set_component_progress(session, report_id=report_id, name="themes", cells_done=4)
    with transaction(sessions) as session:
        assert report_store.start_component(session, report_id=report_id, name="themes", cells_total=7) == 2
    with sessions() as session:
        rows = list(session.scalars(select(ReportComponent).where(ReportComponent.report_id == report_id,
                                                                  ReportComponent.component_type == "themes")))
        assert len(rows) == 1
        row = rows[0]
        assert (row.status, row.attempts, row.cells_done, row.cells_total) == ("running", 2, 0, 7)
        assert row.started_at is not None and row.started_at.tzinfo is not None
        total = session.scalar(select(func.count()).select_from(ReportComponent)
                               .where(ReportComponent.report_id == report_id))
        assert total == 2


def test_start_component_not_in_the_report_adds_one_row(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]), ["basic_stats"])
    for expected in (1, 2):
        with transaction(sessions) as session:
            assert report_store.start_component(session, report_id=report_id, name="sentiment",
                                                cells_total=3) == expected
    with sessions() as session:
        report = report_store.load_report(session, report_id=report_id)
        assert report is not None
        assert sorted(c.component_type for c in report.components) == ["basic_stats", "sentiment"]


def test_finish_component_replaces_the_earlier_attempt(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]))
    with transaction(sessions) as session:
        report_store.start_component(session, report_id=report_id, name="basic_stats", cells_total=5)
        report_store.finish_component(
            session, report_id=report_id, name="basic_stats", status=ComponentStatus.FAILED, result=None,
            html="<p>failed</p>", notebook='{"cells": []}', error={"message": "boom", "ename": "KernelDied"},
            cells_done=2,
        )
    with transaction(sessions) as session:
        report_store.start_component(session, report_id=report_id, name="basic_stats", cells_total=5)
        report_store.finish_component(
            session, report_id=report_id, name="basic_stats", status=ComponentStatus.COMPLETED,
            result={"response_count": 1}, html="<p>ok</p>", notebook='{"nbformat": 4}', error=None, cells_done=5,
        )
    with sessions() as session:
        row = report_store.get_component(session, report_id=report_id, name="basic_stats", with_documents=True)
        assert row is not None
        assert (row.status, row.result, row.error, row.cells_done, row.attempts) == (
            "completed", {"response_count": 1}, None, 5, 2)
        assert (row.html, row.notebook) == ("<p>ok</p>", '{"nbformat": 4}')
        assert row.completed_at is not None and row.completed_at >= row.started_at
        assert report_store.get_component(session, report_id=report_id, name="nope") is None
        docs = report_store.component_documents(session, report_id=report_id)
        assert [(d.component_type, d.html) for d in docs] == [("basic_stats", "<p>ok</p>"), ("themes", None)]


def test_json_results_survive_the_round_trip(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]))
    result = {
        "response_count": 2000,
        "completion_rate": 0.8125,
        "nps": {"score": -12.5, "promoters": 310, "buckets": [0, 1, 2, {"deep": [None, True, False]}]},
        "questions": [{"key": "improve", "top": ["Preis", "Größe", "日本語", "emoji 🎉", 'quote " and \\ slash']}],
        "empty": {}, "nothing": None, "big": 2**53,
    }
    error = {"message": "ValueError: ünïcode", "traceback": ["line 1", "line 2"]}
    with transaction(sessions) as session:
        report_store.finish_component(session, report_id=report_id, name="basic_stats",
                                      status=ComponentStatus.COMPLETED, result=result, html=None, notebook=None,
                                      error=None)
        report_store.finish_component(session, report_id=report_id, name="themes", status=ComponentStatus.FAILED,
                                      result=None, html=None, notebook=None, error=error)
    with sessions() as session:
        basic = report_store.get_component(session, report_id=report_id, name="basic_stats")
        themes = report_store.get_component(session, report_id=report_id, name="themes")
        assert basic is not None and themes is not None
        assert basic.result == result
        assert themes.error == error and themes.result is None


def test_set_report_status_stamps_times(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]))
    with transaction(sessions) as session:
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.RUNNING)
    with sessions() as session:
        report = session.get(Report, report_id)
        assert report is not None and report.status == "running"
        assert report.started_at is not None and report.completed_at is None
    with transaction(sessions) as session:
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.FAILED, error="down")
    with sessions() as session:
        report = session.get(Report, report_id)
        assert report is not None and (report.status, report.error) == ("failed", "down")
        assert report.completed_at is not None and report.completed_at.tzinfo is not None


def test_prepare_report_freezes_the_snapshot_and_marks_running(sessions: sessionmaker[Session]) -> None:
    survey_id = new_survey(sessions, [rec("a"), rec("b", completed=False)])
    report_id = new_report(sessions, survey_id)
    assert pipeline.prepare_report(sessions, report_id) == 2
    with transaction(sessions) as session:
        survey_store.add_responses(session, survey_id=survey_id, records=[rec("c")])
    assert pipeline.prepare_report(sessions, report_id) == 2  # a retry reuses the frozen input
    with sessions() as session:
        report = session.get(Report, report_id)
        assert report is not None and report.status == "running" and report.started_at is not None


def test_prepare_report_without_responses_is_invalid(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions))
    with pytest.raises(pipeline.InvalidReport, match="no responses"):
        pipeline.prepare_report(sessions, report_id)
    with sessions() as session:
        report = session.get(Report, report_id)
        assert report is not None and report.status == "queued"  # nothing of the failed step was kept
        assert report_store.load_snapshot(session, report_id=report_id) is None


def test_prepare_report_unknown_report_or_component(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(pipeline.ReportNotFound):
        pipeline.prepare_report(sessions, uuid.uuid4())
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]), ["basic_stats", "astrology"])
    with pytest.raises(pipeline.InvalidReport, match="astrology"):
        pipeline.prepare_report(sessions, report_id)


def _finish(sessions: sessionmaker[Session], report_id: uuid.UUID, name: str, ok: bool) -> None:
    with transaction(sessions) as session:
        report_store.finish_component(
            session, report_id=report_id, name=name,
            status=ComponentStatus.COMPLETED if ok else ComponentStatus.FAILED,
            result={"ok": True} if ok else None, html=None, notebook=None,
            error=None if ok else {"message": f"{name} blew up"},
        )


def _report(sessions: sessionmaker[Session], report_id: uuid.UUID) -> Report:
    with sessions() as session:
        report = session.get(Report, report_id)
        assert report is not None
        return report


def test_finish_report_completed(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]))
    _finish(sessions, report_id, "basic_stats", True)
    _finish(sessions, report_id, "themes", True)
    assert pipeline.finish_report(sessions, report_id) is ReportStatus.COMPLETED
    report = _report(sessions, report_id)
    assert (report.status, report.error) == ("completed", None)
    assert report.completed_at is not None


def test_finish_report_partial_names_the_failed_component(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]), ["basic_stats", "sentiment", "themes"])
    _finish(sessions, report_id, "basic_stats", True)
    _finish(sessions, report_id, "sentiment", True)
    _finish(sessions, report_id, "themes", False)
    assert pipeline.finish_report(sessions, report_id) is ReportStatus.PARTIAL
    report = _report(sessions, report_id)
    assert report.status == "partial"
    assert report.error is not None
    assert "themes failed: themes blew up" in report.error
    assert "basic_stats" not in report.error and "sentiment" not in report.error


def test_finish_report_closes_an_unfinished_component_so_rows_agree(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]))
    _finish(sessions, report_id, "basic_stats", True)
    with transaction(sessions) as session:  # an attempt started, then the workflow gave up (outage too long)
        report_store.start_component(session, report_id=report_id, name="themes", cells_total=5)
    status = pipeline.finish_report(sessions, report_id, {"themes": "activity ScheduleToClose timeout"})
    assert status is ReportStatus.PARTIAL
    report = _report(sessions, report_id)
    assert "themes failed: activity ScheduleToClose timeout" in (report.error or "")
    themes = next(c for c in report.components if c.component_type == "themes")
    assert themes.status == ComponentStatus.FAILED and themes.completed_at is not None


def test_fail_report_skips_the_components_it_never_ran(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]))
    pipeline.fail_report(sessions, report_id, "the survey has no responses")
    report = _report(sessions, report_id)
    assert report.status == ReportStatus.FAILED
    assert {c.status for c in report.components} == {ComponentStatus.SKIPPED}
    assert all("not run: the survey has no responses" in (c.error or {})["message"] for c in report.components)


def test_finish_report_failed(sessions: sessionmaker[Session]) -> None:
    report_id = new_report(sessions, new_survey(sessions, [rec("a")]))
    _finish(sessions, report_id, "basic_stats", False)
    _finish(sessions, report_id, "themes", False)
    assert pipeline.finish_report(sessions, report_id) is ReportStatus.FAILED
    report = _report(sessions, report_id)
    assert report.status == "failed"
    assert report.error is not None and "basic_stats" in report.error and "themes" in report.error
    with pytest.raises(pipeline.ReportNotFound):
        pipeline.finish_report(sessions, uuid.uuid4())


def test_downgrade_to_base_then_upgrade(database_url: str) -> None:
    downgrade(database_url, "base")
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(database_url)
        tables = set(inspect(engine).get_table_names())
        assert {"organizations", "surveys", "questions", "responses", "generated_reports", "report_snapshots",
                "report_components"} <= tables
        sessions = make_sessionmaker(engine)
        with sessions() as session:
            assert [o.id for o in session.scalars(select(Organization))] == [DEFAULT_ORGANIZATION_ID]
        survey_id = new_survey(sessions, [rec("a")])
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Response)
                                  .where(Response.survey_id == survey_id)) == 1
    finally:
        engine.dispose()


def test_a_reports_version_has_the_etag_of_the_loaded_report_and_moves_with_it(
    sessions: sessionmaker[Session],
) -> None:
    """The hot read routes answer 304 and pick cached bodies by `report_version`'s ETag, and file bodies under
    `report_etag` of the report they loaded: both must agree, on both databases, or every read misses."""
    report_id = new_report(sessions, new_survey(sessions), ["basic_stats", "sentiment"])
    seen = set()
    for step in range(4):
        with transaction(sessions) as session:
            if step == 1:
                report_store.start_component(session, report_id=report_id, name="basic_stats", cells_total=3)
            elif step == 2:
                report_store.finish_component(session, report_id=report_id, name="basic_stats",
                                              status=ComponentStatus.COMPLETED, result={"n": 1}, html="<p>1</p>",
                                              notebook="{}", error=None, cells_done=3)
            elif step == 3:
                report_store.set_report_status(session, report_id=report_id, status=ReportStatus.FAILED,
                                               error="sentiment failed")
        with sessions() as session:
            version = report_store.report_version(session, report_id=report_id)
            report = report_store.load_report(session, report_id=report_id, with_results=False)
            assert version is not None and report is not None
            assert version.etag == report_store.report_etag(report)
            assert (version.organization_id, version.status) == (ORG, report.status)
            seen.add(version.etag)
    assert len(seen) == 4  # every step moved it
    with sessions() as session:
        assert report_store.report_version(session, report_id=uuid.uuid4()) is None


def finished_basic_stats(sessions: sessionmaker[Session], notebook: str) -> uuid.UUID:
    """A report whose one component finished with result {"n": 7}, HTML "<p>7</p>" and `notebook`."""
    report_id = new_report(sessions, new_survey(sessions), ["basic_stats"])
    with transaction(sessions) as session:
        report_store.finish_component(session, report_id=report_id, name="basic_stats",
                                      status=ComponentStatus.COMPLETED, result={"n": 7}, html="<p>7</p>",
                                      notebook=notebook, error=None)
    return report_id


def test_a_report_loaded_without_results_reads_them_when_asked(sessions: sessionmaker[Session]) -> None:
    report_id = finished_basic_stats(sessions, "{}")
    with sessions() as session:
        report = report_store.get_report(session, organization_id=ORG, report_id=report_id, with_results=False)
        assert report is not None
        assert "result" in inspect(report.components[0]).unloaded
        result = report.components[0].result  # loaded when read
        assert "result" not in inspect(report.components[0]).unloaded
        assert result == {"n": 7}


def test_component_documents_leave_the_notebooks_unloaded_when_asked(sessions: sessionmaker[Session]) -> None:
    report_id = finished_basic_stats(sessions, '{"cells": []}')
    with sessions() as session:
        [row] = report_store.component_documents(session, report_id=report_id, with_notebooks=False)
        assert row.html == "<p>7</p>" and row.result == {"n": 7}
        assert "notebook" in inspect(row).unloaded
    with sessions() as session:
        [row] = report_store.component_documents(session, report_id=report_id)
        assert "notebook" not in inspect(row).unloaded and row.notebook == '{"cells": []}'


def test_counting_a_snapshot_never_reads_its_document(sessions: sessionmaker[Session]) -> None:
    """The count is asked before every component (admission by memory) and by every prepare: loading the stored
    document there held a copy of a large survey per running component."""
    from sqlalchemy import event

    report_id = new_report(sessions, new_survey(sessions, [rec("a"), rec("b")]))
    with transaction(sessions) as session:
        survey = session.get(Survey, survey_id := session.get(Report, report_id).survey_id)
        assert survey is not None and survey_id
        report_store.save_snapshot(session, report_id=report_id, snapshot=survey_store.build_snapshot(
            session, survey=survey))
    statements: list[str] = []
    engine = sessions.kw["bind"]

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        with transaction(sessions) as session:
            assert report_store.snapshot_response_count(session, report_id=report_id) == 2
            report_store.save_snapshot(session, report_id=report_id, snapshot=survey_store.build_snapshot(
                session, survey=survey_store.get_survey(session, organization_id=survey.organization_id,
                                                        survey_id=survey_id)))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    reads = [s for s in statements if "report_snapshots" in s]
    assert reads and not [s for s in reads if "report_snapshots.data" in s]


@pytest.mark.parametrize("rows_at_once", [2, 10_000])
def test_the_snapshot_document_is_the_snapshots_json(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
                                                     rows_at_once: int) -> None:
    """A report's snapshot is written a slice of responses at a time, byte for byte the JSON of the whole
    snapshot (its hash is the provenance's input hash), with or without a segment, and none at all."""
    monkeypatch.setattr(survey_store, "SNAPSHOT_ROWS_AT_ONCE", rows_at_once)
    offset = timezone(timedelta(hours=5, minutes=30))
    records = [rec("a", comment='x</script> "q" \\u2028 👍🏽'), rec(None, 3, completed=False, plan="Pro"),
               rec("c", 10, started=datetime(2026, 3, 2, 9, 0, tzinfo=offset), plan="Free"),
               rec("d", 0, plan="Pro", extra={"deep": [1, 2.5, None]}), rec("e", 7, plan="Pro")]
    survey_id = new_survey(sessions, records)
    with sessions() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        whole = survey_store.build_snapshot(session, survey=survey)
        document, count, spans = survey_store.snapshot_document(session, survey=survey)
        assert (document, count) == (whole.model_dump_json().encode(), 5)
        # Each slice's responses lie where their span says, in order: parsed one slice at a time, they are all.
        assert len(spans) == (3 if rows_at_once == 2 else 1)
        by_slice = [r for start, end in spans for r in json.loads(b"[" + document[start:end] + b"]")]
        assert by_slice == json.loads(document)["responses"]
        keep = pipeline.segment_keep({"question": "plan", "value": "Pro"})
        document, count, spans = survey_store.snapshot_document(session, survey=survey, keep=keep)
        expected = pipeline.segment_snapshot(whole, {"question": "plan", "value": "Pro"})
        assert (document, count) == (expected.model_dump_json().encode(), 3)
        assert [r for start, end in spans for r in json.loads(b"[" + document[start:end] + b"]")] \
            == json.loads(document)["responses"]
        document, count, spans = survey_store.snapshot_document(session, survey=survey, keep=lambda record: False)
        assert (document, count) == (whole.model_copy(update={"responses": []}).model_dump_json().encode(), 0)
        assert spans == ()
        assert pipeline.segment_keep(None) is None and pipeline.segment_keep({}) is None


def test_prepare_stores_the_snapshot_document_and_a_rerun_keeps_it(sessions: sessionmaker[Session]) -> None:
    survey_id = new_survey(sessions, [rec("a"), rec("b", 4)])
    report_id = new_report(sessions, survey_id)
    assert pipeline.prepare_report(sessions, report_id) == 2
    with sessions() as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        stored = report_store.load_snapshot(session, report_id=report_id)
        assert stored == survey_store.build_snapshot(session, survey=survey)
    with transaction(sessions) as session:  # responses arriving later do not change a prepared report's input
        survey_store.add_responses(session, survey_id=survey_id, records=[rec("c")])
    assert pipeline.prepare_report(sessions, report_id) == 2


@pytest.mark.parametrize("rows_at_once", [2, 10_000])
def test_the_stored_snapshot_is_read_back_as_its_json(sessions: sessionmaker[Session],
                                                      monkeypatch: pytest.MonkeyPatch, rows_at_once: int) -> None:
    """What a worker writes for the notebooks is the canonical JSON of the stored snapshot (PostgreSQL's JSONB
    orders keys its own way), built a slice at a time; its hash is the provenance's input hash."""
    monkeypatch.setattr(survey_store, "SNAPSHOT_ROWS_AT_ONCE", rows_at_once)
    offset = timezone(timedelta(hours=-3))
    records = [rec("a", comment="é \\u2028 </script>", big=10**30, zero=-0.0, nested={"b": 1, "a": [True, None]}),
               rec(None, 2, completed=False, started=datetime(2026, 1, 1, 23, 59, 59, 999999, tzinfo=offset)),
               rec("c", 9, plan="Pro", features=["API", "Alerts"]), rec("d", 6), rec("e", 5, improve="  ")]
    report_id = new_report(sessions, new_survey(sessions, records))
    assert pipeline.prepare_report(sessions, report_id) == 5
    with sessions() as session:
        loaded = report_store.load_snapshot_document(session, report_id=report_id)
        snapshot = report_store.load_snapshot(session, report_id=report_id)
        assert snapshot is not None and loaded is not None
        assert loaded.data == snapshot.model_dump_json().encode() and loaded.response_count == 5
        assert len(loaded.spans) == (3 if rows_at_once == 2 else 1)
        assert report_store.load_snapshot_document(session, report_id=uuid.uuid4()) is None
