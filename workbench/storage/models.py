"""Database tables (SQLAlchemy 2.x). The same schema serves SQLite and PostgreSQL; JSON becomes JSONB there."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from workbench.statuses import ComponentStatus, ReportStatus

JSONType = JSON().with_variant(JSONB(), "postgresql")
DEFAULT_ORGANIZATION_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")  # seeded by migration 0001


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        # SQLite returns naive values; PostgreSQL returns the connection's zone: both become UTC.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


def _status_column(enum: type[StrEnum]) -> Enum:
    # Stored as the value in a VARCHAR (no database enum type to migrate when a state is added).
    return Enum(enum, native_enum=False, create_constraint=False, length=20,
                values_callable=lambda members: [m.value for m in members], validate_strings=True)


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Reports older than this many days are purged by the workers' sweep (workbench.storage.deletion); None: kept.
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Keys of the declared segment questions (SurveyDefinition.segments); None when none are declared.
    segments: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)

    questions: Mapped[list[Question]] = relationship(
        order_by="Question.position", cascade="all, delete-orphan", lazy="selectin"
    )


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("survey_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(63))
    type: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    required: Mapped[bool] = mapped_column(default=False)
    # The kind's other definition fields (min, max, labels, format) and required_if; None when there are none.
    # One JSON column, so a new kind's fields need no migration.
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("survey_id", "respondent_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    respondent_id: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None]  # None: unknown (exports without times)
    completed_at: Mapped[datetime | None]
    answers: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(Base):
    __tablename__ = "generated_reports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id"), index=True)
    status: Mapped[ReportStatus] = mapped_column(_status_column(ReportStatus), default=ReportStatus.QUEUED)
    component_names: Mapped[list[Any]]
    # Per-component parameters the request set ({"themes": {"n_themes": 8}}); defaults come from the notebooks.
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # 0: the first run; each rerun of a component counts one up (its workflow id says which run it is).
    run_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Roles that may read the report (admins always may); None: everyone of its organization.
    required_roles: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    # The batch that made the report (report_batches.id) and its place in it; None for a report asked alone. No
    # foreign key: SQLite cannot add one to this table without rebuilding it (batches are never deleted).
    batch_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    batch_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Only the responses answering `question` with `value` go into the snapshot ({"question": "plan",
    # "value": "Free"}: a per-segment report of a batch); None: every response.
    segment_filter: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # The schedule that made the report (report_schedules.id) and the run that did (the scheduled workflow's id);
    # None for a report asked otherwise. No foreign key, as for batch_id (a deleted schedule's reports stay).
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    schedule_run: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    components: Mapped[list[ReportComponent]] = relationship(
        order_by="ReportComponent.position", cascade="all, delete-orphan", lazy="selectin"
    )


class ReportSnapshot(Base):
    """The frozen survey and responses a report was computed from (reproducible, shared by all workers)."""

    __tablename__ = "report_snapshots"

    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generated_reports.id", ondelete="CASCADE"), primary_key=True
    )
    response_count: Mapped[int]
    # Deferred: the document of a large survey is hundreds of MB as Python objects; only a select of it loads it.
    data: Mapped[dict[str, Any]] = mapped_column(deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportComponent(Base):
    """One row per report and component, however often its activity is retried."""

    __tablename__ = "report_components"
    __table_args__ = (UniqueConstraint("report_id", "component_type"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generated_reports.id", ondelete="CASCADE"), index=True
    )
    component_type: Mapped[str] = mapped_column(String(100), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[ComponentStatus] = mapped_column(_status_column(ComponentStatus), default=ComponentStatus.PENDING)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    html: Mapped[str | None] = mapped_column(Text, deferred=True)
    notebook: Mapped[str | None] = mapped_column(Text, deferred=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    cells_done: Mapped[int] = mapped_column(Integer, default=0)
    cells_total: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # What produced the result: notebook hash and commit, parameters, kernel and package versions, input hash.
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class ReportDocument(Base):
    """A rendered document of a finished report (the PDF), kept per template version so a download after the
    first is served from storage; a rerun of a component deletes the report's documents."""

    __tablename__ = "report_documents"

    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generated_reports.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # "pdf"
    template_version: Mapped[str] = mapped_column(String(40), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    render_seconds: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportDownload(Base):
    """Who downloaded what of a report, and when (who: the caller once access control exists)."""

    __tablename__ = "report_downloads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("generated_reports.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    who: Mapped[str | None] = mapped_column(String(200))
    cached: Mapped[bool]
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(Base):
    """Where an organization wants report events sent, signed with the endpoint's secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[Any]]  # event types, e.g. ["report.completed", "report.failed"]
    secret: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint, however many attempts it takes; (endpoint, event id) is unique, so a retried
    notification never sends an event twice."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(50))
    report_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    body: Mapped[str] = mapped_column(Text)  # the exact JSON that is signed and sent
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """Every attempt of a delivery: the answer's status code, latency and error."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
                                                   index=True)
    status_code: Mapped[int | None]
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReceivedWebhook(Base):
    """Events the receiving endpoint accepted (by `webhook-id`): a replay of one is refused."""

    __tablename__ = "received_webhooks"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_type: Mapped[str | None] = mapped_column(String(50))
    report_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str | None] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImportJob(Base):
    """A response import too large to answer synchronously, processed in the background by the API.

    The upload waits in a file (`<data_dir>/imports/<id>.upload`) until the job ends; `status` is one of
    `workbench.storage.imports.ImportStatus`. `issues` holds the reasons a rejected import was rejected.
    """

    __tablename__ = "import_jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    format: Mapped[str] = mapped_column(String(20))
    size_bytes: Mapped[int] = mapped_column(Integer)
    imported: Mapped[int | None] = mapped_column(Integer)
    response_count: Mapped[int | None] = mapped_column(Integer)
    # Up to MAX_REPORTED_ISSUES of {"row", "field", "message"}; `issue_total` counts them all.
    issues: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    issue_total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # What the upload declared (an `ImportMapping` as JSON: columns, separator, timestamp format, on_duplicate);
    # None: the defaults. Kept with the job so a job resumed after a restart imports as requested.
    options: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class LLMCacheEntry(Base):
    """A model's reply, keyed by the sha256 of model, prompt version, messages and schema: a rerun costs nothing."""

    __tablename__ = "llm_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(100))
    response: Mapped[dict[str, Any]]
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LLMUsage(Base):
    """One model call (or cache hit) charged to a report's component: the token ledger behind the budget."""

    __tablename__ = "llm_usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # No foreign key: a call outside any report has none (deleting a report deletes its rows: storage.deletion).
    report_id: Mapped[str | None] = mapped_column(String(64), index=True)
    component: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The reply-cache key (llm_cache.key) this call used or filled: deleting the report deletes that reply too.
    cache_key: Mapped[str | None] = mapped_column(String(64), index=True)


