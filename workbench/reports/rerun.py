"""Rerun one component of a finished report (and what depends on it) on the report's frozen snapshot, with the
component's current notebook; the other components keep their results.

`prepare_rerun` checks the request and resets the rows in one transaction; the caller then starts the run's
workflow (`workers.starter.rerun_component`). Nothing is changed when the request is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from workbench.components import components
from workbench.statuses import ComponentStatus, ReportStatus
from workbench.storage import reports as store
from workbench.storage.models import Report


class RerunRefused(ValueError):
    """The rerun cannot happen now (`status`: 404 unknown component, 409 the report's state forbids it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Rerun:
    report_id: uuid.UUID
    run: int  # the report's run number for this rerun (1 for the first rerun)
    components: list[str]  # the component and its dependants within the report, in dependency order
    needs: dict[str, list[str]]  # per component, what it waits for within the rerun


def dependants(report: Report, name: str) -> list[str]:
    """`name` and every component of the report that needs it, directly or not, in dependency order."""
    wanted = {name}
    for spec in (components.get(n) for n in report.component_names if n in components):
        if wanted & set(spec.needs):
            wanted.add(spec.name)
    return [n for n in report.component_names if n in wanted]


def prepare_rerun(session: Session, report: Report, name: str) -> Rerun:
    """Check the rerun and reset its components to pending, the report to queued with its next run number, and
    forget its stored documents (the PDF shows the old results). The caller commits.

    Raises:
        RerunRefused: 404 the report has no such component; 409 the report is still running, never froze its
            snapshot (it failed before starting), or the component needs results the report does not have.
    """
    if name not in report.component_names:
        raise RerunRefused(404, f"report {report.id} has no component '{name}'")
    if name not in components:
        raise RerunRefused(404, f"component '{name}' is no longer available")
    if not report.status.finished:
        raise RerunRefused(409, f"report {report.id} is {report.status.value}; rerun a component once it has "
                                "finished (or cancel it first)")
    if store.snapshot_response_count(session, report_id=report.id) is None:
        raise RerunRefused(409, f"report {report.id} never started (no frozen snapshot to rerun on); "
                                "generate a new report instead")
    names = dependants(report, name)
    states = {c.component_type: c.status for c in report.components}
    missing = [n for n in components.get(name).needs if states.get(n) != ComponentStatus.COMPLETED]
    if missing:
        raise RerunRefused(409, f"'{name}' needs the results of {', '.join(missing)}, which did not complete; "
                                f"rerun {missing[0]} first")
    for row in report.components:
        if row.component_type in names:
            row.status = ComponentStatus.PENDING
            row.result, row.error = None, None
            row.cells_done = row.cells_total = 0
            row.started_at = row.completed_at = None
    report.run_number += 1
    report.status, report.error, report.completed_at = ReportStatus.QUEUED, None, None
    store.delete_documents(session, report_id=report.id)
    in_rerun = set(names)
    return Rerun(report.id, report.run_number, names,
                 {n: [d for d in components.get(n).needs if d in in_rerun] for n in names})
