"""Server-rendered pages for people: surveys, a survey (its Generate report form), a background import, reports
and a report.

Every page is HTML from `workbench.rendering.page` with `PAGE_HEADERS` (a strict CSP: scripts and connections from
the app only). Forms post to the UI routes (`api.routes.ui`), which call what the JSON API calls and redirect.
Unknown or malformed ids are a 404: an HTML page for browsers (that accept text/html), JSON for other clients.
The lists (surveys, reports) come a page at a time, newest first: `?page=N` (from 1) and `?per_page=` (1 to
`MAX_PER_PAGE`, default `DEFAULT_PER_PAGE`); out-of-range or malformed values are clamped, never an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.access import current_principal
from api.caching import holds
from api.deps import OrganizationDep, SessionDep, SettingsDep
from api.errors import import_issue_detail
from workbench import __version__
from workbench.components import components as catalog
from workbench.config import Settings
from workbench.rendering.page import PAGE_HEADERS, TEMPLATES_DIR, ReportView, render_page, render_report_page
from workbench.reports.links import ReportLinks
from workbench.reports.views import organization_name, report_page_view, survey_title
from workbench.storage import imports as job_store
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.imports import ImportStatus
from workbench.storage.models import ImportJob, Report, Survey
from workbench.surveys.schema import SEGMENT_KINDS
from workbench.surveys.validation import ImportIssue

router = APIRouter(tags=["pages"], include_in_schema=False)

SUMMARY_COMPONENT = "summary"
SEGMENT_PARAMETER = "segment_by"  # chosen once for the report ("Compare segments by"), not per component
UI_PREFIX = "/ui"
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000  # bounds the offset a hand-written URL can ask for
IMPORT_POLL_MS = 1000  # how often the static script asks the JSON API about a background import
IMPORT_REFRESH_SECONDS = 5  # without JavaScript, an unfinished import's page reloads itself this often


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


def find_report(session: Session, org: uuid.UUID, report_id: str, with_results: bool = True) -> Report | None:
    """The report, if it is the organization's and the caller's role may read it (else None: a 404)."""
    parsed = parse_id(report_id)
    report = None if parsed is None else report_store.get_report(session, report_id=parsed, organization_id=org,
                                                                 with_results=with_results)
    principal = current_principal.get()
    if report is None or (principal is not None and not principal.may_read(report.required_roles)):
        return None
    return report


def find_import_job(session: Session, org: uuid.UUID, job_id: str) -> ImportJob | None:
    """The organization's background import job, or None for an unknown, malformed or other organization's id."""
    parsed = parse_id(job_id)
    return None if parsed is None else job_store.get_job(session, job_id=parsed, organization_id=org)


def issue_rows(issues: Sequence[ImportIssue], total: int) -> list[dict[str, Any]]:
    """A rejected import's issues as the pages' table shows them (`issues_table`): row, field and message, plus
    a last line counting those not shown; the same entries as the API's 422 `detail`."""
    return [{"row": d.get("row", "-"), "field": d.get("field", "-"), "msg": d["msg"]}
            for d in import_issue_detail(issues, total)]


# --- paging of the lists ------------------------------------------------------------------------------------------


