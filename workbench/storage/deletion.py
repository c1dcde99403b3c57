"""Deleting a survey with everything derived from it, and purging reports older than their organization's retention.

`delete_survey` removes, in the caller's transaction, the survey's questions, responses and import jobs, and its
reports with every row that names one of them: snapshots, components (results, executed notebooks, HTML), stored
PDFs, downloads, share links, webhook deliveries and their attempts (the endpoints stay: they belong to the
organization), received-webhook records, token-ledger rows, and the model replies those ledger rows used or filled
(`llm_usage.cache_key`). Tables added later are covered too: every table with a `report_id` or `survey_id` column
is cleared of the deleted ids. The embedding-cache keys of the survey's answers (sha256 of each text as the text
engines prepare it) are listed in `embedding_purges`, for every worker to remove from its own on-disk cache.

The survey's report schedules go with it; `DeletionSummary.schedule_ids` lists them, for the caller to delete their
Temporal Schedules after the commit (the API does).

Files go only after the commit (`remove_files`): `<data_dir>/work/<report>` folders, `<data_dir>/imports/<job>.upload`
files and the entries of `<data_dir>/cache/embeddings.sqlite`. A survey with a report still queued or running, or
an import running, is refused (`SurveyBusy`): cancel the report first.

`purge_expired_reports` deletes finished reports created more than `organizations.retention_days` days before
`now` (None: kept forever), with the same rows; the workers' sweep runs it (`run_retention`), and several workers
may do so at once (PostgreSQL: each batch locks its reports with SKIP LOCKED, so two workers never pick the same).

What cannot be attributed (docs/data-retention.md): ledger rows written before migration 0012 have no cache key,
so the replies they refer to stay in `llm_cache`; embedding-cache entries of answers that the text engines prepared
differently from `embedding_keys` (none known) stay; the audit log keeps the survey's id as an object id.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Table, Uuid, delete, select
from sqlalchemy.engine import Result
from sqlalchemy.orm import Session, sessionmaker

from workbench.statuses import ReportStatus
from workbench.storage.db import transaction
from workbench.storage.imports import ImportStatus, upload_path
from workbench.storage.models import (
    Base,
    EmbeddingPurge,
    ImportJob,
    LLMUsage,
    Organization,
    Question,
    Report,
    ReportSnapshot,
    Response,
    Survey,
    WebhookDelivery,
    utcnow,
)
from workbench.storage.schedules import survey_schedule_ids

log = logging.getLogger(__name__)

UNFINISHED_REPORTS = (ReportStatus.QUEUED, ReportStatus.RUNNING)
CHUNK = 500  # values per IN (...): well under SQLite's and PostgreSQL's bound-parameter limits
PURGE_BATCH = 50  # reports per retention transaction
# Rows of `embedding_purges` are kept this long: a worker that was down longer keeps those cache entries.
EMBEDDING_PURGE_DAYS = 30
# Each sweep re-reads purge rows this far back: a deletion that committed late (its rows carry the time they were
# written, before the commit) is still applied.
EMBEDDING_PURGE_OVERLAP = timedelta(minutes=15)
EMBEDDING_CACHE_FILE = "embeddings.sqlite"  # workbench.text.embeddings.CACHE_FILE, in <data_dir>/cache


class SurveyNotFound(LookupError):
    """No such survey in this organization."""


class SurveyBusy(RuntimeError):
    """The survey has a report queued or running, or an import running: nothing was deleted."""


@dataclass
class DeletionSummary:
    """What a deletion removed: rows per table, and what is left to do after the commit (`remove_files`)."""

    survey_id: uuid.UUID | None = None
    counts: dict[str, int] = field(default_factory=dict)  # table -> rows deleted (tables with none left out)
    report_ids: list[uuid.UUID] = field(default_factory=list)
    import_job_ids: list[uuid.UUID] = field(default_factory=list)
    schedule_ids: list[uuid.UUID] = field(default_factory=list)  # report schedules: their Temporal Schedules go too
    embedding_keys: set[str] = field(default_factory=set)  # embedding-cache keys of the survey's answers
    files_removed: int = 0  # work folders and upload files (set by remove_files)
    embeddings_removed: int = 0  # entries of the local embedding cache (set by remove_files)

    def add(self, table: str, rows: int) -> None:
        if rows:
            self.counts[table] = self.counts.get(table, 0) + rows

    def merge(self, other: DeletionSummary) -> None:
        for table, rows in other.counts.items():
            self.add(table, rows)
        self.report_ids += other.report_ids
        self.import_job_ids += other.import_job_ids
        self.schedule_ids += other.schedule_ids
        self.embedding_keys |= other.embedding_keys
        self.files_removed += other.files_removed
        self.embeddings_removed += other.embeddings_removed

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types (CLI output, logs)."""
        return {"survey_id": str(self.survey_id) if self.survey_id else None, "reports": len(self.report_ids),
                "rows": dict(sorted(self.counts.items())), "files_removed": self.files_removed,
                "embeddings_removed": self.embeddings_removed}


