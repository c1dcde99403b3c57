"""The report's PDF with the system Chromium: the composed report (header, contents, summary, sections) printed
with page numbers, untrusted text printed as text and never run, no analyst-only cells; hangs are bounded."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime

import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from workbench.rendering import pdf as pdf_module
from workbench.rendering.html import render_component_html
from workbench.rendering.page import ComponentView, ReportView, summary_view
from workbench.rendering.pdf import ChromiumUnavailable, find_chromium, print_html, render_report_pdf
from workbench.results import RESULT_MIME

CHROMIUM = "/usr/bin/chromium"


def _pdf_text(data: bytes) -> str:
    # scripts/setup installs Chromium and poppler-utils: a missing one fails here rather than skipping.
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)
    return done.stdout.decode()


def _executed(*cells: NotebookNode) -> NotebookNode:
    return new_notebook(cells=list(cells), metadata={
        "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
        "language_info": {"name": "python"},
    })


def _view() -> ReportView:
    analyst = new_markdown_cell("ANALYST-ONLY: to run it yourself, open JupyterLab.")
    analyst.metadata["tags"] = ["analyst"]
    basic = _executed(
        new_markdown_cell("# Basic statistics\n\nThe net promoter score is **NPS 23.4**."),
        analyst,
        new_code_cell("print(answers)", execution_count=1, outputs=[
            new_output("stream", name="stdout", text="answer: <script>alert(1)</script>\n"),
            new_output("display_data", data={
                # The markers are assembled by script, so they only appear if the script ran.
                "text/html": "<p>html answer</p><script>document.write('SCRIPT' + '-RAN')</script>"
                             "<img src=x onerror=\"document.write('HANDLER' + '-RAN')\">",
                "text/plain": "html",
            }),
            new_output("display_data", data={RESULT_MIME: {"marker": "RESULT-JSON-MARKER"}, "text/plain": "r"}),
        ]),
    )
    sentiment = _executed(new_code_cell("x", execution_count=1, outputs=[
        new_output("stream", name="stdout", text="Mostly positive: café – ½ ✓\n"),
    ]))
    summary = summary_view({"engine": "template", "statements": [
        {"section": "headline", "text": "NPS is +23.4 among 1,000 answers.",
         "citations": [{"component": "basic_stats", "path": "nps.score", "value": 23.4}]}]})
    return ReportView(
        report_id="r-1", survey_title="Customer <Survey> 2024", status="completed",
        created_at=datetime(2026, 11, 1, tzinfo=UTC), completed_at=datetime(2026, 11, 1, 0, 5, tzinfo=UTC),
        headline={"response_count": 1000}, pdf_url="/pdf", status_url="/status", notebooks_base_url="/nb",
        components=[
            ComponentView("basic_stats", "Basic statistics", "completed", render_component_html(basic), None, 3, 3),
            ComponentView("sentiment", "Sentiment", "completed", render_component_html(sentiment), None, 1, 1),
            ComponentView("themes", "Themes", "failed", None, {"message": "engine down", "ename": "RuntimeError"},
                          1, 4),
        ],
        summary=summary,
    )


def test_the_pdf_is_the_composed_report_and_no_script_runs() -> None:
    data = render_report_pdf(_view(), CHROMIUM, fallback=False)
    assert data.startswith(b"%PDF")
    text = _pdf_text(data)
    flat = " ".join(text.split())
    assert "Customer <Survey> 2024" in flat and "Contents" in flat
    assert "NPS is +23.4 among 1,000 answers." in flat and "NPS 23.4" in flat
    assert "Mostly positive: café – ½ ✓" in flat
    assert "Themes failed: RuntimeError: engine down" in flat and "The other sections are unaffected" in flat
    assert "<script>alert(1)</script>" in flat  # printed as text
    assert "SCRIPT-RAN" not in flat and "HANDLER-RAN" not in flat
    assert "RESULT-JSON-MARKER" not in flat and "print(answers)" not in flat and "ANALYST-ONLY" not in flat
    assert "Download" not in flat and "Rerun" not in flat  # no buttons or links for a page in a browser
    pages = text.split("\f")
    assert len([p for p in pages if p.strip()]) >= 3  # each component section starts a page
    assert f"1/{len(pages) - 1}" in pages[0].replace(" ", "")  # page numbers in the footer ("1 / 4")


def test_browser_runs_no_script_even_if_sanitizing_missed_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lockdown (JavaScript off, CSP) is a second layer: check it alone by skipping the sanitizer.
    monkeypatch.setattr(pdf_module, "strip_active_content", lambda html: html)
    html = ("<html><head><title>t</title></head><body><p>static</p>"
            "<script>document.body.insertAdjacentText('beforeend', 'SCRIPT' + '-RAN')</script></body></html>")
    text = _pdf_text(print_html(html, CHROMIUM, fallback=False))
    assert "static" in text and "SCRIPT-RAN" not in text


def test_a_hung_browser_is_stopped_within_the_bound(tmp_path: os.PathLike) -> None:
    # A "browser" that starts and never answers: the print gives up within the bound, says so, and stops it.
    import psutil

    hang = os.path.join(tmp_path, "chromium")
    pid_file = os.path.join(tmp_path, "pid")
    with open(hang, "w") as f:
        f.write(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 600\n")
    os.chmod(hang, 0o755)
    with pytest.raises(ChromiumUnavailable, match="within 3 s|could not start"):
        print_html("<p>x</p>", hang, fallback=False, timeout=3)
    with open(pid_file) as f:  # it did start
        pid = int(f.read())
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the hung browser was left running"
        time.sleep(0.1)


def test_no_chromium_raises_with_install_hint() -> None:
    with pytest.raises(ChromiumUnavailable, match="apt-get install chromium"):
        render_report_pdf(_view(), "/nonexistent/chromium", fallback=False)


def test_find_chromium(tmp_path: os.PathLike) -> None:
    assert find_chromium("/nonexistent/chromium", fallback=False) is None
    assert find_chromium(None, fallback=False) is None
    fake = os.path.join(tmp_path, "my-chromium")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\n")
    assert find_chromium(fake, fallback=False) is None  # not executable
    os.chmod(fake, 0o755)
    assert find_chromium(fake, fallback=False) == fake
    # a configured but wrong path is reported, not silently replaced; unconfigured finds the system one
    assert find_chromium("/nonexistent/chromium") is None
    assert find_chromium(None) == CHROMIUM
    assert find_chromium("/nonexistent/chromium", fallback=True) == CHROMIUM
