"""CRUD for reports, their snapshots and components. Writes are idempotent so activity retries are safe."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pydantic_core
from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Select,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload, selectinload, undefer

from workbench import collector
from workbench.access import Principal
from workbench.storage import surveys as survey_store
from workbench.storage.models import (
    ComponentStatus,
    Report,
    ReportComponent,
    ReportDocument,
    ReportDownload,
    ReportSnapshot,
    ReportStatus,
    utcnow,
)
from workbench.surveys.schema import ResponseRecord, Snapshot


def create_report(
    session: Session,
    *,
    organization_id: uuid.UUID,
    survey_id: uuid.UUID,
    component_names: list[str],
    parameters: dict[str, dict[str, Any]] | None = None,
    required_roles: list[str] | None = None,
) -> Report:
    """Add a queued report with one pending row per component (flushed, not committed)."""
    report = Report(
        organization_id=organization_id,
        survey_id=survey_id,
        component_names=list(component_names),
        parameters=dict(parameters or {}),
        status=ReportStatus.QUEUED,
        required_roles=sorted(set(required_roles)) if required_roles else None,
    )
    report.components = [
        ReportComponent(component_type=name, position=i, status=ComponentStatus.PENDING)
        for i, name in enumerate(component_names)
    ]
    session.add(report)
    session.flush()
    return report


def get_report(session: Session, *, organization_id: uuid.UUID, report_id: uuid.UUID,
               with_results: bool = True) -> Report | None:
    """The report, if it belongs to `organization_id` (a caller's: another organization's is not found).

    `with_results=False` leaves the components' results and provenance unloaded until read (each then loads
    on its own): the status, the ETag and most routes need neither, and decoding them was most of a status read.
    """
    report = _get(session, report_id, with_results)
    if report is None or report.organization_id != organization_id:
        return None
    return report


def _get(session: Session, report_id: uuid.UUID, with_results: bool) -> Report | None:
    if with_results:
        return session.get(Report, report_id)
    return session.get(Report, report_id, options=_WITHOUT_RESULTS)


# Built once: a fresh option per call cost more to build and cache-key than the query it shapes.
_WITHOUT_RESULTS = [selectinload(Report.components).defer(ReportComponent.result).defer(ReportComponent.provenance)]
# For queries of many reports whose callers show none of their components: `Report.components` is otherwise
# loaded for every row, results included. A component still loads if asked for (one query for that report).
WITHOUT_COMPONENTS = lazyload(Report.components)


@dataclass(frozen=True)
class ReportVersion:
    """What the hot read routes need before they decide to load a report: whose it is, who may read it,
    whether it is finished, and its ETag. One query of a few columns, no results, no ORM objects."""

    id: uuid.UUID
    organization_id: uuid.UUID
    required_roles: list[str] | None
    status: ReportStatus
    etag: str


def _etag(report: tuple[Any, ...], components: list[tuple[Any, ...]]) -> str:
    report_id, status, run_number, completed_at, error = report
    parts = [str(report_id), status.value, str(run_number), str(completed_at), error or ""]
    parts += [f"{name}:{c_status.value}:{done}/{total}:{attempts}:{c_completed}"
              for name, c_status, done, total, attempts, c_completed in components]
    return 'W/"' + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32] + '"'


def report_etag(report: Report) -> str:
    """A weak validator of everything the status and the report JSON show: it changes when the report or any
    component moves (status, cells, attempts, completion, a rerun). `report_version` computes the same from
    the columns alone."""
    return _etag((report.id, report.status, report.run_number, report.completed_at, report.error),
                 [(c.component_type, c.status, c.cells_done, c.cells_total, c.attempts, c.completed_at)
                  for c in report.components])


# Built once, run through the session's connection: building the statement and the ORM's handling of it cost
# three times the query itself, on every status poll.
_VERSION = (
    select(Report.organization_id, Report.required_roles, Report.status, Report.run_number, Report.completed_at,
           Report.error, ReportComponent.component_type, ReportComponent.status, ReportComponent.cells_done,
           ReportComponent.cells_total, ReportComponent.attempts, ReportComponent.completed_at)
    .outerjoin(ReportComponent, ReportComponent.report_id == Report.id)
    .where(Report.id == bindparam("report_id")).order_by(ReportComponent.position))


def report_version(session: Session, *, report_id: uuid.UUID) -> ReportVersion | None:
    """The report's `ReportVersion` (any organization's: the caller checks), or None."""
    rows = session.connection().execute(_VERSION, {"report_id": report_id}).all()
    if not rows:
        return None
    org, roles, status, run_number, completed_at, error = rows[0][:6]
    components = [tuple(row[6:]) for row in rows if row[6] is not None]
    return ReportVersion(id=report_id, organization_id=org, required_roles=roles, status=status,
                         etag=_etag((report_id, status, run_number, completed_at, error), components))


def load_report(session: Session, *, report_id: uuid.UUID, with_results: bool = True) -> Report | None:
    """The report by id alone, for the workers and the operator's CLI, which act for no caller (never a route:
    a route asks `get_report` with its caller's organization). `with_results` as for `get_report`."""
    return _get(session, report_id, with_results)


