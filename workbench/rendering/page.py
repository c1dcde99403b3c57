"""The server-rendered report page: a headline summary card, the key findings, then one section per component.

Autoescaping is on; only component HTML (already sanitized by `render_component_html`) is inserted raw.
The page has no JavaScript, and `REPORT_PAGE_CSP` forbids any, both as a header and in a meta element.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

REPORT_PAGE_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

_BADGES = {"completed": "ok", "partial": "warn", "failed": "bad", "running": "busy", "queued": "idle",
           "pending": "idle", "skipped": "warn"}
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


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # `.html.j2` is not matched by select_autoescape, so say it outright
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(count=format_count, percent=format_percent, nps=format_nps,
                       duration=format_duration, when=format_time)
    return env


def render_report_page(view: ReportView) -> str:
    """Render the full HTML report page (no JavaScript; send `REPORT_PAGE_CSP` with it)."""
    headline = {k: v for k, v in view.headline.items() if v is not None}
    nps = headline.get("nps") if isinstance(headline.get("nps"), dict) else None
    components = [
        {"view": c, "badge": _BADGES.get(c.status, "idle"), "error": _error_fields(c.error)}
        for c in view.components
    ]
    return _environment().get_template("report.html.j2").render(
        view=view,
        findings=view.findings,
        correction_name=_CORRECTIONS.get(view.findings.correction or "", "") if view.findings else "",
        headline=headline,
        nps=nps if nps and nps.get("score") is not None else None,
        components=components,
        badge=_BADGES.get(view.status, "idle"),
        in_progress=view.status in _IN_PROGRESS,
        csp=REPORT_PAGE_CSP,
        notebooks_base=view.notebooks_base_url.rstrip("/"),
    )
