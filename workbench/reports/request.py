"""Check a report request before anything is queued, then store the queued report."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from workbench.components import ComponentError, components
from workbench.storage import reports as store
from workbench.storage import surveys as survey_store
from workbench.storage.models import Report


class ReportRequestError(ValueError):
    """The request cannot become a report; `field` names the offending input (dotted, e.g. `parameters.themes`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SurveyNotFound(ReportRequestError):
    pass


def resolve_request(
    component_names: list[str] | None, parameters: Mapping[str, Any] | None, notebooks_dir: Path
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The components to run (the requested ones plus what they need) and the checked parameters."""
    try:
        names = components.resolve(component_names)
        return names, components.check_parameters(parameters, names, notebooks_dir)
    except ComponentError as exc:
        raise ReportRequestError(exc.field, str(exc)) from exc


def create_report_run(
    session: Session,
    *,
    organization_id: uuid.UUID,
    survey_id: uuid.UUID,
    component_names: list[str] | None,
    parameters: Mapping[str, Any] | None = None,
    notebooks_dir: Path,
) -> Report:
    """Store a queued report for `survey_id` (the caller commits, then starts the workflow)."""
    names, checked = resolve_request(component_names, parameters, notebooks_dir)
    survey = survey_store.get_survey(session, organization_id=organization_id, survey_id=survey_id)
    if survey is None:
        raise SurveyNotFound("survey_id", f"survey {survey_id} not found")
    total, _ = survey_store.count_responses(session, survey_id=survey.id)
    if total == 0:
        raise ReportRequestError("survey_id", f"survey {survey_id} has no responses yet")
    return store.create_report(session, organization_id=organization_id, survey_id=survey.id, component_names=names,
                               parameters=checked)
