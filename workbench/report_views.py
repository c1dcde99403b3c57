"""Compose a stored report for people: the report page and the PDF, from the components in the database."""

from __future__ import annotations

import nbformat
from sqlalchemy.orm import Session

from workbench.components import components
from workbench.rendering.page import ComponentView, ReportView, render_report_page
from workbench.rendering.pdf import render_report_pdf
from workbench.storage import reports as store
from workbench.storage import surveys as survey_store
from workbench.storage.models import ComponentStatus, Report

HEADLINE_KEYS = ("response_count", "completed_count", "completion_rate", "avg_completion_seconds", "nps")


def _title(name: str) -> str:
    return components.get(name).title if name in components else name


def survey_title(session: Session, report: Report) -> str:
    survey = survey_store.get_survey(session, organization_id=report.organization_id, survey_id=report.survey_id)
    return survey.title if survey is not None else "(deleted survey)"


def report_view(session: Session, report: Report) -> ReportView:
    rows = store.component_documents(session, report_id=report.id)
    basic = next((r for r in rows if r.component_type == "basic_stats" and r.result), None)
    headline = {k: basic.result.get(k) for k in HEADLINE_KEYS} if basic and basic.result else {}
    return ReportView(
        report_id=str(report.id),
        survey_title=survey_title(session, report),
        status=report.status,
        created_at=report.created_at,
        completed_at=report.completed_at,
        headline=headline,
        components=[
            ComponentView(name=r.component_type, title=_title(r.component_type), status=r.status, html=r.html,
                          error=r.error, cells_done=r.cells_done, cells_total=r.cells_total)
            for r in rows
        ],
        pdf_url=f"/api/v1/reports/{report.id}/pdf",
        status_url=f"/api/v1/reports/{report.id}/status",
        notebooks_base_url=f"/api/v1/reports/{report.id}/notebooks",
    )


def report_page(session: Session, report: Report) -> str:
    return render_report_page(report_view(session, report))


def report_pdf(session: Session, report: Report, chromium_path: str | None) -> bytes:
    """Render the report's executed notebooks as one PDF (raises ChromiumUnavailable without a browser)."""
    rows = store.component_documents(session, report_id=report.id)
    sections = [
        (_title(r.component_type), nbformat.reads(r.notebook, as_version=4))
        for r in rows
        if r.notebook and r.status in (ComponentStatus.COMPLETED, ComponentStatus.FAILED)
    ]
    return render_report_pdf(survey_title(session, report), sections, chromium_path)
