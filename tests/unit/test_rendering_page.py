"""render_report_page: formatted headline, component sections, escaping, CSP, no inline script."""

from __future__ import annotations

from datetime import UTC, datetime

from bs4 import BeautifulSoup

from workbench.rendering.page import (
    PAGE_CSP,
    PAGE_META_CSP,
    STATIC_SCRIPT,
    ComponentView,
    FindingsView,
    ReportView,
    render_report_page,
)


def _view(**overrides: object) -> ReportView:
    values: dict = {
        "report_id": "r-123",
        "survey_title": "Customer survey 2024",
        "status": "partial",
        "created_at": datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        "completed_at": datetime(2024, 5, 1, 9, 31, tzinfo=UTC),
        "headline": {
            "response_count": 12345,
            "completed_count": 9876,
            "completion_rate": 0.80001,
            "avg_completion_seconds": 185.2,
            "nps": {"score": 23.4444, "promoters": 5000, "passives": 3000, "detractors": 1876, "n": 9876},
        },
        "components": [
            ComponentView("basic_stats", "Basic statistics", "completed", "<p>Basic output</p>", None, 5, 5),
            ComponentView(
                "sentiment", "Sentiment", "failed", "<p>Partial output</p>",
                {"cell_index": 7, "ename": "KeyError", "evalue": "'<script>alert(1)</script>'"}, 7, 9,
            ),
        ],
        "pdf_url": "/reports/r-123/pdf",
        "status_url": "/reports/r-123/status",
        "notebooks_base_url": "/reports/r-123/notebooks",
    }
    values.update(overrides)
    return ReportView(**values)


def _text(html: str) -> str:
    return " ".join(BeautifulSoup(html, "html.parser").get_text().split())


def test_headline_numbers_formatted() -> None:
    text = _text(render_report_page(_view()))
    assert "12,345" in text and "9,876" in text
    assert "80.0%" in text
    assert "NPS 23.4" in text
    assert "5,000 promoters" in text and "1,876 detractors" in text
    assert "3 min 05 s" in text


def test_negative_nps_and_missing_headline_keys() -> None:
    text = _text(render_report_page(_view(headline={"nps": {"score": -12.35, "n": 40}})))
    assert "NPS -12.3" in text or "NPS -12.4" in text
    assert "Responses" not in text


def test_unknown_completion_is_said_not_printed_as_zero() -> None:
    headline = {"response_count": 3000, "completion_known": False, "completed_count": None, "completion_rate": None,
                "timed_count": 0, "avg_completion_seconds": None}
    soup = BeautifulSoup(render_report_page(_view(headline=headline)), "html.parser")
    stats = {s.find(class_="label").get_text(): s.find(class_="value").get_text() for s in soup.select(".stat")}
    assert stats == {"Responses": "3,000", "Completion rate": "unknown", "Average time": "unknown"}


def test_failed_component_shows_cell_and_error_and_output() -> None:
    html = render_report_page(_view())
    section = BeautifulSoup(html, "html.parser").find(id="component-sentiment")
    text = " ".join(section.get_text().split())
    assert "KeyError" in text and "cell 7" in text
    assert "'<script>alert(1)</script>'" in text  # shown as text, escaped in the markup
    assert "Partial output" in text
    assert section.find("a", href="/reports/r-123/notebooks/sentiment.ipynb") is not None


def test_links_to_pdf_and_notebooks() -> None:
    soup = BeautifulSoup(render_report_page(_view()), "html.parser")
    assert soup.find("a", href="/reports/r-123/pdf") is not None
    assert soup.find("a", href="/reports/r-123/notebooks/basic_stats.ipynb") is not None


def test_hostile_title_is_escaped() -> None:
    html = render_report_page(_view(survey_title="<script>alert('t')</script>"))
    assert "<script>alert('t')</script>" not in html
    assert "&lt;script&gt;" in html
    assert "<script>alert('t')</script>" in _text(html)


def test_csp_meta_present_and_only_the_static_script() -> None:
    html = render_report_page(_view())
    soup = BeautifulSoup(html, "html.parser")
    meta = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert meta is not None and meta["content"] == PAGE_META_CSP and PAGE_CSP.startswith(PAGE_META_CSP)
    assert "script-src 'self';" in PAGE_CSP and "unsafe" not in PAGE_CSP.split("script-src")[1].split(";")[0]
    assert soup.head.find("meta") is not None
    scripts = soup.find_all("script")
    assert [(s.get("src"), s.get_text()) for s in scripts] == [(STATIC_SCRIPT, "")]  # no inline script
    for element in soup.find_all(True):
        assert not any(attr.lower().startswith("on") for attr in element.attrs)
    assert soup.find("link", attrs={"rel": "stylesheet"}) is not None


