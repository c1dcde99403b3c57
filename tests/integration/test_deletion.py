"""Deleting a survey and the retention purge, on SQLite and PostgreSQL: every table is walked afterwards, so a row
that names a deleted survey or report anywhere fails the test, and every other row must be exactly as before."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from sqlalchemy import Table, Uuid, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cli import admin_data
from tests.factories import feedback_survey
from tests.integration.api_support import create_survey
from workbench.config import get_settings
from workbench.statuses import ComponentStatus, ReportStatus
from workbench.storage import deletion, models
from workbench.storage import imports as import_store
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage import webhooks as webhook_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import (
    DEFAULT_ORGANIZATION_ID,
    Base,
    EmbeddingPurge,
    LLMCacheEntry,
    LLMUsage,
    Organization,
    ReceivedWebhook,
    Report,
    Response,
    Survey,
    utcnow,
)
from workbench.text.embeddings import MODEL_NAME as MODEL
from workbench.text.embeddings import EmbeddingCache, text_key

ANSWERS = [
    "The dashboards are slow. Please call me at +1 415 555 0100!",
    "Great support team, they fixed it fast.",
    "Alerts arrive late; the REST API times out when we export.",
    "",
]


@dataclass
class Built:
    """A survey with everything that can hang off it."""

    survey_id: uuid.UUID
    report_ids: list[uuid.UUID] = field(default_factory=list)
    job_id: uuid.UUID | None = None
    cache_keys: list[str] = field(default_factory=list)  # llm_cache keys only this survey's reports used
    answers: list[str] = field(default_factory=list)


def make_org(session: Session, slug: str, retention_days: int | None = None) -> uuid.UUID:
    org = Organization(slug=slug, name=slug.title(), retention_days=retention_days)
    session.add(org)
    session.flush()
    return org.id


def add_report(session: Session, survey: Survey, *, status: ReportStatus = ReportStatus.COMPLETED,
               created_days_ago: float = 0, data_dir: Path | None = None, llm_keys: tuple[str, ...] = ()) -> uuid.UUID:
    report = report_store.create_report(session, organization_id=survey.organization_id, survey_id=survey.id,
                                        component_names=["basic_stats", "sentiment"])
    report_store.save_snapshot(session, report_id=report.id,
                               snapshot=survey_store.build_snapshot(session, survey=survey))
    for component in report.components:
        component.status = ComponentStatus.COMPLETED
        component.result = {"n": 3}
        component.html = "<p>answers</p>"
        component.notebook = '{"cells": []}'
    report.status = status
    report.created_at = utcnow() - timedelta(days=created_days_ago)
    report_store.save_document(session, report_id=report.id, kind="pdf", template_version="t1", content=b"%PDF-1")
    report_store.record_download(session, report_id=report.id, kind="pdf", who="ana", cached=False, size=6)
    session.add(ReceivedWebhook(event_id=f"evt_{report.id}.0.completed", event_type="report.completed",
                                report_id=str(report.id), status="completed"))
    for key in llm_keys:
        session.add(LLMUsage(report_id=str(report.id), component="sentiment", model="m", prompt_tokens=10,
                             completion_tokens=5, cached=False, cache_key=key))
        if session.get(LLMCacheEntry, key) is None:
            session.add(LLMCacheEntry(key=key, model="m", prompt_version="v1", response={"label": "positive"}))
    share_link = getattr(models, "ShareLink", None)  # the access tables, when present
    if share_link is not None:
        session.add(share_link(organization_id=survey.organization_id, report_id=report.id,
                               token_hash=uuid.uuid4().hex, expires_at=utcnow() + timedelta(days=7)))
    for delivery in webhook_store.create_deliveries(
            session, organization_id=survey.organization_id, event_type="report.completed",
            event_id=f"evt_{report.id}.0.completed", report_id=report.id, body="{}"):
        session.flush()
        webhook_store.record_attempt(session, delivery_id=delivery.id, status_code=500, latency_ms=3,
                                     error="HTTP 500")
    if data_dir is not None:
        (data_dir / "work" / str(report.id) / "sentiment").mkdir(parents=True)
        (data_dir / "work" / str(report.id) / "sentiment" / "executed.ipynb").write_text("{}")
    session.flush()
    return report.id


def build(sessions: sessionmaker[Session], org_id: uuid.UUID, data_dir: Path, tag: str) -> Built:
    with transaction(sessions) as session:
        if not webhook_store.list_endpoints(session, organization_id=org_id):
            webhook_store.create_endpoint(session, organization_id=org_id, url="https://hooks.example.com/x",
                                          events=["report.completed"], secret="whsec_x")
        survey = survey_store.create_survey(session, organization_id=org_id, definition=feedback_survey())
        answers = [f"{a} ({tag})" if a else a for a in ANSWERS]
        for i, text in enumerate(answers):
            session.add(Response(survey_id=survey.id, respondent_id=f"{tag}-{i}", started_at=None,
                                 completed_at=utcnow(), answers={"nps": 9, "improve": text}))
        session.flush()
        built = Built(survey.id, answers=[a for a in answers if a])
        built.cache_keys = [f"{tag}-reply-1".ljust(64, "0"), f"{tag}-reply-2".ljust(64, "0")]
        built.report_ids.append(add_report(session, survey, data_dir=data_dir,
                                           llm_keys=(built.cache_keys[0], "shared-reply".ljust(64, "0"))))
        built.report_ids.append(add_report(session, survey, status=ReportStatus.FAILED, data_dir=data_dir,
                                           llm_keys=(built.cache_keys[1],)))
        job_id = uuid.uuid4()
        import_store.upload_path(data_dir, job_id).parent.mkdir(parents=True, exist_ok=True)
        import_store.upload_path(data_dir, job_id).write_text("respondent_id,nps\n")
        import_store.create_job(session, job_id=job_id, organization_id=org_id, survey_id=survey.id, fmt="csv",
                                size_bytes=18)
        built.job_id = job_id
    return built


def _value(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict | list) else value


def dump(sessions: sessionmaker[Session]) -> dict[str, set[tuple[Any, ...]]]:
    """Every row of every table (JSON as sorted text, so rows compare)."""
    with sessions() as session:
        return {table.name: {tuple((c, _value(v)) for c, v in row._mapping.items())
                             for row in session.execute(select(table))}
                for table in Base.metadata.sorted_tables}


def names_deleted(table: Table, row: dict[str, Any], survey_ids: set[uuid.UUID], report_ids: set[uuid.UUID],
                  cache_keys: set[str], delivery_ids: set[uuid.UUID]) -> bool:
    """Whether a row names something deleted: generic over `survey_id` / `report_id` columns (UUID or text), plus
    the rows deletion attributes (model replies by key, webhook attempts by delivery)."""
    reports_as_text = {str(r) for r in report_ids}
    for column in table.c:
        value = row[column.name]
        if value is None:
            continue
        if column.name == "survey_id" or (table.name == "surveys" and column.name == "id"):
            if value in survey_ids:
                return True
        if column.name == "report_id" or (table.name == "generated_reports" and column.name == "id"):
            if (value in report_ids) if isinstance(column.type, Uuid) else (str(value) in reports_as_text):
                return True
    if table.name == "llm_cache" and row["key"] in cache_keys:
        return True
    return table.name == "webhook_attempts" and row["delivery_id"] in delivery_ids


def delivery_ids(sessions: sessionmaker[Session], report_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    with sessions() as session:
        return set(session.scalars(select(models.WebhookDelivery.id)
                                   .where(models.WebhookDelivery.report_id.in_(report_ids))))


def assert_only_these_deleted(before: dict[str, set[tuple[Any, ...]]], after: dict[str, set[tuple[Any, ...]]],
                              *, survey_ids: set[uuid.UUID], report_ids: set[uuid.UUID], cache_keys: set[str],
                              deliveries: set[uuid.UUID]) -> dict[str, int]:
    deleted: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        if table.name == "embedding_purges":
            continue  # grows by design: checked on its own
        gone = {row for row in before[table.name]
                if names_deleted(table, dict(row), survey_ids, report_ids, cache_keys, deliveries)}
        assert after[table.name] == before[table.name] - gone, table.name  # nothing else changed
        leftovers = [row for row in after[table.name]
                     if names_deleted(table, dict(row), survey_ids, report_ids, cache_keys, deliveries)]
        assert leftovers == [], table.name
        if gone:
            deleted[table.name] = len(gone)
    return deleted


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


# --- deleting a survey --------------------------------------------------------------------------------------------


def test_deleting_a_survey_removes_everything_derived_from_it_and_nothing_else(
        sessions: sessionmaker[Session], data_dir: Path) -> None:
    with transaction(sessions) as session:
        other_org = make_org(session, "globex")
    doomed = build(sessions, DEFAULT_ORGANIZATION_ID, data_dir, "a")
    sibling = build(sessions, DEFAULT_ORGANIZATION_ID, data_dir, "b")
    foreign = build(sessions, other_org, data_dir, "c")
    # The embedding cache the worker's kernels fill (in the same data folder here): this survey's answers and the
    # other surveys' answers.
    cache = EmbeddingCache(deletion.embedding_cache_file(data_dir))
    mine = deletion.embedding_keys([tuple(doomed.answers)])
    kept = {text_key(t) for t in sibling.answers} | {text_key(t) for t in foreign.answers}
    cache.put_many(MODEL, {k: np.full(4, 0.5, dtype=np.float32) for k in mine | kept})
    assert mine and not (mine & kept)

    before = dump(sessions)
    deliveries = delivery_ids(sessions, doomed.report_ids)
    with transaction(sessions) as session:
        summary = deletion.delete_survey(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                         survey_id=doomed.survey_id)
    deletion.remove_files(summary, data_dir)
    after = dump(sessions)

    deleted = assert_only_these_deleted(
        before, after, survey_ids={doomed.survey_id}, report_ids=set(doomed.report_ids),
        cache_keys={*doomed.cache_keys, "shared-reply".ljust(64, "0")}, deliveries=deliveries)
    expected = {"surveys", "questions", "responses", "import_jobs", "generated_reports", "report_snapshots",
                "report_components", "report_documents", "report_downloads", "webhook_deliveries",
                "webhook_attempts", "received_webhooks", "llm_usage", "llm_cache"}
    if "share_links" in Base.metadata.tables:
        expected.add("share_links")
    assert set(deleted) == expected
    assert summary.counts == deleted
    assert summary.counts["generated_reports"] == 2 and summary.counts["responses"] == 4
    assert sorted(summary.report_ids) == sorted(doomed.report_ids)

    # Files: the reports' work folders and the import's upload; the others' stay.
    for report_id in doomed.report_ids:
        assert not (data_dir / "work" / str(report_id)).exists()
    assert not import_store.upload_path(data_dir, doomed.job_id).exists()  # type: ignore[arg-type]
    for other in (sibling, foreign):
        assert all((data_dir / "work" / str(r)).is_dir() for r in other.report_ids)
        assert import_store.upload_path(data_dir, other.job_id).exists()  # type: ignore[arg-type]
    assert summary.files_removed == 3

    # Embeddings: this survey's answers leave the local cache, the others stay; the keys are listed for workers.
    assert summary.embeddings_removed == len(mine)
    assert cache.get_many(MODEL, sorted(mine)) == {}
    assert set(cache.get_many(MODEL, sorted(kept))) == kept
    with sessions() as session:
        assert mine <= set(session.scalars(select(EmbeddingPurge.key)))
    cache.close()


def test_model_replies_a_report_used_are_found_through_its_ledger(database_url: str, data_dir: Path) -> None:
    """The client records the reply-cache key on each ledger row (a call and a cache hit alike), which is how
    deleting a survey finds the replies computed from its answers."""
    from tests.fakes import FakeOpenAI
    from workbench.text.llm import LLMClient, LLMSettings
    from workbench.text.llm_store import LLMCache, UsageLedger

    sessions = make_sessionmaker(make_engine(database_url))
    doomed, kept = (build(sessions, DEFAULT_ORGANIZATION_ID, data_dir, tag) for tag in ("l1", "l2"))
    with FakeOpenAI() as server:
        server.script({"label": "negative"}, {"label": "positive"})
        settings = LLMSettings(api_key="sk-test", base_url=server.base_url, model="fake-model", timeout_seconds=5,
                               max_retries=0, token_budget=None, batch_size=10)

        def ask(report_id: uuid.UUID, text: str) -> None:
            LLMClient(settings, cache=LLMCache(database_url), ledger=UsageLedger(
                database_url, report_id=str(report_id), component="sentiment")).complete_json(
                system="Label it.", user=text, prompt_version="t1")

        ask(doomed.report_ids[0], doomed.answers[0])  # a call: the reply is cached
        ask(doomed.report_ids[1], doomed.answers[0])  # a cache hit of the same reply
        ask(kept.report_ids[0], kept.answers[0])
    with sessions() as session:
        keys = dict(session.execute(select(LLMUsage.report_id, LLMUsage.cache_key)
                                    .where(LLMUsage.cache_key.is_not(None))).all())
        assert keys[str(doomed.report_ids[0])] == keys[str(doomed.report_ids[1])]
    with transaction(sessions) as session:
        summary = deletion.delete_survey(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                         survey_id=doomed.survey_id)
    with sessions() as session:
        cached = set(session.scalars(select(LLMCacheEntry.key)))
    assert keys[str(doomed.report_ids[0])] not in cached and keys[str(kept.report_ids[0])] in cached
    assert summary.counts["llm_usage"] == 2 + 3  # the two calls above and build()'s rows
    sessions.kw["bind"].dispose()


def test_embedding_keys_cover_what_the_engines_embed() -> None:
    from workbench.text.clean import prepare_answers
    from workbench.text.themes import split_parts

    answers = ANSWERS[:3] + ["Click expand to view the whole review please. " + a for a in ANSWERS[:3]] * 5
    keys = deletion.embedding_keys([tuple(answers)])
    prepared = [a.text for a in prepare_answers(answers).answers]
    assert {text_key(t) for t in prepared} <= keys  # sentiment embeds the prepared answers
    assert {text_key(p) for t in prepared for p in split_parts(t)} <= keys  # themes embeds their sentences


def test_another_organizations_survey_is_not_found(sessions: sessionmaker[Session], data_dir: Path) -> None:
    with transaction(sessions) as session:
        other_org = make_org(session, "initech")
    foreign = build(sessions, other_org, data_dir, "f")
    before = dump(sessions)
    with pytest.raises(deletion.SurveyNotFound), transaction(sessions) as session:
        deletion.delete_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=foreign.survey_id)
    with pytest.raises(deletion.SurveyNotFound), transaction(sessions) as session:
        deletion.delete_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=uuid.uuid4())
    assert dump(sessions) == before


@pytest.mark.parametrize("status", [ReportStatus.QUEUED, ReportStatus.RUNNING])
def test_a_survey_with_a_report_in_progress_is_refused(sessions: sessionmaker[Session], data_dir: Path,
                                                        status: ReportStatus) -> None:
    built = build(sessions, DEFAULT_ORGANIZATION_ID, data_dir, "r")
    with transaction(sessions) as session:
        survey = session.get(Survey, built.survey_id)
        assert survey is not None
        running = add_report(session, survey, status=status)
    before = dump(sessions)
    with pytest.raises(deletion.SurveyBusy, match=str(running)), transaction(sessions) as session:
        deletion.delete_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=built.survey_id)
    assert dump(sessions) == before


def test_a_survey_with_an_import_running_is_refused(sessions: sessionmaker[Session], data_dir: Path) -> None:
    built = build(sessions, DEFAULT_ORGANIZATION_ID, data_dir, "i")
    with transaction(sessions) as session:
        assert import_store.start_job(session, job_id=built.job_id) is not None  # type: ignore[arg-type]
    with pytest.raises(deletion.SurveyBusy, match="import"), transaction(sessions) as session:
        deletion.delete_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=built.survey_id)


# --- retention ----------------------------------------------------------------------------------------------------


def test_reports_older_than_the_retention_are_purged(sessions: sessionmaker[Session], data_dir: Path) -> None:
    with transaction(sessions) as session:
        session.execute(update(Organization).where(Organization.id == DEFAULT_ORGANIZATION_ID)
                        .values(retention_days=30))
        keeps_all = make_org(session, "umbrella")  # no retention: kept forever
        short = make_org(session, "hooli", retention_days=7)
    ids = [build(sessions, org, data_dir, tag).survey_id
           for org, tag in [(DEFAULT_ORGANIZATION_ID, "x"), (keeps_all, "y"), (short, "z")]]
    with transaction(sessions) as session:
        survey, forever_survey, short_survey = (session.get(Survey, i) for i in ids)
        assert survey is not None and forever_survey is not None and short_survey is not None
        old = add_report(session, survey, created_days_ago=31, data_dir=data_dir,
                         llm_keys=("old-only".ljust(64, "0"), "old-and-new".ljust(64, "0")))
        new = add_report(session, survey, created_days_ago=29, llm_keys=("old-and-new".ljust(64, "0"),))
        stuck = add_report(session, survey, status=ReportStatus.RUNNING, created_days_ago=40)  # purged once done
        forever = add_report(session, forever_survey, created_days_ago=400)
        short_old = add_report(session, short_survey, created_days_ago=8)
    before = dump(sessions)
    deliveries = delivery_ids(sessions, [old, short_old])

    summary = deletion.run_retention(sessions, data_dir, now=utcnow(), batch=1)  # one report per transaction

    assert sorted(summary.report_ids) == sorted([old, short_old])
    deleted = assert_only_these_deleted(before, dump(sessions), survey_ids=set(), report_ids={old, short_old},
                                        cache_keys={"old-only".ljust(64, "0")}, deliveries=deliveries)
    assert deleted["generated_reports"] == 2 and deleted["llm_cache"] == 1  # the reply a kept report uses stays
    assert not (data_dir / "work" / str(old)).exists()
    with sessions() as session:
        kept = set(session.scalars(select(Report.id)))
        assert {new, stuck, forever} <= kept
        assert session.scalar(select(func.count()).select_from(Survey)) == 3  # surveys are never purged
    # A second run finds nothing.
    assert deletion.run_retention(sessions, data_dir, now=utcnow()).report_ids == []


def test_two_workers_purging_at_once_each_take_other_reports(sessions: sessionmaker[Session],
                                                             data_dir: Path) -> None:
    engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: one purge waits for the other")
    with transaction(sessions) as session:
        session.execute(update(Organization).where(Organization.id == DEFAULT_ORGANIZATION_ID)
                        .values(retention_days=1))
    survey_id = build(sessions, DEFAULT_ORGANIZATION_ID, data_dir, "w").survey_id
    with transaction(sessions) as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        expired = {add_report(session, survey, created_days_ago=2) for _ in range(4)}
    first = sessions()
    first.begin()
    taken_first = deletion.purge_expired_reports(first, now=utcnow(), limit=2)  # holds its reports' locks
    results: list[deletion.DeletionSummary] = []
    second = threading.Thread(target=lambda: results.append(
        deletion.run_retention(sessions, data_dir, now=utcnow(), batch=2)))
    second.start()
    second.join(timeout=30)
    first.commit()
    first.close()
    assert not second.is_alive()
    assert len(taken_first.report_ids) == 2
    assert set(taken_first.report_ids) | set(results[0].report_ids) == expired
    assert not set(taken_first.report_ids) & set(results[0].report_ids)


def test_the_sweep_removes_deleted_answers_from_each_workers_cache(sessions: sessionmaker[Session],
                                                                   tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    built = build(sessions, DEFAULT_ORGANIZATION_ID, tmp_path / "api", "s")
    worker_dir = tmp_path / "worker"  # a worker's own data folder (its own volume)
    cache = EmbeddingCache(deletion.embedding_cache_file(worker_dir))
    keys = sorted(deletion.embedding_keys([tuple(built.answers)]))
    cache.put_many("m", {k: np.zeros(4, dtype=np.float32) for k in [*keys, "unrelated"]})
    with transaction(sessions) as session:
        deletion.delete_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=built.survey_id)
    assert cache.count() == len(keys) + 1
    assert deletion.apply_embedding_purges(sessions, worker_dir, now=utcnow()) == len(keys)
    assert cache.get_many("m", [*keys, "unrelated"]).keys() == {"unrelated"}
    # Kept rows age out.
    later = utcnow() + timedelta(days=deletion.EMBEDDING_PURGE_DAYS + 1)
    assert deletion.apply_embedding_purges(sessions, worker_dir, now=later) == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(EmbeddingPurge)) == 0
    cache.close()


# --- the API ------------------------------------------------------------------------------------------------------


def test_api_delete_survey(client: Any, db: sessionmaker[Session], offline_settings: Any) -> None:
    survey_id = create_survey(client)
    with transaction(db) as session:
        foreign_org = make_org(session, "acme-two")
        foreign = survey_store.create_survey(session, organization_id=foreign_org, definition=feedback_survey())
        survey = session.get(Survey, uuid.UUID(survey_id))
        assert survey is not None
        running = add_report(session, survey, status=ReportStatus.RUNNING)

    r = client.delete(f"/api/v1/surveys/{survey_id}")
    assert r.status_code == 409 and str(running) in r.json()["detail"]
    assert client.get(f"/api/v1/surveys/{survey_id}").status_code == 200

    with transaction(db) as session:
        session.execute(update(Report).where(Report.id == running).values(status=ReportStatus.CANCELLED))
    r = client.delete(f"/api/v1/surveys/{survey_id}")
    assert r.status_code == 204 and r.content == b""
    assert client.get(f"/api/v1/surveys/{survey_id}").status_code == 404
    assert client.delete(f"/api/v1/surveys/{survey_id}").status_code == 404
    assert client.delete(f"/api/v1/surveys/{uuid.uuid4()}").status_code == 404
    assert client.delete(f"/api/v1/surveys/{foreign.id}").status_code == 404  # another organization's
    with db() as session:
        assert session.get(Survey, foreign.id) is not None
        assert session.get(Report, running) is None


# --- the CLI ------------------------------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path) -> Any:
    """The commands as cli/main.py registers them, on a fresh SQLite database."""
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    app = typer.Typer()
    app.command("survey-delete")(admin_data.survey_delete)
    app.add_typer(admin_data.retention_app, name="retention")
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


def test_cli_survey_delete(cli: Any, sqlite_url: str, tmp_path: Path) -> None:
    sessions = make_sessionmaker(make_engine(sqlite_url))
    built = build(sessions, DEFAULT_ORGANIZATION_ID, tmp_path / "data", "cli")
    for args, message in [(("not-a-uuid", "--yes"), "not a survey id"),
                          ((str(built.survey_id),), "--yes"),
                          ((str(uuid.uuid4()), "--yes"), "not found"),
                          ((str(built.survey_id), "--yes", "--org", "nope"), "organization 'nope' not found")]:
        result = cli("survey-delete", *args)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, args
    result = cli("survey-delete", str(built.survey_id), "--yes", "--org", "default")
    assert result.exit_code == 0, result.output
    assert "deleted survey" in result.output and "responses: 4" in result.output
    assert "generated_reports: 2" in result.output and "files removed: 3" in result.output
    with sessions() as session:
        assert session.get(Survey, built.survey_id) is None


def test_cli_retention(cli: Any, sqlite_url: str, tmp_path: Path) -> None:
    for days, message in [("0", "at least 1"), ("soon", "whole number"), ("-3", "at least 1")]:
        result = cli("retention", "set", "--org", "default", "--days", days)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    result = cli("retention", "set", "--org", "nope", "--days", "5")
    assert result.exit_code == 2 and "not found" in result.output
    assert cli("retention", "set", "--org", "default", "--days", "30").exit_code == 0
    assert "default: 30 day(s)" in cli("retention", "show").output
    sessions = make_sessionmaker(make_engine(sqlite_url))
    survey_id = build(sessions, DEFAULT_ORGANIZATION_ID, tmp_path / "data", "p").survey_id
    with transaction(sessions) as session:
        survey = session.get(Survey, survey_id)
        assert survey is not None
        old = add_report(session, survey, created_days_ago=45)
    result = cli("retention", "purge")
    assert result.exit_code == 0, result.output
    assert "purged 1 report(s)" in result.output and "generated_reports: 1" in result.output
    with sessions() as session:
        assert session.get(Report, old) is None
        assert session.scalar(select(func.count()).select_from(Report)) == 2
    assert cli("retention", "set", "--org", "default", "--days", "none").exit_code == 0
    assert "default: forever" in cli("retention", "show").output