def stop_survey_schedules(session: Session, *, organization_id: uuid.UUID, survey_id: uuid.UUID) -> list[uuid.UUID]:
    """The ids of the survey's report schedules, whose Temporal Schedules the caller deletes after the commit
    (`workers.schedules.delete_temporal_schedules`; the API's survey deletion does). Their rows
    (`report_schedules.survey_id`) are deleted by `delete_survey` like every other table that names the survey; a
    Temporal Schedule left behind (Temporal was unreachable) deletes itself the next time it fires, finding its row
    gone."""
    return survey_schedule_ids(session, organization_id=organization_id, survey_id=survey_id)


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _delete_in(session: Session, table: Table, column: Column[Any], values: Sequence[Any]) -> int:
    if not isinstance(column.type, Uuid):  # a report id kept as text (llm_usage, received_webhooks)
        values = [str(v) for v in values]
    return sum(_rowcount(session.execute(delete(table).where(column.in_(chunk)))) for chunk in _chunks(values))


def _tables_with(column_name: str, *, besides: str) -> list[Table]:
    """Tables with a column `column_name`, those that others reference last (children before parents)."""
    return [t for t in reversed(Base.metadata.sorted_tables) if column_name in t.c and t.name != besides]


def _llm_cache_keys(session: Session, report_ids: Sequence[uuid.UUID], *, shared: bool) -> list[str]:
    """Reply-cache keys the reports' ledger rows used or filled; without `shared`, only those no other report's
    (or report-less) ledger row names."""
    names = [str(r) for r in report_ids]
    keys: set[str] = set()
    for chunk in _chunks(names):
        keys.update(k for k in session.scalars(select(LLMUsage.cache_key).distinct().where(
            LLMUsage.report_id.in_(chunk), LLMUsage.cache_key.is_not(None))) if k)
    if not shared and keys:
        mine = set(names)
        for chunk in _chunks(sorted(keys)):
            for key, report in session.execute(select(LLMUsage.cache_key, LLMUsage.report_id).where(
                    LLMUsage.cache_key.in_(chunk))):
                if report not in mine:
                    keys.discard(key)
    return sorted(keys)


def _delete_reports(session: Session, report_ids: Sequence[uuid.UUID], summary: DeletionSummary, *,
                    shared_replies: bool) -> None:
    """Delete the reports and every row that names one of them (the caller's transaction)."""
    if not report_ids:
        return
    cache = _table("llm_cache")
    summary.add(cache.name, _delete_in(session, cache, cache.c.key,
                                       _llm_cache_keys(session, report_ids, shared=shared_replies)))
    # Attempts name their delivery, not the report: counted here rather than left to ON DELETE CASCADE.
    deliveries = [d for chunk in _chunks(report_ids)
                  for d in session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.report_id.in_(chunk)))]
    attempts = _table("webhook_attempts")
    summary.add(attempts.name, _delete_in(session, attempts, attempts.c.delivery_id, deliveries))
    for table in _tables_with("report_id", besides=Report.__tablename__):
        summary.add(table.name, _delete_in(session, table, table.c.report_id, report_ids))
    reports = _table(Report.__tablename__)
    summary.add(reports.name, _delete_in(session, reports, reports.c.id, report_ids))
    summary.report_ids.extend(report_ids)