def _bounded(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(raw) if raw is not None and raw.strip() else default
    except ValueError:
        return default
    return min(max(value, low), high)


@dataclasses.dataclass(frozen=True)
class Paging:
    """One page of a list, newest first: `page` from 1, `per_page` rows."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @classmethod
    def parse(cls, page: str | None, per_page: str | None) -> Paging:
        """From the query string; malformed or out-of-range values are clamped (a page is never an error)."""
        return cls(_bounded(page, 1, 1, MAX_PAGE), _bounded(per_page, DEFAULT_PER_PAGE, 1, MAX_PER_PAGE))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def fetch(self) -> int:
        """Rows to ask for: one more than shown tells whether an older page exists."""
        return self.per_page + 1

    def url(self, path: str, page: int) -> str:
        query = [f"page={page}"] if page > 1 else []
        if self.per_page != DEFAULT_PER_PAGE:
            query.append(f"per_page={self.per_page}")
        return path + ("?" + "&".join(query) if query else "")

    def links(self, path: str, shown: int, more: bool) -> dict[str, Any]:
        """The pager under a list: Newer (the previous page) and Older (the next one) where they lead somewhere."""
        newer = None
        if self.page > 1:  # past the end (nothing shown): back to the first page rather than to another empty one
            newer = self.url(path, self.page - 1 if shown else 1)
        return {"page": self.page, "per_page": self.per_page, "shown": shown, "first": self.offset + 1,
                "newer_url": newer, "older_url": self.url(path, self.page + 1) if more else None}


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
                                        limit=20, readable_by=current_principal.get())
    segment_questions = [q for q in public["questions"] if q.type in SEGMENT_KINDS]
    context.setdefault("notice", None)
    for key in ("issues", "report_errors"):
        context.setdefault(key, [])
    context.setdefault("import_error", None)
    return html_page(render_page(
        "survey.html.j2", nav="surveys", survey=public, components=fields, selected=selected,
        segment_by=segment_by, segment_questions=segment_questions, reports=reports, **context,
    ), status_code)


def surveys_page(session: Session, org: uuid.UUID, *, status_code: int = 200, paging: Paging | None = None,
                 **context: Any) -> HTMLResponse:
    """The surveys list (one page of it, newest first) and the Create a survey form."""
    paging = paging or Paging()
    found = survey_store.list_surveys(session, organization_id=org, limit=paging.fetch, offset=paging.offset)
    surveys = [survey_public(session, s) for s in found[:paging.per_page]]
    context.setdefault("notice", None)
    context.setdefault("issues", [])
    context.setdefault("form_error", None)
    pager = paging.links("/surveys", len(surveys), len(found) > paging.per_page)
    return html_page(render_page("surveys.html.j2", nav="surveys", surveys=surveys, pager=pager, **context),
                     status_code)


def import_job_page(session: Session, job: ImportJob) -> HTMLResponse:
    """A background import: its state, rows imported, the issues by row and field when it was rejected."""
    state = ImportStatus(job.status)
    issues, total = job_store.job_issues(job)
    survey = survey_store.get_survey(session, organization_id=job.organization_id, survey_id=job.survey_id)
    return html_page(render_page(
        "import.html.j2", nav="surveys", job=job, status=state.value, finished=state.finished,
        issues=issue_rows(issues, total) if state is ImportStatus.FAILED else [],
        survey_title=survey.title if survey is not None else None, survey_url=f"/surveys/{job.survey_id}",
        poll_url=None if state.finished else f"/api/v1/imports/{job.id}", poll_ms=IMPORT_POLL_MS,
        refresh_seconds=IMPORT_REFRESH_SECONDS,
    ))


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
def list_surveys_page(session: SessionDep, org: OrganizationDep, page: str | None = None,
                      per_page: str | None = None) -> HTMLResponse:
    """Surveys with their response counts, newest first a page at a time, and the form that creates one."""
    return surveys_page(session, org, paging=Paging.parse(page, per_page))


@router.get("/surveys/{survey_id}", response_class=HTMLResponse)
def get_survey_page(
    survey_id: str, request: Request, session: SessionDep, org: OrganizationDep, settings: SettingsDep,
    imported: int | None = Query(None, ge=0), job: uuid.UUID | None = None, created: bool = False,
) -> Response:
    """A survey: its questions and response count, the Generate report form, the import form."""
    if job is not None:  # the address background imports were sent to before they had their own page
        return RedirectResponse(f"/imports/{job}", status_code=303)
    survey = find_survey(session, org, survey_id)
    if survey is None:
        return not_found(request, f"survey {survey_id} not found")
    notice = None
    if imported is not None:
        notice = f"{'Survey created; ' if created else ''}{imported:,} responses imported."
    elif created:
        notice = "Survey created."
    return survey_page(session, survey, settings, notice=notice)


@router.get("/imports/{job_id}", response_class=HTMLResponse)
def get_import_page(job_id: str, request: Request, session: SessionDep, org: OrganizationDep) -> HTMLResponse:
    """A background import (where the import form sends a large upload): queued, running, completed with the rows
    imported, or failed with the issues by row and field. While unfinished it updates itself (the static script
    polls `GET /api/v1/imports/{id}`; without JavaScript the page reloads)."""
    job = find_import_job(session, org, job_id)
    if job is None:
        return not_found(request, f"import job {job_id} not found")
    return import_job_page(session, job)


@router.get("/reports", response_class=HTMLResponse)
def list_reports_page(session: SessionDep, org: OrganizationDep, page: str | None = None,
                      per_page: str | None = None) -> HTMLResponse:
    """Reports with their status, newest first a page at a time."""
    paging = Paging.parse(page, per_page)
    found = report_store.list_reports(session, organization_id=org, limit=paging.fetch, offset=paging.offset,
                                      readable_by=current_principal.get())
    reports = found[:paging.per_page]
    survey_ids = {r.survey_id for r in reports if r.survey_id is not None}
    titles: dict[uuid.UUID, str] = {}
    if survey_ids:  # the titles of this page's surveys only
        stmt = select(Survey.id, Survey.title).where(Survey.organization_id == org, Survey.id.in_(survey_ids))
        titles = {sid: title for sid, title in session.execute(stmt)}
    rows = [{"id": r.id, "survey_id": r.survey_id if r.survey_id in titles else None,
             "survey_title": titles.get(r.survey_id, "(deleted survey)"), "status": r.status,
             "created_at": r.created_at, "completed_at": r.completed_at} for r in reports]
    pager = paging.links("/reports", len(rows), len(found) > paging.per_page)
    return html_page(render_page("reports.html.j2", nav="reports", reports=rows, pager=pager))


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def get_report_page(report_id: str, request: Request, session: SessionDep, org: OrganizationDep) -> Response:
    """The report: live progress while it runs (Server-Sent Events; without JavaScript it refreshes itself), the
    composed report when done, with its downloads, notices of components without a result, Rerun and Cancel.
    With an `ETag`: a reload (or the self-refresh) of a page that has not changed is a 304, not a render."""
    report = find_report(session, org, report_id, with_results=False)
    if report is None:
        return not_found(request, f"report {report_id} not found", back_url="/reports",
                         back_label="Back to reports")
    etag = report_page_etag(session, report)
    headers = {**PAGE_HEADERS, "ETag": etag, "Cache-Control": "private, no-cache"}
    if holds(request, etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return HTMLResponse(render_report_page(report_view(session, report)), 200, headers=headers)


STATIC_DIR = Path(__file__).resolve().parent.parent / "static"  # the pages' script and styles (`api.routes.ui`)


def _templates_digest() -> str:
    """What the page is rendered with (templates, static files): a deploy that changes them changes every ETag."""
    digest = hashlib.sha256(__version__.encode())
    for root in (TEMPLATES_DIR, STATIC_DIR):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


PAGE_RENDERING = _templates_digest()


def report_page_etag(session: Session, report: Report) -> str:
    """The page's validator: the report's (status, progress, each component's state; a rerun changes it), what the
    header shows from elsewhere (survey title, organization), who is signed in (the forms carry their CSRF token,
    the buttons depend on the role) and the templates."""
    who = current_principal.get()
    parts = [report_store.report_etag(report), survey_title(session, report), organization_name(session, report) or "",
             *(() if who is None else (who.label, who.role.value, who.csrf_token or "")), PAGE_RENDERING]
    return 'W/"' + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32] + '"'