def count_active_reports(session: Session, *, organization_id: uuid.UUID) -> int:
    """The organization's reports queued or running."""
    return session.scalar(select(func.count()).select_from(Report).where(
        Report.organization_id == organization_id,
        Report.status.in_([ReportStatus.QUEUED, ReportStatus.RUNNING]))) or 0


def list_reports(
    session: Session,
    *,
    organization_id: uuid.UUID,
    survey_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
    readable_by: Principal | None = None,
) -> list[Report]:
    """Reports newest first, without their components (`WITHOUT_COMPONENTS`): a list shows none."""
    stmt = select(Report).options(WITHOUT_COMPONENTS).where(Report.organization_id == organization_id)
    if readable_by is not None:  # leave out what the caller's role may not read (required_roles)
        hidden = _hidden_ids(session, organization_id, readable_by)
        if hidden:
            stmt = stmt.where(Report.id.not_in(hidden))
    if survey_id is not None:
        stmt = stmt.where(Report.survey_id == survey_id)
    return list(session.scalars(stmt.order_by(Report.created_at.desc()).limit(limit).offset(offset)))


def _hidden_ids(session: Session, organization_id: uuid.UUID, principal: Principal) -> list[uuid.UUID]:
    """The organization's reports whose `required_roles` leave the caller out (restricted reports are few)."""
    restricted = session.execute(select(Report.id, Report.required_roles).where(
        Report.organization_id == organization_id, Report.required_roles.is_not(None))).all()
    return [rid for rid, roles in restricted if not principal.may_read(roles)]


def set_report_status(
    session: Session, *, report_id: uuid.UUID, status: ReportStatus, error: str | None = None
) -> None:
    values: dict[str, Any] = {"status": status, "error": error}
    if status is ReportStatus.RUNNING:
        values["started_at"] = utcnow()
    if status.finished:
        values["completed_at"] = utcnow()
    session.execute(update(Report).where(Report.id == report_id).values(**values))


def save_snapshot(session: Session, *, report_id: uuid.UUID, snapshot: Snapshot) -> None:
    """Store the report's input once; a retry leaves the snapshot already stored."""
    save_snapshot_document(session, report_id=report_id, document=snapshot.model_dump_json().encode(),
                           response_count=len(snapshot.responses))


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def save_snapshot_document(session: Session, *, report_id: uuid.UUID, document: bytes, response_count: int) -> None:
    """Store the report's input, given as the snapshot's JSON (`Snapshot.model_dump_json`), once; a retry leaves the
    snapshot already stored.

    The JSON goes to the database as it is, its UTF-8 bytes made text there (and JSONB on PostgreSQL): a Python
    copy of the document for the driver to serialise again was the largest thing a worker held while preparing a
    large survey."""
    if snapshot_response_count(session, report_id=report_id) is not None:
        return
    statement = _INSERT_SNAPSHOT_PG if _on_postgresql(session) else _INSERT_SNAPSHOT
    session.execute(statement, {"report_id": report_id, "response_count": response_count,
                                "data": document, "created_at": utcnow()})


