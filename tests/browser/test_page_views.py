"""The report page's new parts rendered without a browser (fast): the summary's statements with their cited
figures, escaped; notices with Rerun for components without a result; Cancel and the SSE hook only while running;
and the Generate report form's fields and request from the components' parameter schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from bs4 import BeautifulSoup

from api.routes.pages import FormError, parameter_field, report_request
from workbench.rendering.page import ComponentView, ReportView, render_report_page, summary_view

HOSTILE = "<script>window.__pwned=1</script>"


def view(**changes: Any) -> ReportView:
    values: dict[str, Any] = {
        "report_id": "r-1", "survey_title": "Survey", "status": "partial",
        "created_at": datetime(2026, 3, 1, 9, 0, tzinfo=UTC), "completed_at": datetime(2026, 3, 1, 9, 2, tzinfo=UTC),
        "headline": {"response_count": 80},
        "components": [
            ComponentView("basic_stats", "Basic statistics", "completed", "<p>ok</p>", None, 5, 5),
            ComponentView("sentiment", "Sentiment", "failed", None, {"ename": "ValueError", "evalue": HOSTILE}, 2, 9),
            ComponentView("summary", "Summary", "skipped", None, None, 0, 0),
        ],
        "pdf_url": "/api/v1/reports/r-1/pdf", "status_url": "/api/v1/reports/r-1/status",
        "notebooks_base_url": "/api/v1/reports/r-1/notebooks", "survey_id": "s-1", "response_count": 80,
        "json_url": "/api/v1/reports/r-1", "events_url": "/api/v1/reports/r-1/events",
        "actions_base_url": "/ui/reports/r-1",
    }
    values.update(changes)
    return ReportView(**values)


def test_summary_statements_come_first_as_text_with_their_cited_figures() -> None:
    result = {"engine": "template", "statements": [
        {"section": "Overview", "text": f"NPS is 12.5 {HOSTILE}",
         "citations": [{"component": "basic_stats", "path": "nps.score", "value": 12.5},
                       {"component": "basic_stats", "path": "response_count", "value": 1234}]},
        {"section": "Sentiment", "text": "no citations here", "citations": []},
        "not a statement",
    ]}
    html = render_report_page(view(summary=summary_view(result)))
    soup = BeautifulSoup(html, "html.parser")
    card = soup.find(id="summary")
    assert card is not None and card.find("h2").get_text() == "Summary"
    assert card.find("script") is None and HOSTILE in card.get_text()
    items = [" ".join(li.get_text().split()) for li in card.find_all("li")]
    assert items == [f"Overview NPS is 12.5 {HOSTILE} (nps.score = 12.5; response_count = 1,234)",
                     "Sentiment no citations here"]
    assert "template engine" in card.get_text()
    cards = [el.get("id") for el in soup.find(id="report-root").find_all(class_="card", recursive=False)]
    assert cards.index("summary") < cards.index("component-basic_stats")
    assert summary_view({"statements": "nope"}) is None and summary_view(None) is None


def test_notices_name_each_component_without_a_result_and_offer_a_rerun() -> None:
    soup = BeautifulSoup(render_report_page(view()), "html.parser")
    failed = " ".join(soup.find(id="notice-sentiment").get_text().split())
    assert failed.startswith(f"Sentiment failed: ValueError: {HOSTILE}.") and "other sections are unaffected" in failed
    assert "was skipped" in soup.find(id="notice-summary").get_text()
    forms = [f["action"] for f in soup.find(id="notices").find_all("form")]
    assert forms == ["/ui/reports/r-1/components/sentiment/rerun", "/ui/reports/r-1/components/summary/rerun"]
    assert soup.find(id="notices").find("script") is None
    # finished: downloads, no Cancel, no live hook
    assert soup.find(id="download-pdf")["href"] == "/api/v1/reports/r-1/pdf"
    assert soup.find(id="download-json")["href"] == "/api/v1/reports/r-1"
    assert soup.find(id="cancel-form") is None and not soup.body.get("data-events-url")


def test_a_running_report_has_cancel_live_progress_and_a_no_script_refresh() -> None:
    running = [ComponentView("basic_stats", "Basic statistics", "completed", "<p>ok</p>", None, 5, 5),
               ComponentView("themes", "Themes", "running", None, None, 2, 8)]
    soup = BeautifulSoup(render_report_page(view(status="running", completed_at=None, components=running)),
                         "html.parser")
    assert soup.find(id="cancel-form")["action"] == "/ui/reports/r-1/cancel"
    assert soup.body["data-events-url"] == "/api/v1/reports/r-1/events"
    assert soup.find(id="report-progress")["value"] == "0.625"  # (1 + 2/8) / 2
    refresh = soup.head.find("noscript").find("meta", attrs={"http-equiv": "refresh"})
    assert refresh is not None  # without JavaScript the page reloads itself
    assert soup.find(id="download-pdf") is None and soup.find(id="notices") is None


def test_form_fields_follow_the_json_schema_types() -> None:
    assert parameter_field("alpha", {"type": "number", "default": 0.05, "exclusiveMaximum": 0.5})["input"] == "number"
    top = parameter_field("top_n", {"type": "integer", "default": 3, "minimum": 0, "maximum": 50})
    assert (top["input"], top["step"], top["min"], top["max"], top["value"]) == ("number", "1", 0, 50, 3)
    choice = parameter_field("correction", {"type": "string", "default": "bh", "pattern": "^(bh|holm)$"})
    assert (choice["input"], choice["options"]) == ("select", ["bh", "holm"])
    assert parameter_field("flag", {"type": "boolean", "default": False})["input"] == "checkbox"
    assert parameter_field("label", {"type": "string", "default": "x"})["input"] == "text"


def test_the_form_becomes_a_report_request_with_the_segment_choice_everywhere_it_applies() -> None:
    fields = [
        {"name": "segments", "segments": True, "params": [
            parameter_field("alpha", {"type": "number", "default": 0.05})]},
        {"name": "themes", "segments": False, "params": [
            parameter_field("n_themes", {"type": "integer", "default": 6})]},
        {"name": "sentiment", "segments": True, "params": []},
    ]
    form = {"components": ["segments", "themes"], "segment_by": ["plan"], "param:segments:alpha": ["0.01"],
            "param:themes:n_themes": [""], "param:sentiment:ignored": ["1"]}
    chosen, parameters, segment_by = report_request(form, fields)
    assert chosen == ["segments", "themes"] and segment_by == ["plan"]
    assert parameters == {"segments": {"alpha": 0.01, "segment_by": ["plan"]}}  # empty: the notebook's default
    with pytest.raises(FormError) as bad:
        report_request({**form, "param:themes:n_themes": ["six"]}, fields)
    assert bad.value.field == "parameters.themes.n_themes"
    with pytest.raises(FormError) as none:
        report_request({"segment_by": ["plan"]}, fields)
    assert none.value.field == "components"