class EmbeddingPurge(Base):
    """An embedding-cache key (sha256 of an answer's text) of a deleted survey: each worker's sweep removes it from
    its own on-disk cache (`<data_dir>/cache`); rows are dropped after `deletion.EMBEDDING_PURGE_DAYS`."""

    __tablename__ = "embedding_purges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class User(Base):
    """A person (or a service) of an organization; API keys belong to users."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored; `prefix` (unique) finds the row for a presented key."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # workbench.access.Role
    prefix: Mapped[str] = mapped_column(String(20), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class WebSession(Base):
    """A web sign-in: the cookie holds the token, the row its hash, the key it was made with and its CSRF token.
    Revoking the key ends its sessions."""

    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ShareLink(Base):
    """A link that lets someone outside the organization read one report and its PDF until it expires or is
    revoked; every use is counted here and written to the audit log."""

    __tablename__ = "share_links"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("generated_reports.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    uses: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Who did what: imports, report starts, cancels and reruns, downloads, key, share-link and webhook changes."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str | None] = mapped_column(String(50))
    object_id: Mapped[str | None] = mapped_column(String(100))
    status_code: Mapped[int | None]
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)


class ReportBatch(Base):
    """Many reports asked at once (`POST /api/v1/report-batches`): one item per report to make, each a survey and
    optionally one segment of it; the `BatchReportWorkflow` creates and runs them a few at a time. The reports
    name their batch (`generated_reports.batch_id`, `batch_index`): progress is counted from them."""

    __tablename__ = "report_batches"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    # [{"survey_id": "...", "segment": {"question": "plan", "value": "Free"} | None}, ...], in the reports' order.
    items: Mapped[list[Any]]
    split_by: Mapped[str | None] = mapped_column(String(63))
    component_names: Mapped[list[Any]]
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    concurrency: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | completed | failed
    # Items that could not become a report ({"<index>": "why"}: the survey was deleted or emptied meanwhile).
    item_errors: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


# One report per batch item, however often the activity creating it is retried (also finds a batch's reports).
Index("ix_generated_reports_batch_item", Report.batch_id, Report.batch_index, unique=True)


class ReportSchedule(Base):
    """A recurring report (`POST /api/v1/schedules`): the organization and survey it belongs to, when it runs (a
    cron expression or an interval, in a time zone) and what (components, parameters). The Temporal Schedule that
    fires it has the row's id (`workers.schedules`); each run makes one report naming it (`Report.schedule_id`).
    Deleting the survey deletes its schedules (`workbench.storage.deletion`)."""

    __tablename__ = "report_schedules"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    survey_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("surveys.id"), index=True)
    cron: Mapped[str | None] = mapped_column(String(200))  # either this
    interval_seconds: Mapped[int | None] = mapped_column(Integer)  # or this
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")  # IANA name the cron expression reads in
    component_names: Mapped[list[Any]]
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    paused: Mapped[bool] = mapped_column(default=False)  # as last set through the API (Temporal holds the state)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_run_at: Mapped[datetime | None]  # when it last fired
    last_error: Mapped[str | None] = mapped_column(Text)  # why that run made no report (None: it made one)


# One report per scheduled run, however often the step making it is retried (also finds a schedule's reports).
Index("ix_generated_reports_schedule_run", Report.schedule_id, Report.schedule_run, unique=True)