# The values are execution parameters, never part of the statement: a statement holding the document would be
# kept by SQLAlchemy's statement cache (hundreds of MB for a large survey). The document goes as its UTF-8 bytes
# and the database makes it text: decoded in Python it became a str of up to four bytes a character (one emoji
# in the answers is enough) plus the driver's UTF-8 copy of it, about 5x the document at 200,000 responses.
_DOCUMENT_BYTES = bindparam("data", type_=LargeBinary)
_INSERT_SNAPSHOT = insert(ReportSnapshot).values(
    report_id=bindparam("report_id"), response_count=bindparam("response_count"),
    data=cast(_DOCUMENT_BYTES, Text), created_at=bindparam("created_at"))
_INSERT_SNAPSHOT_PG = _INSERT_SNAPSHOT.values(data=cast(func.convert_from(_DOCUMENT_BYTES, "UTF8"), JSONB))


def load_snapshot(session: Session, *, report_id: uuid.UUID) -> Snapshot | None:
    """The report's snapshot, validated from the stored JSON text as it is (pydantic parses it straight into the
    models: decoding it into Python dicts first held a second copy, the largest on a survey of 200,000 answers)."""
    text = session.execute(select(cast(ReportSnapshot.data, Text)).where(
        ReportSnapshot.report_id == report_id)).scalar()
    return None if text is None else Snapshot.model_validate_json(text)


def load_snapshot_document(session: Session, *, report_id: uuid.UUID) -> survey_store.SnapshotJson | None:
    """The report's snapshot as `load_snapshot(...).model_dump_json()` gives it (the stored text may differ: JSONB
    orders keys its own way), validated and written a slice of responses at a time.

    The database hands the responses over one at a time as JSON text (SQLite's `json_each`, PostgreSQL's
    `jsonb_array_elements` behind a server-side cursor), so the worker never parses the whole document at once:
    on a survey of 200,000 answers that parse was most of the worker's peak memory."""
    survey_text = session.execute(_SNAPSHOT_SURVEY[_on_postgresql(session)],
                                  {"report_id": report_id}).scalar()
    if survey_text is None:
        return None
    with collector.paused():
        return survey_store.snapshot_json(pydantic_core.from_json(survey_text),
                                          _stored_responses(session, report_id))


def _snapshot_responses(postgresql: bool) -> Select[int, str]:
    # The table function after the table it reads, joined on nothing: PostgreSQL takes a function in FROM as
    # LATERAL, SQLite's table-valued functions read the columns to their left.
    if postgresql:
        items = func.jsonb_array_elements(ReportSnapshot.data["responses"]).table_valued(
            "value", with_ordinality="position").render_derived(name="items")
        columns: tuple[ColumnElement[Any], ...] = (items.c.position - 1, cast(items.c.value, Text))
    else:
        items = func.json_each(ReportSnapshot.data, "$.responses").table_valued("key", "value")
        columns = (items.c.key, items.c.value)
    return (select(*columns).select_from(ReportSnapshot).join(items, true())
            .where(ReportSnapshot.report_id == bindparam("report_id")))


_SNAPSHOT_SURVEY = tuple(select(survey).where(ReportSnapshot.report_id == bindparam("report_id")) for survey in (
    func.json_extract(ReportSnapshot.data, "$.survey"), cast(ReportSnapshot.data["survey"], Text)))
_SNAPSHOT_RESPONSES = (_snapshot_responses(False), _snapshot_responses(True))