def _text_groups(session: Session, survey_id: uuid.UUID, report_ids: Sequence[uuid.UUID]) -> list[tuple[str, ...]]:
    """The non-blank answers to each text question, per source (the stored responses and every report snapshot):
    the sets the text engines read (boilerplate is judged within one such set)."""
    groups: set[tuple[str, ...]] = set()

    def add(keys: Iterable[str], answers: Iterable[dict[str, Any]]) -> None:
        rows = list(answers)
        for key in keys:
            texts = tuple(v.strip() for a in rows if isinstance(v := a.get(key), str) and v.strip())
            if texts:
                groups.add(texts)

    text_keys = list(session.scalars(select(Question.key).where(Question.survey_id == survey_id,
                                                                Question.type == "text")))
    if text_keys:
        add(text_keys, (a for a in session.scalars(select(Response.answers).where(Response.survey_id == survey_id))
                        if isinstance(a, dict)))
    for chunk in _chunks(report_ids):
        for data in session.scalars(select(ReportSnapshot.data).where(ReportSnapshot.report_id.in_(chunk))):
            survey = data.get("survey") if isinstance(data, dict) else None
            questions = survey.get("questions") if isinstance(survey, dict) else None
            keys = [q["key"] for q in questions or [] if isinstance(q, dict) and q.get("type") == "text"
                    and isinstance(q.get("key"), str)]
            responses = data.get("responses") if isinstance(data, dict) else None
            add(keys, (r["answers"] for r in responses or []
                       if isinstance(r, dict) and isinstance(r.get("answers"), dict)))
    return sorted(groups)


def embedding_keys(groups: Iterable[Sequence[str]]) -> set[str]:
    """The embedding-cache keys the text engines may have stored for these answers.

    Each group is the answers to one question in one snapshot. The engines embed each answer as
    `prepare_answers` leaves it (cleaned, boilerplate of its group removed: sentiment) and its parts
    (`split_parts`: themes); the keys of the cleaned text before boilerplate removal are added too (a superset
    costs nothing: deleting a cache entry only costs recomputing it).
    """
    from workbench.text.clean import clean_text, find_boilerplate, strip_boilerplate
    from workbench.text.embeddings import text_key
    from workbench.text.themes import split_parts

    keys: set[str] = set()
    for group in groups:
        cleaned = [clean_text(t) for t in group]
        boilerplate = find_boilerplate(cleaned)
        for text in cleaned:
            for variant in {text, strip_boilerplate(text, boilerplate)}:
                if variant:
                    keys.add(text_key(variant))
                    keys.update(text_key(p) for p in split_parts(variant))
    return keys


