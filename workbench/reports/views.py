"""A stored report as people see it: its status and progress (the API maps them onto its schemas, the CLI
prints them), the report page and the PDF."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from workbench.components import components
from workbench.rendering.page import ComponentView, FindingsView, ReportView, render_report_page, summary_view
from workbench.rendering.pdf import PDF_TEMPLATE_VERSION, render_report_pdf
from workbench.reports.links import ReportLinks
from workbench.storage import reports as store
from workbench.storage import surveys as survey_store
from workbench.storage.models import ComponentStatus, Organization, Report, ReportComponent, ReportStatus

# The report's headline figures come from this component's result, when the report ran it.
HEADLINE_COMPONENT = "basic_stats"
HEADLINE_KEYS = ("response_count", "completion_known", "completed_count", "completion_rate", "timed_count",
                 "avg_completion_seconds", "nps", "period")
# The page opens with the top findings of this component's result, when the report ran it.
FINDINGS_COMPONENT = "segments"
# The page and the PDF open with this component's statements, when the report ran it.
SUMMARY_COMPONENT = "summary"
MAX_KEY_FINDINGS = 5


def component_title(name: str) -> str:
    return components.get(name).title if name in components else name


@dataclass(frozen=True)
class ComponentStatusView:
    name: str
    title: str
    status: ComponentStatus
    progress: float  # share of cells executed, 0..1 (1 once finished, whatever the outcome)
    cells_done: int
    cells_total: int
    attempts: int
    error: dict[str, Any] | None
    started_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class ReportStatusView:
    report_id: uuid.UUID
    survey_id: uuid.UUID
    status: ReportStatus
    progress: float
    error: str | None
    failed_components: list[str]  # failed or skipped: those without a result
    components: list[ComponentStatusView]
    parameters: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    links: ReportLinks
    schedule_id: uuid.UUID | None = None  # the schedule whose run made it
    batch_id: uuid.UUID | None = None  # the batch it belongs to


def component_status_view(c: ReportComponent) -> ComponentStatusView:
    if c.status.finished:
        progress = 1.0
    else:
        progress = min(c.cells_done / c.cells_total, 1.0) if c.cells_total else 0.0
    return ComponentStatusView(
        name=c.component_type, title=component_title(c.component_type), status=c.status, progress=progress,
        cells_done=c.cells_done, cells_total=c.cells_total, attempts=c.attempts, error=c.error,
        started_at=c.started_at, completed_at=c.completed_at,
    )


def report_status_view(report: Report, base_url: str = "") -> ReportStatusView:
    parts = [component_status_view(c) for c in report.components]
    # Each component weighs the same, so progress never goes back when a component learns its cell count.
    done = sum(p.progress for p in parts) / len(parts) if parts else 0.0
    return ReportStatusView(
        report_id=report.id, survey_id=report.survey_id, status=report.status,
        progress=1.0 if report.status.finished else round(done, 4), error=report.error,
        failed_components=[p.name for p in parts if p.status in (ComponentStatus.FAILED, ComponentStatus.SKIPPED)],
        components=parts, parameters=dict(report.parameters or {}), created_at=report.created_at,
        started_at=report.started_at, completed_at=report.completed_at, links=ReportLinks.of(report.id, base_url),
        schedule_id=report.schedule_id, batch_id=report.batch_id,
    )


def survey_title(session: Session, report: Report) -> str:
    survey = survey_store.get_survey(session, organization_id=report.organization_id, survey_id=report.survey_id)
    title = survey.title if survey is not None else "(deleted survey)"
    segment = report.segment_filter  # a per-segment report of a batch says which segment it is
    return f"{title} — {segment.get('question')}: {segment.get('value')}" if segment else title


def key_findings(result: dict[str, Any] | None, limit: int = MAX_KEY_FINDINGS) -> FindingsView | None:
    """The "Key findings" card from a `segments` result: its first `limit` sentences and how many more.

    Args:
        result: The component's stored result (None when it has none).
        limit: How many findings to show; the result lists them largest effect first.

    Returns:
        None without a result; otherwise the sentences as plain text (the page escapes them).
    """
    if not isinstance(result, dict):
        return None
    sentences = [f["finding"] for f in result.get("findings") or []
                 if isinstance(f, dict) and isinstance(f.get("finding"), str)]
    segment_by = [k for k in result.get("segment_by") or [] if isinstance(k, str)]
    note = result.get("note") if isinstance(result.get("note"), str) else None
    correction = result.get("correction") if isinstance(result.get("correction"), str) else None
    return FindingsView(sentences=sentences[:limit], more=max(len(sentences) - limit, 0), segment_by=segment_by,
                        correction=correction, note=note, component=FINDINGS_COMPONENT)


def report_page_view(session: Session, report: Report) -> ReportView:
    rows = store.component_documents(session, report_id=report.id, with_notebooks=False)
    basic = next((r for r in rows if r.component_type == HEADLINE_COMPONENT and r.result), None)
    headline = {k: basic.result.get(k) for k in HEADLINE_KEYS} if basic and basic.result else {}
    segments = next((r for r in rows if r.component_type == FINDINGS_COMPONENT and r.result), None)
    summary = next((r for r in rows if r.component_type == SUMMARY_COMPONENT and r.result), None)
    links = ReportLinks.of(report.id)
    return ReportView(
        report_id=str(report.id),
        survey_title=survey_title(session, report),
        status=report.status,
        created_at=report.created_at,
        completed_at=report.completed_at,
        headline=headline,
        components=[
            ComponentView(name=r.component_type, title=component_title(r.component_type), status=r.status,
                          html=r.html, error=r.error, cells_done=r.cells_done, cells_total=r.cells_total)
            for r in rows
        ],
        pdf_url=links.pdf,
        status_url=links.status,
        notebooks_base_url=links.notebooks,
        findings=key_findings(segments.result) if segments else None,
        summary=summary_view(summary.result) if summary else None,
        survey_id=str(report.survey_id),
        response_count=store.snapshot_response_count(session, report_id=report.id),
        json_url=links.report,
        organization=organization_name(session, report),
    )


def organization_name(session: Session, report: Report) -> str | None:
    org = session.get(Organization, report.organization_id)
    return org.name if org is not None else None


def report_page(session: Session, report: Report) -> str:
    return render_report_page(report_page_view(session, report))


class NoPdf(ValueError):
    """The report has no PDF to give: it failed or was cancelled."""


def stored_report_pdf(
    session: Session, report: Report, chromium_path: str | None, *, who: str | None = None,
) -> tuple[bytes, bool]:
    """The report's PDF and whether it came from storage: the first call renders and stores it (per template
    version), later calls read it back. Every call is recorded as a download by `who`.

    Raises:
        NoPdf: A failed or cancelled report (nothing to read).
        ChromiumUnavailable: Rendering was needed and no browser could start.
    """
    pdf, cached = ensure_stored_pdf(session, report, chromium_path)
    store.record_download(session, report_id=report.id, kind="pdf", who=who, cached=cached, size=len(pdf))
    session.commit()
    return pdf, cached


def ensure_stored_pdf(session: Session, report: Report, chromium_path: str | None) -> tuple[bytes, bool]:
    """The stored PDF of the report, rendered and stored first if missing; (pdf, whether it was stored already).
    The caller commits. Raises `NoPdf` or `ChromiumUnavailable` as `stored_report_pdf`."""
    if report.status in (ReportStatus.FAILED, ReportStatus.CANCELLED):
        raise NoPdf(f"report {report.id} {report.status.value}: it has no PDF"
                    + (f" ({report.error})" if report.error else ""))
    pdf = store.get_document(session, report_id=report.id, kind="pdf", template_version=PDF_TEMPLATE_VERSION)
    if pdf is not None:
        return pdf, True
    started = time.perf_counter()
    pdf = report_pdf(session, report, chromium_path)
    store.save_document(session, report_id=report.id, kind="pdf", template_version=PDF_TEMPLATE_VERSION,
                        content=pdf, render_seconds=round(time.perf_counter() - started, 3))
    return pdf, False


def report_pdf(session: Session, report: Report, chromium_path: str | None) -> bytes:
    """Print the composed report (what the page shows when done) as a PDF (raises ChromiumUnavailable)."""
    return render_report_pdf(report_page_view(session, report), chromium_path)