def _stored_responses(session: Session, report_id: uuid.UUID) -> Iterator[list[ResponseRecord]]:
    """The stored snapshot's responses, validated a slice at a time, in their order in the document."""
    statement = _SNAPSHOT_RESPONSES[_on_postgresql(session)]
    rows = session.execute(statement.execution_options(yield_per=survey_store.SNAPSHOT_ROWS_AT_ONCE),
                           {"report_id": report_id})
    expected = 0
    for part in rows.partitions():
        # The table functions give the array's items in order: checked rather than sorted (a sort would hold
        # them all), so a database that ever did otherwise fails loudly instead of reordering the responses.
        if any(position != expected + i for i, (position, _) in enumerate(part)):
            raise AssertionError(f"snapshot responses of report {report_id} came out of order")
        expected += len(part)
        yield survey_store.RECORDS.validate_json("[" + ",".join(text for _, text in part) + "]")
        del part


def get_component(
    session: Session, *, report_id: uuid.UUID, name: str, with_documents: bool = False
) -> ReportComponent | None:
    stmt = select(ReportComponent).where(ReportComponent.report_id == report_id, ReportComponent.component_type == name)
    if with_documents:
        stmt = stmt.options(undefer(ReportComponent.html), undefer(ReportComponent.notebook))
    return session.scalars(stmt).one_or_none()


def _component_for_update(session: Session, report_id: uuid.UUID, name: str) -> ReportComponent:
    row = get_component(session, report_id=report_id, name=name)
    if row is None:  # a component requested after creation; the unique constraint keeps it to one row
        row = ReportComponent(report_id=report_id, component_type=name, status=ComponentStatus.PENDING)
        session.add(row)
        session.flush()
    return row


def start_component(session: Session, *, report_id: uuid.UUID, name: str, cells_total: int) -> int:
    """Mark a component running (again, on a retry); returns the attempt number."""
    row = _component_for_update(session, report_id, name)
    row.status = ComponentStatus.RUNNING
    row.attempts += 1
    row.cells_done, row.cells_total = 0, cells_total
    row.started_at, row.completed_at, row.error = utcnow(), None, None
    return row.attempts


def set_component_progress(session: Session, *, report_id: uuid.UUID, name: str, cells_done: int) -> None:
    session.execute(
        update(ReportComponent)
        .where(ReportComponent.report_id == report_id, ReportComponent.component_type == name)
        .values(cells_done=cells_done)
    )


def finish_component(
    session: Session,
    *,
    report_id: uuid.UUID,
    name: str,
    status: ComponentStatus,
    result: dict[str, Any] | None,
    html: str | None,
    notebook: str | None,
    error: dict[str, Any] | None,
    cells_done: int | None = None,
    completed_at: datetime | None = None,
    provenance: dict[str, Any] | None = None,
) -> None:
    """Record a component's outcome, replacing whatever an earlier attempt stored."""
    row = _component_for_update(session, report_id, name)
    row.status = status
    row.result, row.html, row.notebook, row.error = result, html, notebook, error
    row.provenance = provenance
    if cells_done is not None:
        row.cells_done = cells_done
    row.completed_at = completed_at or utcnow()


def skip_component(session: Session, *, report_id: uuid.UUID, name: str, reason: str) -> None:
    """Mark a component skipped: it never ran, because a component it needs did not complete."""
    row = _component_for_update(session, report_id, name)
    row.status = ComponentStatus.SKIPPED
    row.result = row.html = row.notebook = None
    row.error = {"message": reason, "ename": "Skipped"}
    row.completed_at = utcnow()


def fail_unfinished_component(*, row: ReportComponent, message: str) -> None:
    """Close a component the workflow gave up on; whatever an attempt stored stays for diagnosis."""
    row.status = ComponentStatus.FAILED
    row.error = {**(row.error or {}), "message": message}
    row.completed_at = utcnow()


def cancel_unfinished_components(session: Session, *, report_id: uuid.UUID, reason: str) -> list[str]:
    """Mark the report's pending and running components cancelled; returns their names."""
    rows = session.scalars(select(ReportComponent).where(ReportComponent.report_id == report_id)
                           .with_for_update()).all()
    cancelled = []
    for row in rows:
        if not row.status.finished:
            row.status = ComponentStatus.CANCELLED
            row.error = {**(row.error or {}), "message": reason, "ename": "Cancelled"}
            row.completed_at = utcnow()
            cancelled.append(row.component_type)
    return cancelled