def delete_survey(session: Session, *, organization_id: uuid.UUID, survey_id: uuid.UUID) -> DeletionSummary:
    """Delete the survey and everything derived from it, in the caller's transaction (see the module doc); call
    `remove_files` after the commit.

    Raises:
        SurveyNotFound: No survey `survey_id` in `organization_id`.
        SurveyBusy: A report of it is queued or running, or an import of it is running (nothing is deleted).
    """
    # Locked first (PostgreSQL), so a report or import started meanwhile waits for this transaction and fails.
    found = session.scalar(select(Survey.id).where(Survey.id == survey_id, Survey.organization_id == organization_id)
                           .with_for_update())
    if found is None:
        raise SurveyNotFound(f"survey {survey_id} not found")
    busy = list(session.scalars(select(Report.id).where(Report.survey_id == survey_id,
                                                        Report.status.in_(UNFINISHED_REPORTS))))
    if busy:
        raise SurveyBusy(f"survey {survey_id} has {len(busy)} report(s) still queued or running "
                         f"({', '.join(str(r) for r in busy[:5])}); cancel them or wait until they finish")
    importing = session.scalar(select(ImportJob.id).where(ImportJob.survey_id == survey_id,
                                                          ImportJob.status == ImportStatus.RUNNING.value))
    if importing is not None:
        raise SurveyBusy(f"survey {survey_id} has an import running (job {importing}); wait until it finishes")

    summary = DeletionSummary(survey_id=survey_id)
    summary.schedule_ids = stop_survey_schedules(session, organization_id=organization_id, survey_id=survey_id)
    report_ids = list(session.scalars(select(Report.id).where(Report.survey_id == survey_id)
                                      .order_by(Report.created_at, Report.id)))
    summary.import_job_ids = list(session.scalars(select(ImportJob.id).where(ImportJob.survey_id == survey_id)))
    summary.embedding_keys = embedding_keys(_text_groups(session, survey_id, report_ids))
    purges = _table(EmbeddingPurge.__tablename__)
    for chunk in _chunks(sorted(summary.embedding_keys)):
        session.execute(purges.insert(), [{"key": k, "created_at": utcnow()} for k in chunk])
    _delete_reports(session, report_ids, summary, shared_replies=True)
    for table in _tables_with("survey_id", besides=Survey.__tablename__):
        summary.add(table.name, _rowcount(session.execute(delete(table).where(table.c.survey_id == survey_id))))
    surveys = _table(Survey.__tablename__)
    summary.add(surveys.name, _rowcount(session.execute(delete(surveys).where(surveys.c.id == survey_id))))
    _forget_deleted(session, summary)
    return summary


def _forget_deleted(session: Session, summary: DeletionSummary) -> None:
    """Detach loaded ORM objects of the tables rows were deleted from (the API's loaded survey), so the session
    never flushes or refreshes them."""
    for obj in list(session.identity_map.values()):
        table = getattr(type(obj), "__table__", None)
        if table is not None and table.name in summary.counts and obj in session:
            session.expunge(obj)


def purge_expired_reports(session: Session, *, now: datetime, limit: int = PURGE_BATCH) -> DeletionSummary:
    """Delete up to `limit` finished reports created more than their organization's `retention_days` before
    `now`, with every row that names them (the caller's transaction; `remove_files` after the commit).

    A model reply is deleted only when no remaining report's ledger row names it (the survey's answers are
    still there); the embedding cache is left alone for the same reason.
    """
    summary = DeletionSummary()
    chosen: list[uuid.UUID] = []
    retention = session.execute(select(Organization.id, Organization.retention_days)
                                .where(Organization.retention_days.is_not(None)).order_by(Organization.id)).all()
    for organization_id, days in retention:
        if len(chosen) >= limit:
            break
        if days is None:
            continue
        cutoff = now - timedelta(days=days)
        chosen += session.scalars(
            select(Report.id).where(Report.organization_id == organization_id, Report.created_at < cutoff,
                                    Report.status.not_in(UNFINISHED_REPORTS))
            .order_by(Report.created_at, Report.id).limit(limit - len(chosen))
            .with_for_update(skip_locked=True))  # another worker purging at once skips these
    _delete_reports(session, chosen, summary, shared_replies=False)
    _forget_deleted(session, summary)
    return summary


def set_retention(session: Session, *, slug: str, days: int | None) -> Organization:
    """Keep the organization's reports `days` days (None: forever).

    Raises:
        LookupError: No organization `slug`.
        ValueError: `days` is below 1.
    """
    if days is not None and days < 1:
        raise ValueError(f"retention must be at least 1 day, not {days}")
    org = session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise LookupError(f"organization {slug!r} not found")
    org.retention_days = days
    session.flush()
    return org


# --- after the commit: files ------------------------------------------------------------------------------------


