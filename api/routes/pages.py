"""Server-rendered pages for people: the report page."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import OrganizationDep, SessionDep
from api.routes.reports import report_or_404
from workbench.rendering.page import REPORT_PAGE_CSP
from workbench.report_views import report_page

router = APIRouter(tags=["pages"])


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def get_report_page(report_id: uuid.UUID, session: SessionDep, org: OrganizationDep) -> HTMLResponse:
    """The rendered report (also while it runs: it shows each component's progress)."""
    report = report_or_404(session, org, report_id)
    return HTMLResponse(report_page(session, report), headers={
        "Content-Security-Policy": REPORT_PAGE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    })
