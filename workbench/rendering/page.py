"""The server-rendered pages: surveys, reports and the report page (a header, the summary, the key findings,
then one section per component).

Autoescaping is on; only component HTML (already sanitized by `render_component_html`) is inserted raw.
The pages work without JavaScript; one static script served by the app (`/static/workbench.js`, no inline
script anywhere) adds live progress. `PAGE_CSP` allows scripts from the app only (`script-src 'self'`) and
connections to it (SSE), both as a header and in a meta element. `REPORT_PAGE_CSP` (no script at all) is
the policy of documents rendered offline, such as the PDF.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from workbench.rendering.html import METHOD_NOTE

# The PDF prints each section's method note open (a folded note would print as its title alone).
OPEN_NOTE = '<details class="method" open>'

REPORT_PAGE_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

# The web pages: scripts and connections from the app only (the static script and its SSE stream); inline
# styles stay allowed for sanitized notebook output (its style attributes), never inline scripts.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The same in a meta element (pages saved or opened apart from the header): frame-ancestors works in a header only.
PAGE_META_CSP = PAGE_CSP.removesuffix("; frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    # same-origin: the pages' form posts carry their real Origin (the UI routes refuse other sites' posts);
    # links to anywhere else send no referrer.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
STATIC_SCRIPT = "/static/workbench.js"
STATIC_STYLE = "/static/workbench.css"

_BADGES = {"completed": "ok", "partial": "warn", "failed": "bad", "running": "busy", "queued": "idle",
           "pending": "idle", "skipped": "warn", "cancelled": "warn"}
_IN_PROGRESS = frozenset({"queued", "pending", "running"})
_CORRECTIONS = {"bh": "Benjamini-Hochberg", "holm": "Holm"}


@dataclass
class ComponentView:
    """One component section as the page shows it."""

    name: str
    title: str
    status: str
    html: str | None
    error: dict[str, Any] | None
    cells_done: int
    cells_total: int


@dataclass
class FindingsView:
    """The "Key findings" card: the segment comparisons' top findings, as plain sentences (escaped on the page)."""

    sentences: list[str]  # largest effect first
    more: int = 0  # findings not shown here
    segment_by: list[str] = field(default_factory=list)  # the segment questions compared by
    correction: str | None = None  # "bh" or "holm"
    note: str | None = None  # why there are no sentences, when there are none
    component: str = "segments"  # the section with every finding and figure


@dataclass
class Citation:
    """A figure a summary statement cites: which component's result, where in it, and its value."""

    component: str
    path: str
    value: Any


@dataclass
class Statement:
    section: str
    text: str
    citations: list[Citation] = field(default_factory=list)


@dataclass
class SummaryView:
    """The `summary` component's statements (plain text: the page escapes them) and the engine that wrote them."""

    statements: list[Statement]
    engine: str | None = None
    component: str = "summary"


def summary_view(result: Any) -> SummaryView | None:
    """The "Summary" card from a `summary` result (`statements: [{section, text, citations}]`, `engine`); None
    without a usable result. Malformed entries are left out rather than failing the page."""
    if not isinstance(result, dict) or not isinstance(result.get("statements"), list):
        return None
    statements = []
    for item in result["statements"]:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            continue
        citations = [
            Citation(component=str(c.get("component", "")), path=str(c.get("path", "")), value=c.get("value"))
            for c in item.get("citations") or [] if isinstance(c, dict)
        ]
        statements.append(Statement(section=str(item.get("section") or ""), text=item["text"], citations=citations))
    engine = result.get("engine")
    return SummaryView(statements=statements, engine=engine if isinstance(engine, str) else None)


@dataclass
class ReportView:
    """Everything the report page shows; `headline` holds basic_stats figures (all keys optional), `findings` the
    segments component's top findings (None when the report did not run it or it has no result)."""

    report_id: str
    survey_title: str
    status: str
    created_at: datetime
    completed_at: datetime | None
    headline: dict[str, Any]
    components: list[ComponentView]
    pdf_url: str
    status_url: str
    notebooks_base_url: str
    findings: FindingsView | None = None
    summary: SummaryView | None = None
    survey_id: str | None = None  # for the link back to the survey page
    response_count: int | None = None  # responses in the report's snapshot
    json_url: str | None = None
    events_url: str | None = None  # Server-Sent Events of the report's progress (the static script reads them)
    actions_base_url: str | None = None  # the UI's POST routes: {base}/cancel, {base}/components/{name}/rerun
    organization: str | None = None  # the organization the report belongs to


def format_value(value: Any) -> str:
    """A cited figure: integers with separators, other numbers to three significant decimals, text as is."""
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def format_count(value: Any) -> str:
    """1234 -> '1,234'."""
    return f"{int(value):,}"


def format_percent(rate: Any) -> str:
    """0.7654 -> '76.5%'."""
    return f"{float(rate) * 100:.1f}%"


def format_nps(score: Any) -> str:
    """23.44 -> '23.4', -5 -> '-5.0' (NPS runs from -100 to 100)."""
    return f"{float(score):.1f}"