def get_document(session: Session, *, report_id: uuid.UUID, kind: str, template_version: str) -> bytes | None:
    """A stored rendered document of the report, or None."""
    return session.connection().execute(_DOCUMENT, {"report_id": report_id, "kind": kind,
                                                    "template_version": template_version}).scalar()


_DOCUMENT = select(ReportDocument.content).where(  # built once, as `_VERSION`: the PDF route asks it per download
    ReportDocument.report_id == bindparam("report_id"), ReportDocument.kind == bindparam("kind"),
    ReportDocument.template_version == bindparam("template_version"))


def save_document(
    session: Session, *, report_id: uuid.UUID, kind: str, template_version: str, content: bytes,
    render_seconds: float | None = None,
) -> None:
    """Store a rendered document; when two renders race, the first stored wins (both are the same report)."""
    if session.get(ReportDocument, (report_id, kind, template_version)) is not None:
        return
    try:
        with session.begin_nested():  # a savepoint, so losing the race keeps the caller's transaction usable
            session.add(ReportDocument(
                report_id=report_id, kind=kind, template_version=template_version, content=content,
                size=len(content), sha256=hashlib.sha256(content).hexdigest(), render_seconds=render_seconds))
    except IntegrityError:  # stored by a concurrent download meanwhile
        pass


def delete_documents(session: Session, *, report_id: uuid.UUID) -> int:
    """Forget the report's rendered documents (its results changed); returns how many."""
    result = session.execute(delete(ReportDocument).where(ReportDocument.report_id == report_id))
    return int(getattr(result, "rowcount", 0) or 0)


def record_download(session: Session, *, report_id: uuid.UUID, kind: str, who: str | None, cached: bool,
                    size: int) -> None:
    session.add(ReportDownload(report_id=report_id, kind=kind, who=who, cached=cached, size=size))


def downloads(session: Session, *, report_id: uuid.UUID) -> list[ReportDownload]:
    return list(session.scalars(select(ReportDownload).where(ReportDownload.report_id == report_id)
                                .order_by(ReportDownload.id)))


def component_results(session: Session, *, report_id: uuid.UUID, names: list[str]) -> dict[str, dict[str, Any]]:
    """The stored results of the completed components among `names`."""
    stmt = select(ReportComponent.component_type, ReportComponent.result).where(
        ReportComponent.report_id == report_id, ReportComponent.component_type.in_(names),
        ReportComponent.status == ComponentStatus.COMPLETED,
    )
    return {name: result for name, result in session.execute(stmt) if result is not None}


def snapshot_response_count(session: Session, *, report_id: uuid.UUID) -> int | None:
    return session.scalar(select(ReportSnapshot.response_count).where(ReportSnapshot.report_id == report_id))


def component_documents(
    session: Session, *, report_id: uuid.UUID, with_notebooks: bool = True
) -> list[ReportComponent]:
    """Every component of a report with its HTML (and executed notebook, unless `with_notebooks=False`: the page
    and the PDF show the HTML only, and a notebook with its figures can be megabytes) loaded, in report order."""
    documents = [undefer(ReportComponent.html)] + ([undefer(ReportComponent.notebook)] if with_notebooks else [])
    stmt = (
        select(ReportComponent)
        .where(ReportComponent.report_id == report_id)
        .options(*documents)
        .order_by(ReportComponent.position)
    )
    return list(session.scalars(stmt))


def queued_reports(session: Session, *, older_than: timedelta) -> list[Report]:
    """Reports still waiting to start after `older_than` (for recovery of runs whose start was lost). A batch's
    reports are left out: their batch's workflow starts them, a few at a time."""
    stmt = select(Report).where(Report.status == ReportStatus.QUEUED, Report.created_at < utcnow() - older_than,
                                Report.batch_id.is_(None))
    return list(session.scalars(stmt.order_by(Report.created_at)))
