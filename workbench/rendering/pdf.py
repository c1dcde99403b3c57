"""One PDF for a whole report: the composed report (the page's document, `render_report_document`) printed by
headless Chromium through Playwright, launched from the system binary (nothing downloads a browser).

Untrusted text is escaped and sanitized like the page; the browser also runs with JavaScript disabled, the report
CSP injected and every request blocked, and it is stopped when it hangs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import shutil
import tempfile

from workbench.rendering.html import strip_active_content
from workbench.rendering.page import REPORT_PAGE_CSP, ReportView, render_report_document

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


# Stored PDFs are kept per template version: bump it when the document or its print settings change, so reports
# are rendered again with the new template instead of served from storage.
PDF_TEMPLATE_VERSION = "reader-1"
# A browser that neither prints nor fails within this is stopped, and the download is a 503.
PRINT_TIMEOUT_SECONDS = 90.0
_FOOTER = ('<div style="width:100%;font-size:8px;color:#616e7c;text-align:center;">'
           '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


def _with_csp(html: str) -> str:
    # The charset too: `strip_active_content` drops every <meta>, and a file:// page has no header to say it.
    meta = f'<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{REPORT_PAGE_CSP}">'
    # Right after <head>, before anything the policy must govern.
    new, count = re.subn(r"<head(\s[^>]*)?>", lambda m: m.group(0) + meta, html, count=1, flags=re.I)
    return new if count else meta + html


def print_html(html: str, chromium_path: str | None, *, fallback: bool | None = None,
               timeout: float = PRINT_TIMEOUT_SECONDS) -> bytes:
    """Print a self-contained HTML document to PDF with headless Chromium: A4, page numbers in the footer.

    The document is sanitized once more (`strip_active_content`) and printed with JavaScript off, the report CSP
    injected and every request but the document's own blocked, so untrusted text cannot run or load anything.

    Raises:
        ChromiumUnavailable: No browser found, it would not start, or it did not finish within `timeout` (the
            browser is stopped then).
    """
    browser_path = find_chromium(chromium_path, fallback=fallback)
    if browser_path is None:
        raise ChromiumUnavailable(f"no Chromium found (configured: {chromium_path!r}); {_INSTALL_HINT}")
    document = _with_csp(strip_active_content(html))

    async def main(file_url: str) -> bytes:
        from playwright.async_api import async_playwright

        playwright = await async_playwright().start()
        try:
            try:
                browser = await playwright.chromium.launch(
                    executable_path=browser_path, args=CHROMIUM_ARGS,
                    handle_sigint=False, handle_sigterm=False, handle_sighup=False,
                )
            except Exception as e:
                raise ChromiumUnavailable(f"could not start {browser_path}: {e}; {_INSTALL_HINT}") from e
            try:
                context = await browser.new_context(java_script_enabled=False, offline=True)
                await context.route(
                    "**/*", lambda route: route.continue_() if route.request.url == file_url else route.abort())
                page = await context.new_page()
                await page.emulate_media(media="print")
                await page.goto(file_url, wait_until="load")
                return await page.pdf(format="A4", print_background=True, prefer_css_page_size=True,
                                      display_header_footer=True, header_template="<div></div>",
                                      footer_template=_FOOTER)
            finally:
                await browser.close()
        finally:
            await playwright.stop()  # stops the driver, and with it any browser it still runs

    async def bounded(file_url: str) -> bytes:
        try:
            return await asyncio.wait_for(main(file_url), timeout=timeout)
        except TimeoutError:
            raise ChromiumUnavailable(f"the browser did not print the PDF within {timeout:g} s; it was stopped") \
                from None

    with tempfile.TemporaryDirectory(prefix="workbench-pdf-") as tmp:
        path = os.path.join(tmp, "report.html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(document)
        # A thread of its own so this works even when the caller already runs an event loop.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, bounded(f"file://{path}")).result()


def render_report_pdf(view: ReportView, chromium_path: str | None, *, fallback: bool | None = None) -> bytes:
    """The report's PDF: the same composed report as the page (`render_report_document`), printed.

    Raises:
        ChromiumUnavailable: No browser found, it would not start, or it hung.
    """
    return print_html(render_report_document(view), chromium_path, fallback=fallback)