def test_running_report_refreshes_and_shows_progress() -> None:
    running = ComponentView("themes", "Themes", "running", None, None, 3, 8)
    html = render_report_page(_view(status="running", completed_at=None, components=[running]))
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("meta", attrs={"http-equiv": "refresh"}) is not None
    assert "3 of 8 cells" in _text(html)
    assert soup.find("meta", attrs={"http-equiv": "refresh"}) is not None
    done = render_report_page(_view())
    assert BeautifulSoup(done, "html.parser").find("meta", attrs={"http-equiv": "refresh"}) is None


# --- key findings -------------------------------------------------------------------------------------------------


def _findings(**overrides: object) -> FindingsView:
    values: dict = {
        "sentences": ["Free rates satisfaction lower than Enterprise: 3.4 vs 4.0 (p < 0.001, medium effect)",
                      '"<script>alert(1)</script>" is chosen by 80% in <b>Enterprise</b> vs 0% in Free'],
        "more": 7, "segment_by": ["plan"], "correction": "bh",
    }
    values.update(overrides)
    return FindingsView(**values)


def test_key_findings_come_right_after_the_headline_and_before_the_components() -> None:
    html = render_report_page(_view(findings=_findings()))
    soup = BeautifulSoup(html, "html.parser")
    card = soup.find(id="key-findings")
    assert card is not None and card.find("h2").get_text() == "Key findings"
    order = [el.get("id") for el in soup.find(id="report-root").find_all(class_="card", recursive=False)]
    assert order == ["contents", "notices", "headline", "key-findings", "component-basic_stats",
                     "component-sentiment"]
    contents = [a.get("href") for a in soup.find(id="contents").find_all("a")]
    assert contents == ["#key-findings", "#component-basic_stats", "#component-sentiment"]
    items = [" ".join(li.get_text().split()) for li in card.find_all("li")]
    assert items[0] == "Free rates satisfaction lower than Enterprise: 3.4 vs 4.0 (p < 0.001, medium effect)"
    text = " ".join(card.get_text().split())
    assert "and 7 more in Segment comparisons" in text and "compared by plan" in text and "Benjamini-Hochberg" in text
    assert card.find("a", href="#component-segments") is not None


def test_key_findings_are_escaped_text_never_markup() -> None:
    html = render_report_page(_view(findings=_findings()))
    soup = BeautifulSoup(html, "html.parser")
    assert [s.get("src") for s in soup.find_all("script")] == [STATIC_SCRIPT]  # no inline script
    assert soup.find(id="key-findings").find("b") is None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;Enterprise&lt;/b&gt;" in html
    assert '"<script>alert(1)</script>" is chosen by 80% in <b>Enterprise</b>' in _text(html)


def test_key_findings_without_findings_say_why_and_without_a_result_are_absent() -> None:
    none_found = render_report_page(_view(findings=_findings(sentences=[], more=0)))
    card = BeautifulSoup(none_found, "html.parser").find(id="key-findings")
    assert "No difference between segments is both significant and at least small." in card.get_text()
    no_segments = render_report_page(_view(findings=_findings(sentences=[], more=0, segment_by=[],
                                                              note="No segment questions: <none>")))
    assert "No segment questions: &lt;none&gt;" in no_segments
    assert BeautifulSoup(render_report_page(_view()), "html.parser").find(id="key-findings") is None


def test_the_header_names_the_organization_and_the_period_covered() -> None:
    view = _view(organization="Acme <Research>", headline={
        "response_count": 12, "period": {"first": "2026-03-02T07:00:00+00:00", "last": "2026-04-30T18:00:00+00:00",
                                         "basis": "started_at"}})
    soup = BeautifulSoup(render_report_page(view), "html.parser")
    meta = " ".join(soup.find("header", class_="report").get_text().split())
    assert "Acme <Research> · Report r-123" in meta  # escaped in the markup, shown as text
    assert soup.find(id="report-period").get_text() == "2026-03-02 to 2026-04-30"


def test_bidi_overrides_in_author_text_cannot_reverse_the_page() -> None:
    title = "Survey \u202e(large effect)\u202c and \u2067isolated\u2069 with an RLM\u200f mark"
    html = render_report_page(_view(survey_title=title))
    assert not any(ch in html for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert "Survey (large effect) and isolated with an RLM\u200f mark" in _text(html)  # the words stay, marks too
