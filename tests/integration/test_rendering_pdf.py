"""render_report_pdf with the system Chromium: title and text in the PDF, untrusted script inert."""

from __future__ import annotations

import os
import subprocess

import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from workbench.rendering import pdf as pdf_module
from workbench.rendering.pdf import ChromiumUnavailable, find_chromium, render_report_pdf
from workbench.results import RESULT_MIME

CHROMIUM = "/usr/bin/chromium"


def _pdf_text(data: bytes) -> str:
    # scripts/setup installs Chromium and poppler-utils: a missing one fails here rather than skipping.
    done = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
    return done.stdout.decode()


def _executed(*cells: NotebookNode) -> NotebookNode:
    return new_notebook(cells=list(cells), metadata={
        "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
        "language_info": {"name": "python"},
    })


@pytest.fixture(scope="module")
def sections() -> list[tuple[str, NotebookNode]]:
    basic = _executed(
        new_markdown_cell("The net promoter score is **NPS 23.4**."),
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
    return [("Basic statistics", basic), ("Sentiment", sentiment)]


def test_pdf_has_title_and_text_and_no_script_effects(sections: list[tuple[str, NotebookNode]]) -> None:
    data = render_report_pdf("Customer <Survey> 2024", sections, CHROMIUM, fallback=False)
    assert data.startswith(b"%PDF")
    text = _pdf_text(data)
    assert "Customer <Survey> 2024" in text
    assert "NPS 23.4" in text
    assert "Basic statistics" in text and "Mostly positive: café – ½ ✓" in text
    assert "<script>alert(1)</script>" in text  # printed as text
    assert "SCRIPT-RAN" not in text and "HANDLER-RAN" not in text
    assert "RESULT-JSON-MARKER" not in text and "print(answers)" not in text


def test_browser_runs_no_script_even_if_sanitizing_missed_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lockdown (JavaScript off, CSP) is a second layer: check it alone by skipping the sanitizer.
    monkeypatch.setattr(pdf_module, "strip_active_content", lambda html: html)
    exporter = pdf_module._ReportPDFExporter(CHROMIUM)
    html = ("<html><head><title>t</title></head><body><p>static</p>"
            "<script>document.body.insertAdjacentText('beforeend', 'SCRIPT' + '-RAN')</script></body></html>")
    text = _pdf_text(exporter.run_playwright(html))
    assert "static" in text and "SCRIPT-RAN" not in text


def test_no_chromium_raises_with_install_hint(sections: list[tuple[str, NotebookNode]]) -> None:
    with pytest.raises(ChromiumUnavailable, match="apt-get install chromium"):
        render_report_pdf("T", sections, "/nonexistent/chromium", fallback=False)


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