def format_duration(seconds: Any) -> str:
    """Seconds -> '42 s', '3 min 05 s' or '1 h 02 min'."""
    total = round(float(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_time(value: datetime | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM UTC' (or without the zone when naive)."""
    if value is None:
        return ""
    zone = f" {value.tzname()}" if value.tzinfo else ""
    return value.strftime("%Y-%m-%d %H:%M") + zone


def _error_fields(error: dict[str, Any] | None) -> dict[str, Any] | None:
    # The runner stores papermill-style keys (cell_index, ename, evalue); tolerate plainer names too.
    if not error:
        return None
    return {
        "cell": error.get("cell_index", error.get("cell")),
        "name": error.get("ename", error.get("name", "Error")),
        "message": error.get("evalue", error.get("message", "")),
    }


TEMPLATES_DIR = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # `.html.j2` is not matched by select_autoescape, so say it outright
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(count=format_count, percent=format_percent, nps=format_nps,
                       duration=format_duration, when=format_time, figure=format_value,
                       day=lambda iso: str(iso)[:10])
    env.globals.update(csrf_field=_csrf_field, signed_in_as=_signed_in_as)
    env.globals.update(nav=None, csp=PAGE_META_CSP, static_script=STATIC_SCRIPT, static_style=STATIC_STYLE,
                       badges=_BADGES, printing=False)
    return env


@dataclass(frozen=True)
class SignedIn:
    """Who the page is rendered for: their name and the CSRF token every form of the page carries."""

    label: str
    csrf_token: str


# Set per request by the web layer (a context variable, so this module needs no web framework).
signed_in: contextvars.ContextVar[SignedIn | None] = contextvars.ContextVar("signed_in", default=None)


def _csrf_field() -> Markup:
    """The hidden field every form of a signed-in page carries (the form routes check it)."""
    who = signed_in.get()
    if who is None:
        return Markup("")
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(who.csrf_token)


def _signed_in_as() -> str | None:
    who = signed_in.get()
    return who.label if who else None


def render_page(template: str, **context: Any) -> str:
    """Render one of the app's pages (`templates/<template>`); send `PAGE_HEADERS` with it."""
    return without_bidi_overrides(_environment().get_template(template).render(**context))


# Embeddings, overrides and isolates (U+202A-202E, U+2066-2069): in an answer or a title they would reverse the
# text after them ("(tceffe egral ...)") on the page and in the PDF. Marks (LRM/RLM) stay: they only hint.
_BIDI_CONTROLS = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def without_bidi_overrides(html: str) -> str:
    return html.translate(_BIDI_CONTROLS)


_NOTICES = {
    "failed": "failed",
    "skipped": "was skipped: a component it needs has no result",
    "cancelled": "was cancelled",
}


def _progress(components: list[ComponentView]) -> float:
    """The share of the report done, each component weighing the same (as the status API computes it)."""
    if not components:
        return 0.0
    done = 0.0
    for c in components:
        if c.status not in _IN_PROGRESS:
            done += 1.0
        elif c.cells_total:
            done += min(c.cells_done / c.cells_total, 1.0)
    return round(done / len(components), 4)


def render_report_document(view: ReportView) -> str:
    """The report as one self-contained document for the PDF: the page's header, summary, key findings and
    sections, plus a table of contents; no script, no buttons or download links, its stylesheet inline, under
    `REPORT_PAGE_CSP` (no script at all)."""
    return render_report_page(view, printing=True)


def render_report_page(view: ReportView, *, printing: bool = False) -> str:
    """Render the full HTML report page (send `PAGE_HEADERS` with it): it works without JavaScript (a running
    report refreshes itself), and the static script follows its progress live."""
    headline = {k: v for k, v in view.headline.items() if v is not None}
    nps = headline.get("nps") if isinstance(headline.get("nps"), dict) else None
    components = [
        {"view": c if not printing or not c.html else replace(c, html=c.html.replace(METHOD_NOTE, OPEN_NOTE)),
         "badge": _BADGES.get(c.status, "idle"), "error": _error_fields(c.error), "notice": _NOTICES.get(c.status)}
        for c in view.components
    ]
    return without_bidi_overrides(_environment().get_template("report.html.j2").render(
        view=view,
        findings=view.findings,
        correction_name=_CORRECTIONS.get(view.findings.correction or "", "") if view.findings else "",
        headline=headline,
        nps=nps if nps and nps.get("score") is not None else None,
        components=components,
        badge=_BADGES.get(view.status, "idle"),
        in_progress=view.status in _IN_PROGRESS,
        finished=view.status in ("completed", "partial", "failed", "cancelled"),
        has_pdf=view.status in ("completed", "partial"),
        summary=view.summary,
        progress=_progress(view.components),
        notices=[c for c in components if c["notice"]],
        notebooks_base=view.notebooks_base_url.rstrip("/"),
        printing=printing,
        **({"csp": REPORT_PAGE_CSP} if printing else {}),
    ))
