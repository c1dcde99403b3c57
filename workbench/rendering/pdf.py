"""One PDF for a whole report: the component notebooks composed into one, printed by headless Chromium.

nbconvert's `WebPDFExporter` cannot be pointed at a browser binary and would offer to download one, so
`_ReportPDFExporter` replaces only the method that launches Chromium. Untrusted output is sanitized like the
page, and the browser also runs with JavaScript disabled, the report CSP injected, and all network blocked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import html as html_lib
import os
import re
import shutil
import tempfile
import threading
from functools import lru_cache
from typing import Any

import nbformat
from nbconvert.exporters.webpdf import WebPDFExporter
from nbformat import NotebookNode

from workbench.rendering.html import EXPORTER_SETTINGS, DropResultOutputs, strip_active_content
from workbench.rendering.page import REPORT_PAGE_CSP

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
_FALLBACKS = ("/usr/bin/chromium", "chromium", "chromium-browser")
_INSTALL_HINT = "install Chromium with `apt-get install chromium` or set the configured browser path"


class ChromiumUnavailable(RuntimeError):
    """No usable Chromium to print the PDF with."""


def find_chromium(configured: str | None, *, fallback: bool | None = None) -> str | None:
    """Return the configured browser if executable, else (with `fallback`) a system Chromium, else None.

    `fallback` defaults to "only when nothing is configured": a configured path that is wrong is reported,
    not silently replaced by another browser."""
    if fallback is None:
        fallback = not configured
    candidates = [configured] if configured else []
    if fallback:
        candidates += list(_FALLBACKS)
    for candidate in candidates:
        path = candidate if os.sep in candidate else shutil.which(candidate)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


class _ReportPDFExporter(WebPDFExporter):
    """WebPDFExporter that launches a given Chromium binary, with scripts and network off."""

    def __init__(self, chromium_path: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.chromium_path = chromium_path

    def run_playwright(self, html: str) -> bytes:
        """Print `html` to PDF: nbconvert's steps with our launch and lockdown.

        Always paginated (nbconvert's one-long-page mode measures the page with JavaScript, which is off
        here) and never downloads a browser.
        """
        html = _with_csp(strip_active_content(html))

        async def main(file_url: str) -> bytes:
            from playwright.async_api import async_playwright

            playwright = await async_playwright().start()
            try:
                try:
                    browser = await playwright.chromium.launch(
                        executable_path=self.chromium_path, args=CHROMIUM_ARGS,
                        handle_sigint=False, handle_sigterm=False, handle_sighup=False,
                    )
                except Exception as e:
                    raise ChromiumUnavailable(f"could not start {self.chromium_path}: {e}; {_INSTALL_HINT}") from e
                try:
                    # Untrusted text is in this page: no script runs and nothing is fetched, whatever it says.
                    context = await browser.new_context(java_script_enabled=False, offline=True)
                    await context.route(
                        "**/*",
                        lambda route: route.continue_() if route.request.url == file_url else route.abort(),
                    )
                    page = await context.new_page()
                    await page.emulate_media(media="print")
                    await page.goto(file_url, wait_until="networkidle")
                    await page.wait_for_timeout(self.page_render_timeout)
                    return await page.pdf(print_background=True)
                finally:
                    await browser.close()
            finally:
                await playwright.stop()

        with tempfile.TemporaryDirectory(prefix="workbench-pdf-") as tmp:
            path = os.path.join(tmp, "report.html")
            with open(path, "w", encoding="utf-8") as f:
                f.write(html)
            # A thread of its own so this works even when the caller already runs an event loop.
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                return pool.submit(asyncio.run, main(f"file://{path}")).result()


def _with_csp(html: str) -> str:
    # The charset too: `strip_active_content` drops every <meta>, and a file:// page has no header to say it.
    meta = f'<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{REPORT_PAGE_CSP}">'
    # Right after <head>, before anything the policy must govern.
    new, count = re.subn(r"<head(\s[^>]*)?>", lambda m: m.group(0) + meta, html, count=1, flags=re.I)
    return new if count else meta + html


def compose_report_notebook(title: str, sections: list[tuple[str, NotebookNode]]) -> NotebookNode:
    """One notebook: a title cell, then per section a heading cell and that notebook's cells."""

    def heading(level: int, text: str) -> NotebookNode:
        # Raw HTML with escaped text so titles show literally instead of being read as Markdown.
        flat = " ".join(text.split())
        return nbformat.v4.new_markdown_cell(f"<h{level}>{html_lib.escape(flat)}</h{level}>")

    nb = nbformat.v4.new_notebook()
    if sections:
        first = sections[0][1].get("metadata", {})
        nb.metadata.update({k: copy.deepcopy(first[k]) for k in ("kernelspec", "language_info") if k in first})
    nb.metadata["title"] = title
    cells = [heading(1, title)]
    for section_title, section_nb in sections:
        cells.append(heading(2, section_title))
        for cell in section_nb.cells:
            cells.append(copy.deepcopy(cell))  # result outputs are dropped by the exporter's DropResultOutputs
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i}"  # ids from several notebooks may clash; they must be unique
    nb.cells = cells
    return nb


_lock = threading.Lock()
# Stored PDFs are kept per template version: bump it when the composition or the exporter's settings change,
# so reports are rendered again with the new template instead of served from storage.
PDF_TEMPLATE_VERSION = "notebooks-1"


@lru_cache(maxsize=4)
def _exporter(chromium_path: str) -> _ReportPDFExporter:
    exporter = _ReportPDFExporter(chromium_path, **EXPORTER_SETTINGS)
    exporter.register_preprocessor(DropResultOutputs, enabled=True)
    return exporter


def render_report_pdf(
    title: str,
    sections: list[tuple[str, NotebookNode]],
    chromium_path: str | None,
    *,
    fallback: bool | None = None,
) -> bytes:
    """Render the report's component notebooks as one PDF.

    Args:
        title: Report title, printed at the top.
        sections: (section title, executed notebook) in page order; the notebooks are not modified.
        chromium_path: Configured browser binary; None looks for a system Chromium.
        fallback: Also look for a system Chromium when `chromium_path` is unusable (default: only when None).

    Raises:
        ChromiumUnavailable: No browser was found or it would not start.
    """
    browser = find_chromium(chromium_path, fallback=fallback)
    if browser is None:
        raise ChromiumUnavailable(f"no Chromium found (configured: {chromium_path!r}); {_INSTALL_HINT}")
    nb = compose_report_notebook(title, sections)
    with _lock:  # the exporter keeps per-call state; Chromium start dominates the time anyway
        pdf, _ = _exporter(browser).from_notebook_node(nb)
    return bytes(pdf)
