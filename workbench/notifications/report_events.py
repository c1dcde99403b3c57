"""A finished report's event for the organization's webhook endpoints: recorded once per endpoint."""

from __future__ import annotations

import json
import uuid

from sqlalchemy.orm import Session, sessionmaker

from workbench.notifications.webhooks import event_type, report_event
from workbench.reports.links import ReportLinks
from workbench.storage import reports as report_store
from workbench.storage import webhooks as store
from workbench.storage.db import transaction


def event_id(report_id: uuid.UUID, run: int, status: str) -> str:
    """Stable per report run and outcome: a retried notification sends the same id (receivers drop repeats)."""
    return f"evt_{report_id}.{run}.{status}"


def record_report_event(sessions: sessionmaker[Session], report_id: uuid.UUID, status: str,
                        base_url: str) -> list[str]:
    """Record the delivery of the report's `status` event to each subscribed endpoint; returns the ids of
    those not delivered yet."""
    with transaction(sessions) as session:
        report = report_store.load_report(session, report_id=report_id)
        if report is None:
            return []
        links = ReportLinks.of(report.id, base_url)
        evt = event_id(report.id, report.run_number, status)
        failed = [c.component_type for c in report.components if c.status != "completed"]
        body = json.dumps(report_event(
            event_id=evt, status=status, report_id=str(report.id), survey_id=str(report.survey_id),
            organization_id=str(report.organization_id), failed_components=failed,
            links={"page": links.page, "status": links.status, "report": links.report, "pdf": links.pdf},
        ), separators=(",", ":"))
        deliveries = store.create_deliveries(session, organization_id=report.organization_id,
                                             event_type=event_type(status), event_id=evt, report_id=report.id,
                                             body=body)
        return [str(d.id) for d in deliveries if d.status == "pending"]
