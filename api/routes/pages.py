"""Server-rendered pages for people: the report page."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import ReportDep, SessionDep
from api.schemas import error_responses
from workbench.rendering.page import REPORT_PAGE_CSP
from workbench.reports.views import report_page

router = APIRouter(tags=["pages"])


@router.get("/reports/{report_id}", response_class=HTMLResponse, responses=error_responses(404, 503, json_only=True))
def get_report_page(report: ReportDep, session: SessionDep) -> HTMLResponse:
    """The rendered report (also while it runs: it shows each component's progress)."""
    return HTMLResponse(report_page(session, report), headers={
        "Content-Security-Policy": REPORT_PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    })
