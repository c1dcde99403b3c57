"""Server-rendered pages for people: surveys, a survey (its Generate report form), reports and a report.

Every page is HTML from `workbench.rendering.page` with `PAGE_HEADERS` (a strict CSP: scripts and connections from
the app only). Forms post to the UI routes (`api.routes.ui`), which call what the JSON API calls and redirect.
Unknown or malformed ids are a 404: an HTML page for browsers (that accept text/html), JSON for other clients.
"""

from __future__ import annotations

import dataclasses
import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from api.deps import OrganizationDep, SessionDep, SettingsDep
from workbench.components import components as catalog
from workbench.config import Settings
from workbench.rendering.page import PAGE_HEADERS, ReportView, render_page, render_report_page
from workbench.reports.links import ReportLinks
from workbench.reports.views import report_page_view
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.models import Report, Survey
from workbench.surveys.schema import SEGMENT_KINDS

router = APIRouter(tags=["pages"], include_in_schema=False)

SUMMARY_COMPONENT = "summary"
SEGMENT_PARAMETER = "segment_by"  # chosen once for the report ("Compare segments by"), not per component
UI_PREFIX = "/ui"
MAX_LISTED = 200


def html_page(html: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def error_page(status_code: int, message: str, *, back_url: str = "/surveys", back_label: str = "Back to surveys",
               heading: str | None = None) -> HTMLResponse:
    headings = {400: "Bad request", 404: "Not found", 409: "Conflict", 413: "Upload too large",
                415: "Unsupported file", 422: "Rejected", 503: "Unavailable"}
    return html_page(render_page("error.html.j2", status_code=status_code, message=message,
                                 heading=heading or headings.get(status_code, "Error"), back_url=back_url,
                                 back_label=back_label), status_code)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def not_found(request: Request, message: str, *, back_url: str = "/surveys",
              back_label: str = "Back to surveys") -> HTMLResponse:
    """A 404: an HTML page for a browser, the API's JSON error (`{"detail": ...}`) for any other client."""
    if not wants_html(request):
        raise HTTPException(status.HTTP_404_NOT_FOUND, message)
    return error_page(404, message, back_url=back_url, back_label=back_label)


# --- the Generate report form, from the components' parameter schemas ---------------------------------------------


_CHOICES = re.compile(r"^\^\(([\w|-]+)\)\$$")  # a pattern such as ^(bh|holm)$: a choice of words


def parameter_field(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """How the form asks for one parameter: an input type (number, select, checkbox, text) and its bounds."""
    kind = schema.get("type")
    default = schema.get("default")
    field: dict[str, Any] = {"name": name, "title": schema.get("title") or name, "type": kind, "input": "text",
                             "description": schema.get("description") or "", "default": default,
                             "min": None, "max": None, "step": None, "options": []}
    if kind in ("integer", "number"):
        field.update(input="number", step="1" if kind == "integer" else "any",
                     min=schema.get("minimum"), max=schema.get("maximum"))
    elif kind == "boolean":
        field["input"] = "checkbox"
    elif kind == "string" and (schema.get("enum") or _CHOICES.match(schema.get("pattern") or "")):
        match = _CHOICES.match(schema.get("pattern") or "")
        field.update(input="select",
                     options=list(schema["enum"]) if schema.get("enum") else match.group(1).split("|"))  # type: ignore[union-attr]
    field["value"] = "" if default is None else (", ".join(map(str, default)) if isinstance(default, list)
                                                   else default)
    return field


def component_fields(settings: Settings) -> list[dict[str, Any]]:
    """Every component with the form fields of its parameters (the segment choice is asked once, apart)."""
    out = []
    for spec in catalog.specs():
        schema = catalog.parameters_model(spec.name, settings.notebooks_dir).model_json_schema()
        params = [parameter_field(name, prop) for name, prop in (schema.get("properties") or {}).items()
                  if name != SEGMENT_PARAMETER]
        takes_segments = SEGMENT_PARAMETER in (schema.get("properties") or {})
        out.append({"name": spec.name, "title": spec.title, "needs": list(spec.needs), "params": params,
                    "segments": takes_segments})
    return out


class FormError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _coerce(field: Mapping[str, Any], raw: str, where: str) -> Any:
    kind = field["type"]
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise FormError(where, f"'{raw}' is not a whole number") from None
    if kind == "number":
        try:
            value = float(raw)
        except ValueError:
            raise FormError(where, f"'{raw}' is not a number") from None
        if not math.isfinite(value):
            raise FormError(where, "numbers must be finite")
        return value
    if kind == "array":
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def report_request(
    form: Mapping[str, Any], fields: list[dict[str, Any]],
) -> tuple[list[str], dict[str, dict[str, Any]], list[str]]:
    """The chosen components, their parameters and the segment choice from a submitted Generate report form.

    A parameter left empty takes the notebook's default; the segment choice goes to every component of the run
    (the chosen ones and what they need) that takes `segment_by`.

    Raises:
        FormError: No component chosen, or a value of the wrong type (naming `parameters.<component>.<name>`).
    """
    chosen = [str(v) for v in form.get("components", [])]
    segment_by = [str(v) for v in form.get("segment_by", [])]
    if not chosen:
        raise FormError("components", "choose at least one component")
    by_name = {c["name"]: c for c in fields}
    parameters: dict[str, dict[str, Any]] = {}
    for name in chosen:
        component = by_name.get(name)
        if component is None:
            continue  # the request check names it
        for field in component["params"]:
            key = f"param:{name}:{field['name']}"
            where = f"parameters.{name}.{field['name']}"
            if field["input"] == "checkbox":
                parameters.setdefault(name, {})[field["name"]] = key in form
                continue
            raw = str((form.get(key) or [""])[0]).strip()
            if raw != "":
                parameters.setdefault(name, {})[field["name"]] = _coerce(field, raw, where)
    if segment_by:
        try:
            run = catalog.resolve(chosen)
        except Exception:  # unknown component: the request check says which
            run = chosen
        for name in run:
            if by_name.get(name, {}).get("segments"):
                parameters.setdefault(name, {})[SEGMENT_PARAMETER] = segment_by
    return chosen, parameters, segment_by


def parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def find_survey(session: Session, org: uuid.UUID, survey_id: str) -> Survey | None:
    """The survey, or None for an unknown or malformed id (a page answers both with a 404)."""
    parsed = parse_id(survey_id)
    return None if parsed is None else survey_store.get_survey(session, organization_id=org, survey_id=parsed)


def find_report(session: Session, org: uuid.UUID, report_id: str) -> Report | None:
    parsed = parse_id(report_id)
    return None if parsed is None else report_store.get_report(session, report_id=parsed, organization_id=org)


# --- page data ----------------------------------------------------------------------------------------------------


def survey_public(session: Session, survey: Survey) -> dict[str, Any]:
    total, completed = survey_store.count_responses(session, survey_id=survey.id)
    definition = survey_store.survey_definition(survey)
    return {"id": str(survey.id), "title": survey.title, "description": survey.description or "",
            "questions": definition.questions, "segments": list(definition.segments), "response_count": total,
            "completed_count": completed, "created_at": survey.created_at}


def survey_page(
    session: Session, survey: Survey, settings: Settings, *, status_code: int = 200,
    form: Mapping[str, Any] | None = None, **context: Any,
) -> HTMLResponse:
    """The survey page; `form` (a submitted Generate report form) keeps the user's choices after an error."""
    public = survey_public(session, survey)
    fields = component_fields(settings)
    selected = {c["name"] for c in fields} - {SUMMARY_COMPONENT}  # the summary may call a model: opt in
    segment_by: list[str] = []
    if form is not None:
        selected = {str(v) for v in form.get("components", [])}
        segment_by = [str(v) for v in form.get("segment_by", [])]
        for component in fields:
            for field in component["params"]:
                raw = form.get(f"param:{component['name']}:{field['name']}")
                if field["input"] == "checkbox":
                    field["value"] = raw is not None
                elif raw:
                    field["value"] = str(raw[0])
    reports = report_store.list_reports(session, organization_id=survey.organization_id, survey_id=survey.id,
                                        limit=20)
    segment_questions = [q for q in public["questions"] if q.type in SEGMENT_KINDS]
    context.setdefault("notice", None)
    for key in ("issues", "report_errors"):
        context.setdefault(key, [])
    context.setdefault("import_error", None)
    return html_page(render_page(
        "survey.html.j2", nav="surveys", survey=public, components=fields, selected=selected,
        segment_by=segment_by, segment_questions=segment_questions, reports=reports, **context,
    ), status_code)


def surveys_page(session: Session, org: uuid.UUID, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    surveys = [survey_public(session, s)
               for s in survey_store.list_surveys(session, organization_id=org, limit=MAX_LISTED)]
    context.setdefault("notice", None)
    context.setdefault("issues", [])
    context.setdefault("form_error", None)
    return html_page(render_page("surveys.html.j2", nav="surveys", surveys=surveys, **context), status_code)


def report_view(session: Session, report: Report) -> ReportView:
    """The report page's view: the composed report (`report_page_view`, also what the PDF prints) plus where the
    page's buttons and live progress go."""
    links = ReportLinks.of(report.id)
    return dataclasses.replace(report_page_view(session, report), events_url=f"{links.report}/events",
                               actions_base_url=f"{UI_PREFIX}/reports/{report.id}")


# --- the pages ----------------------------------------------------------------------------------------------------


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/surveys", status_code=303)


@router.get("/surveys", response_class=HTMLResponse)
def list_surveys_page(session: SessionDep, org: OrganizationDep) -> HTMLResponse:
    """Surveys with their response counts, and the form that creates one from files."""
    return surveys_page(session, org)


@router.get("/surveys/{survey_id}", response_class=HTMLResponse)
def get_survey_page(
    survey_id: str, request: Request, session: SessionDep, org: OrganizationDep, settings: SettingsDep,
    imported: int | None = Query(None, ge=0), job: uuid.UUID | None = None, created: bool = False,
) -> HTMLResponse:
    """A survey: its questions and response count, the Generate report form, the import form."""
    survey = find_survey(session, org, survey_id)
    if survey is None:
        return not_found(request, f"survey {survey_id} not found")
    notice = None
    if job is not None:
        notice = (f"The upload is large: it is imported in the background (job {job}; its status is at "
                  f"/api/v1/imports/{job}). Reload this page to see the new response count.")
    elif imported is not None:
        notice = f"{'Survey created; ' if created else ''}{imported:,} responses imported."
    elif created:
        notice = "Survey created."
    return survey_page(session, survey, settings, notice=notice)


@router.get("/reports", response_class=HTMLResponse)
def list_reports_page(session: SessionDep, org: OrganizationDep) -> HTMLResponse:
    """Reports, newest first, with their status."""
    reports = report_store.list_reports(session, organization_id=org, limit=MAX_LISTED)
    titles = {s.id: s.title for s in survey_store.list_surveys(session, organization_id=org, limit=10_000)}
    rows = [{"id": r.id, "survey_id": r.survey_id if r.survey_id in titles else None,
             "survey_title": titles.get(r.survey_id, "(deleted survey)"), "status": r.status,
             "created_at": r.created_at, "completed_at": r.completed_at} for r in reports]
    return html_page(render_page("reports.html.j2", nav="reports", reports=rows))


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def get_report_page(report_id: str, request: Request, session: SessionDep, org: OrganizationDep) -> HTMLResponse:
    """The report: live progress while it runs (Server-Sent Events; without JavaScript it refreshes itself), the
    composed report when done, with its downloads, notices of components without a result, Rerun and Cancel."""
    report = find_report(session, org, report_id)
    if report is None:
        return not_found(request, f"report {report_id} not found", back_url="/reports",
                         back_label="Back to reports")
    return html_page(render_report_page(report_view(session, report)), 200)
