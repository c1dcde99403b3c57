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


class TooManyActiveReports(ReportRequestError):
    """The organization already has its most reports queued or running (`max_active_reports`)."""


def resolve_request(
    component_names: list[str] | None, parameters: Mapping[str, Any] | None, notebooks_dir: Path,
    *, remote_engines: bool = False,
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The components to run (the requested ones plus what they need) and the checked parameters.

    `remote_engines`: whether a model key is configured; without one a request for a remote engine (`openai`)
    is refused here rather than failing inside a kernel minutes later.
    """
    try:
        names = components.resolve(component_names)
        checked = components.check_parameters(parameters, names, notebooks_dir)
    except ComponentError as exc:
        raise ReportRequestError(exc.field, str(exc)) from exc
    if not remote_engines:
        for name, values in checked.items():
            engine = values.get("engine")
            if engine in components.get(name).remote_engines:
                raise ReportRequestError(
                    f"parameters.{name}.engine",
                    f"{name}.engine: '{engine}' calls a model and no key is configured; set "
                    "WORKBENCH_OPENAI_API_KEY (and WORKBENCH_OPENAI_BASE_URL for a compatible server) or use a "
                    "local engine",
                )
    return names, checked


def create_report_run(
    session: Session,
    *,
    organization_id: uuid.UUID,
    survey_id: uuid.UUID,
    component_names: list[str] | None,
    parameters: Mapping[str, Any] | None = None,
    notebooks_dir: Path,
    remote_engines: bool = False,
    required_roles: list[str] | None = None,
    max_active: int | None = None,
) -> Report:
    """Store a queued report for `survey_id` (the caller commits, then starts the workflow).

    `max_active` bounds the organization's queued and running reports (checked here, so two requests at the same
    moment may both pass: the bound is a guard against floods, not an exact quota)."""
    names, checked = resolve_request(component_names, parameters, notebooks_dir, remote_engines=remote_engines)
    survey = survey_store.get_survey(session, organization_id=organization_id, survey_id=survey_id)
    if survey is None:
        raise SurveyNotFound("survey_id", f"survey {survey_id} not found")
    total, _ = survey_store.count_responses(session, survey_id=survey.id)
    if total == 0:
        raise ReportRequestError("survey_id", f"survey {survey_id} has no responses yet")
    if max_active is not None and store.count_active_reports(session, organization_id=organization_id) >= max_active:
        raise TooManyActiveReports("survey_id", f"the organization already has {max_active} reports queued or "
                                                "running (WORKBENCH_MAX_ACTIVE_REPORTS); retry when one finishes")
    return store.create_report(session, organization_id=organization_id, survey_id=survey.id, component_names=names,
                               parameters=checked, required_roles=required_roles)
