"""Create a report run: check the request before anything is queued, then store the queued report."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from workbench.components import components
from workbench.storage import reports as store
from workbench.storage import surveys as survey_store
from workbench.storage.models import Report


class ReportRequestError(ValueError):
    """The request cannot become a report; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SurveyNotFound(ReportRequestError):
    pass


def resolve_components(names: list[str] | None) -> list[str]:
    """Validate a component subset and order it: `runs_first` components, then registry order."""
    names = list(names) if names else components.names()
    unknown = [n for n in names if n not in components]
    if unknown:
        raise ReportRequestError("components", f"unknown components {unknown}; known: {components.names()}")
    if len(set(names)) != len(names):
        raise ReportRequestError("components", "a component is listed twice")
    order = components.names()
    return sorted(names, key=lambda n: (not components.get(n).runs_first, order.index(n)))


def create_report_run(
    session: Session, *, organization_id: uuid.UUID, survey_id: uuid.UUID, component_names: list[str] | None
) -> Report:
    """Store a queued report for `survey_id` (the caller commits, then starts the workflow)."""
    names = resolve_components(component_names)
    survey = survey_store.get_survey(session, organization_id=organization_id, survey_id=survey_id)
    if survey is None:
        raise SurveyNotFound("survey_id", f"survey {survey_id} not found")
    total, _ = survey_store.count_responses(session, survey_id=survey.id)
    if total == 0:
        raise ReportRequestError("survey_id", f"survey {survey_id} has no responses yet")
    return store.create_report(session, organization_id=organization_id, survey_id=survey.id, component_names=names)
