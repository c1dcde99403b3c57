"""Response imports in the API: small uploads are stored at once, large ones become background jobs.

Both go through `store_import`, all or nothing. A background job's upload waits in a file under
`<data_dir>/imports` while one worker thread of the API process (`ImportRunner`) works through the jobs in order,
so the event loop and the request threads stay free. Jobs left `queued` or `running` by an API that died are
resumed when the next one starts (or failed, if their file is gone).

One API process per database is assumed: a second process starting would resume the first one's jobs too.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.errors import database_message, database_unavailable
from workbench import collector
from workbench.storage import imports as job_store
from workbench.storage import surveys as survey_store
from workbench.storage.db import transaction
from workbench.storage.models import ImportJob, Survey
from workbench.surveys.imports import parse_responses
from workbench.surveys.mapping import ImportMapping, parse_mapping
from workbench.surveys.schema import SurveyDefinition
from workbench.surveys.validation import ImportIssue, ImportValidationError

log = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 30


class ImportStopped(Exception):
    """The API is shutting down before the import wrote anything; the job is resumed at the next start."""


def store_import(
    session: Session, *, survey: Survey, data: bytes | IO[bytes], fmt: str, job_id: uuid.UUID | None = None,
    proceed: Callable[[], bool] = lambda: True, mapping: ImportMapping | None = None,
) -> tuple[int, int]:
    """Parse, validate and store an upload of responses to `survey`; all or nothing.

    Args:
        session: A session without an open write transaction; the import opens its own.
        survey: The survey the responses answer.
        data: The upload's bytes, or an open binary file (read as a stream).
        fmt: A registered import format (`workbench.surveys.imports.resolve_format`).
        job_id: The background job to mark completed in the same transaction as the responses, if any.
        proceed: Asked once parsing is done; False stops before anything is written (`ImportStopped`).
        mapping: The column mapping and import options (separator, date format, on_duplicate), if any.

    Returns:
        How many responses were imported, and how many the survey has now.

    Raises:
        ImportValidationError: The upload was rejected; its issues name row and field. Nothing was written.
        ImportStopped: `proceed` said no.
    """
    survey_id = survey.id
    definition = survey_store.survey_definition(survey)
    existing = survey_store.existing_respondents(session, survey_id=survey_id)
    session.rollback()  # no transaction stays open while parsing (PostgreSQL would hold a snapshot)
    with collector.paused():
        records = parse_responses(definition, data, fmt=fmt, existing=existing, mapping=mapping)
        if not proceed():
            raise ImportStopped
        try:
            with session.begin():
                imported = survey_store.add_responses(session, survey_id=survey_id, records=records)
                total, _ = survey_store.count_responses(session, survey_id=survey_id)
                if job_id is not None:
                    job_store.complete_job(session, job_id=job_id, imported=imported, response_count=total)
        except IntegrityError:
            # Another import stored one of these respondent ids between our check and our insert.
            raise ImportValidationError([ImportIssue(
                "-", "respondent_id",
                "another import stored one of these respondent ids meanwhile; nothing was imported",
            )]) from None
        finally:
            del records
    return imported, total


def store_survey_import(
    session: Session, *, organization_id: uuid.UUID, definition: SurveyDefinition, data: Any, fmt: str,
    mapping: ImportMapping | None = None,
) -> tuple[uuid.UUID, int]:
    """Create a survey and import its responses in one transaction: a rejected import leaves nothing behind.

    Args:
        session: A session without an open write transaction.
        organization_id: The organization the survey belongs to.
        definition: The survey to create.
        data: The responses: an upload's bytes, or for "json" also the decoded records.
        fmt: A registered import format.
        mapping: The column mapping and import options, if any.

    Returns:
        The new survey's id and how many responses were imported.

    Raises:
        ImportValidationError: The responses were rejected; nothing was written.
    """
    with collector.paused():
        records = parse_responses(definition, data, fmt=fmt, mapping=mapping)
        try:
            with session.begin():
                survey = survey_store.create_survey_with_responses(
                    session, organization_id=organization_id, definition=definition, records=records)
                return survey.id, len(records)
        finally:
            del records


class ImportRunner:
    """Background imports of one API process: a queue worked through by `workers` threads.

    Args:
        sessions: The API's session factory.
        data_dir: `Settings.data_dir`; uploads wait in `<data_dir>/imports`.
        workers: Threads importing at once. One keeps SQLite's single writer free for everything else.
    """

    def __init__(self, sessions: sessionmaker[Session], data_dir: Path, workers: int = 1) -> None:
        self._sessions = sessions
        self._data_dir = data_dir
        self._stop = threading.Event()
        self._started_at = datetime.now(UTC)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="workbench-import")

    def start(self) -> None:
        """Resume what a previous API left unfinished (in the background: the database may be down)."""
        self._executor.submit(self._retrying, "resuming import jobs", self._resume)

    def shutdown(self) -> None:
        """Stop taking jobs; wait for the one being stored (a job still parsing stops and resumes next start)."""
        self._stop.set()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def enqueue(
        self, *, organization_id: uuid.UUID, survey_id: uuid.UUID, data: bytes, fmt: str,
        mapping: ImportMapping | None = None,
    ) -> ImportJob:
        """Keep the upload in a file, store a queued job for it (with the import's mapping and options) and queue
        it. Blocking: call it from a thread."""
        job_id = uuid.uuid4()
        path = job_store.upload_path(self._data_dir, job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        try:
            with transaction(self._sessions) as session:
                job = job_store.create_job(session, job_id=job_id, organization_id=organization_id,
                                           survey_id=survey_id, fmt=fmt, size_bytes=len(data),
                                           options=mapping.options() if mapping is not None else None)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        try:
            self._executor.submit(self._retrying, f"import job {job_id}", partial(self._run, job_id))
        except RuntimeError:  # shutting down: the job stays queued and is resumed at the next start
            log.warning("import job %s queued while the API stops; it runs at the next start", job_id)
        return job

    def _retrying(self, what: str, work: Callable[[], None]) -> None:
        """Run `work`; while the database is unavailable, retry with a growing pause until it answers."""
        delay = 1.0
        while not self._stop.is_set():
            try:
                work()
                return
            except ImportStopped:
                return
            except Exception as exc:
                if not database_unavailable(exc):
                    log.exception("%s failed", what)
                    return
                log.warning("%s waits for the database: %s", what, database_message(exc))
            self._stop.wait(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _run(self, job_id: uuid.UUID) -> None:
        path = job_store.upload_path(self._data_dir, job_id)
        with self._sessions() as session:
            with session.begin():
                job = job_store.start_job(session, job_id=job_id)
                if job is None:  # finished meanwhile (or deleted with its survey)
                    path.unlink(missing_ok=True)
                    return
                if not path.exists():
                    job_store.fail_job(session, job_id=job_id, error=_gone(path))
                    return
                survey = survey_store.get_survey(session, organization_id=job.organization_id,
                                                 survey_id=job.survey_id)
                fmt, options = job.format, job.options
            if survey is None:
                with session.begin():
                    job_store.fail_job(session, job_id=job_id, error="the survey no longer exists")
            else:
                started = time.monotonic()
                try:
                    mapping = parse_mapping(options) if options else None
                    with path.open("rb") as upload:  # read as a stream: no second copy of the upload in memory
                        imported, _ = store_import(session, survey=survey, data=upload, fmt=fmt, job_id=job_id,
                                                   proceed=lambda: not self._stop.is_set(), mapping=mapping)
                    log.info("import job %s stored %d responses in %.1f s", job_id, imported,
                             time.monotonic() - started)
                except ImportValidationError as exc:
                    session.rollback()
                    with session.begin():
                        job_store.fail_job(session, job_id=job_id, issues=exc.issues, total=exc.total)
                except ImportStopped:
                    raise
                except Exception as exc:
                    if database_unavailable(exc):
                        raise  # the job stays unfinished; `_retrying` runs it again once the database is back
                    log.exception("import job %s failed", job_id)
                    session.rollback()
                    with session.begin():
                        job_store.fail_job(session, job_id=job_id, error=f"the import failed unexpectedly: {exc}")
        path.unlink(missing_ok=True)

    def _resume(self) -> None:
        resumed: list[uuid.UUID] = []
        with transaction(self._sessions) as session:
            unfinished = job_store.unfinished_jobs(session)
            for job in unfinished:
                if job.created_at >= self._started_at:
                    continue  # queued by this process: already submitted
                path = job_store.upload_path(self._data_dir, job.id)
                if path.exists():
                    job.status = job_store.ImportStatus.QUEUED.value
                    resumed.append(job.id)
                else:
                    job_store.fail_job(session, job_id=job.id, error=_gone(path))
            keep = {f"{job.id}.upload" for job in unfinished}
        for job_id in resumed:
            log.info("resuming import job %s left unfinished by a previous API", job_id)
            self._executor.submit(self._retrying, f"import job {job_id}", partial(self._run, job_id))
        # Files no job will read: a job's row was never stored, or it finished without removing its file.
        folder = job_store.uploads_dir(self._data_dir)
        for file in folder.glob("*.upload") if folder.is_dir() else []:
            if file.name not in keep and file.stat().st_mtime < self._started_at.timestamp():
                file.unlink(missing_ok=True)


def _gone(path: Path) -> str:
    return f"the uploaded file ({path}) is gone, so the import cannot be resumed; upload it again"