def embedding_cache_file(data_dir: Path) -> Path:
    """The embedding cache the worker's kernels share (`WORKBENCH_EMBEDDING_CACHE` = `<data_dir>/cache`)."""
    return data_dir / "cache" / EMBEDDING_CACHE_FILE


def remove_cached_embeddings(cache_file: Path, keys: Iterable[str]) -> int:
    """Remove `keys` (of every model) from the embedding cache at `cache_file`; returns how many were there."""
    keys = sorted(set(keys))
    if not keys or not cache_file.is_file():
        return 0
    removed = 0
    db = sqlite3.connect(str(cache_file), timeout=30)
    try:
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            removed += db.execute(f"DELETE FROM embeddings WHERE key IN ({marks})", list(chunk)).rowcount
        db.commit()
    except sqlite3.OperationalError as exc:  # no such table: nothing was ever cached there
        if "no such table" not in str(exc):
            raise
    finally:
        db.close()
    return removed


def remove_files(summary: DeletionSummary, data_dir: Path) -> DeletionSummary:
    """After the commit: the reports' work folders, the import jobs' uploads and the answers' embeddings in this
    process's data folder. Each worker's own cache is cleaned by its sweep (`apply_embedding_purges`)."""
    for report_id in summary.report_ids:
        folder = data_dir / "work" / str(report_id)
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            summary.files_removed += 1
    for job_id in summary.import_job_ids:
        path = upload_path(data_dir, job_id)
        if path.exists():
            path.unlink(missing_ok=True)
            summary.files_removed += 1
    try:
        summary.embeddings_removed += remove_cached_embeddings(embedding_cache_file(data_dir), summary.embedding_keys)
    except sqlite3.Error:  # the rows in embedding_purges still reach it through the workers' sweep
        log.exception("could not remove embeddings from %s", embedding_cache_file(data_dir))
    return summary


def delete_survey_and_files(sessions: sessionmaker[Session], data_dir: Path, *, organization_id: uuid.UUID,
                            survey_id: uuid.UUID) -> DeletionSummary:
    """`delete_survey` in one transaction, then `remove_files` (the CLI; the API does the same with its session)."""
    with transaction(sessions) as session:
        summary = delete_survey(session, organization_id=organization_id, survey_id=survey_id)
    return remove_files(summary, data_dir)


# --- the workers' sweep -------------------------------------------------------------------------------------------

_applied: dict[Path, datetime] = {}  # cache file -> when this process last applied the purge rows to it


def apply_embedding_purges(sessions: sessionmaker[Session], data_dir: Path, *, now: datetime) -> int:
    """Remove from this worker's embedding cache the keys of deleted surveys written since its previous pass (all
    kept ones on the first), and drop purge rows older than `EMBEDDING_PURGE_DAYS`; returns how many cache
    entries were removed. Safe from several workers at once (deleting twice removes nothing more)."""
    cache_file = embedding_cache_file(data_dir)
    since = _applied.get(cache_file)
    query = select(EmbeddingPurge.key)
    if since is not None:
        query = query.where(EmbeddingPurge.created_at >= since - EMBEDDING_PURGE_OVERLAP)
    with sessions() as session:
        keys = list(session.scalars(query))
    removed = remove_cached_embeddings(cache_file, keys)
    _applied[cache_file] = now
    with transaction(sessions) as session:
        session.execute(delete(EmbeddingPurge).where(
            EmbeddingPurge.created_at < now - timedelta(days=EMBEDDING_PURGE_DAYS)))
    return removed


def run_retention(sessions: sessionmaker[Session], data_dir: Path, *, now: datetime,
                  batch: int = PURGE_BATCH) -> DeletionSummary:
    """Purge every expired report, one transaction per batch, removing each batch's files after its commit."""
    total = DeletionSummary()
    while True:
        with transaction(sessions) as session:
            summary = purge_expired_reports(session, now=now, limit=batch)
        total.merge(remove_files(summary, data_dir))
        if len(summary.report_ids) < batch:
            return total
