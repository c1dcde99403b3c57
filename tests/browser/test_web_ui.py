"""The web UI in headless Chromium against the real stack: import a CSV through the form (errors by row and field
first), generate a report from the survey page, follow its live progress to the end, compare the page's numbers
with the API's JSON, download the PDF, the JSON and a notebook; a failed component's notice and its Rerun; Cancel;
hostile titles and answers stay text; bad input (unknown ids, oversized uploads) changes nothing; a large upload
imported in the background, its page followed live to the errors by row and field."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import threading
import time
import uuid
from typing import Any

import nbformat
import pytest

from tests.browser.conftest import BACKGROUND_IMPORT_BYTES, MAX_UPLOAD_BYTES, Stack, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.temporal, pytest.mark.asyncio(loop_scope="session")]

# Would set a marker if the browser ever ran them: in a title, an option label (so in segment findings) and answers.
TITLE_PAYLOAD = "<img src=x onerror=\"document.title='PWNED'\">"
SCRIPT_PAYLOAD = "<script>window.__pwned=1</script>"
TITLE = f"Q3 {TITLE_PAYLOAD} feedback"
DEFINITION: dict[str, Any] = {
    "title": TITLE,
    "description": "Browser test survey",
    "questions": [
        {"key": "nps", "type": "nps", "text": "How likely are you to recommend us?", "required": True},
        {"key": "plan", "type": "single_choice", "text": "Which plan?", "options": ["Free", SCRIPT_PAYLOAD]},
        {"key": "improve", "type": "text", "text": f"What should we improve? {TITLE_PAYLOAD}"},
    ],
    "segments": ["plan"],
}
FINISHED = ("completed", "partial", "failed", "cancelled")


def rows(start: int, count: int) -> list[dict[str, Any]]:
    """Respondents: on the hostile plan promoters, on Free detractors (a large, significant difference)."""
    out = []
    for i in range(start, start + count):
        hostile = i % 2 == 1
        out.append({
            "respondent_id": f"r{i:03d}", "started_at": "2026-03-02T07:00:00Z",
            "completed_at": "2026-03-02T07:04:00Z", "nps": 9 + i % 2 if hostile else i % 5,
            "plan": SCRIPT_PAYLOAD if hostile else "Free",
            "improve": f"{TITLE_PAYLOAD} {SCRIPT_PAYLOAD} faster exports please" if i % 3 == 0 else "More charts",
        })
    return out


def to_csv(records: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["respondent_id", "started_at", "completed_at", "nps", "plan",
                                                "improve"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue().encode()


def file(name: str, data: bytes, mime: str) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


async def assert_inert(page: Any) -> None:
    """Nothing hostile ran: the title is the page's own, the script marker unset."""
    assert not (await page.evaluate("document.title")).startswith("PWNED")
    assert await page.evaluate("typeof window.__pwned") == "undefined"


async def issues(page: Any) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in await page.locator("#import-errors tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.row, r.dataset.field, r.querySelector('.msg').textContent.trim()])")]


async def choose(page: Any, components: list[str], segment_by: list[str] = ()) -> None:  # type: ignore[assignment]
    for box in await page.locator("input[name=components]").all():
        await box.set_checked(await box.get_attribute("value") in components)
    for key in segment_by:
        await page.check(f"input[name=segment_by][value={key}]")


async def wait_finished(page: Any, timeout: float = 150_000) -> str:
    """Wait until the page shows a finished report (followed live when it opened running); its status."""
    await page.wait_for_function(
        """(finished) => { const b = document.body.dataset;
             return finished.includes(b.reportStatus) && (!b.eventsUrl || b.live === 'done'); }""",
        arg=list(FINISHED), timeout=timeout)
    return await page.evaluate("document.body.dataset.reportStatus")


async def counts(stack: Stack) -> tuple[int, int, list[int]]:
    surveys = (await stack.api.get("/api/v1/surveys")).json()["data"]
    reports = (await stack.api.get("/api/v1/reports", params={"limit": 500})).json()["count"]
    return len(surveys), reports, [s["response_count"] for s in surveys]


async def api_survey(stack: Stack, count: int) -> str:
    responses = [{"respondent_id": r["respondent_id"], "started_at": r["started_at"],
                  "completed_at": r["completed_at"],
                  "answers": {"nps": r["nps"], "plan": r["plan"], "improve": r["improve"]}} for r in rows(1, count)]
    r = await stack.api.post("/api/v1/surveys", json={**DEFINITION, "responses": responses})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_bad_input_is_404_or_413_and_changes_nothing(stack: Stack) -> None:
    survey_id = await api_survey(stack, 10)
    before = await counts(stack)
    unknown = str(uuid.uuid4())
    for path in (f"/surveys/{unknown}", "/surveys/not-an-id", f"/reports/{unknown}", "/reports/not-an-id"):
        r = await stack.api.get(path, headers={"accept": "text/html"})  # a browser: a page
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert "script-src 'self'" in r.headers["content-security-policy"]
        r = await stack.api.get(path)  # any other client: the API's JSON error
        assert r.status_code == 404 and "not found" in r.json()["detail"], path
    csv_file = {"file": ("more.csv", to_csv(rows(100, 3)), "text/csv")}
    for path, kwargs in (
        (f"/ui/surveys/{unknown}/responses", {"files": csv_file}),
        (f"/ui/surveys/{unknown}/reports", {"data": {"components": ["basic_stats"]}}),
        (f"/ui/reports/{unknown}/cancel", {}),
        (f"/ui/reports/{unknown}/components/basic_stats/rerun", {}),
        ("/ui/reports/not-an-id/cancel", {}),
    ):
        assert (await stack.api.post(path, **kwargs)).status_code == 404, path

    # a form posted from another site (CSRF) is refused, whatever it asks
    for headers in ({"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}):
        r = await stack.api.post(f"/ui/surveys/{survey_id}/responses", files=csv_file, headers=headers)
        assert r.status_code == 403, headers
        r = await stack.api.post(f"/ui/surveys/{survey_id}/reports", data={"components": ["basic_stats"]},
                                 headers=headers)
        assert r.status_code == 403, headers

    big = to_csv(rows(200, 900))
    assert len(big) > MAX_UPLOAD_BYTES
    r = await stack.api.post(f"/ui/surveys/{survey_id}/responses", files={"file": ("big.csv", big, "text/csv")})
    assert r.status_code == 413 and "exceeds" in r.text
    r = await stack.api.post("/ui/surveys", files={
        "definition": ("s.json", json.dumps(DEFINITION).encode(), "application/json"),
        "responses": ("big.csv", big, "text/csv")})
    assert r.status_code == 413
    # a body declared larger than any accepted form is refused before it is read
    r = await stack.api.post(f"/ui/surveys/{survey_id}/responses", content=b"x" * (MAX_UPLOAD_BYTES * 4 + 2 ** 21),
                             headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413
    assert await counts(stack) == before


async def test_import_generate_follow_and_download(stack: Stack) -> None:
    started = time.monotonic()
    page = await stack.new_page()
    await page.goto("/")
    assert page.url == f"{stack.url}/surveys"
    assert await page.get_attribute("header.site a:has-text('API docs')", "href") == "/docs"
    before = await counts(stack)

    # a rejected CSV: the errors by row and field, nothing stored
    bad = to_csv(rows(1, 4)).replace(b"07:04:00Z,2,Free", b"07:04:00Z,11,Gold")  # r002, the file's row 3
    await page.set_input_files("input[name=definition]", file("survey.json", json.dumps(DEFINITION).encode(),
                                                                 "application/json"))
    await page.set_input_files("input[name=responses]", file("responses.csv", bad, "text/csv"))
    await page.click("#create-survey button[type=submit]")
    found = await issues(page)
    assert [(row, field) for row, field, _ in found] == [("3", "nps"), ("3", "plan")], found
    assert "11" in found[0][2] and "Gold" in found[1][2]
    assert await counts(stack) == before
    await screenshot(page, "surveys-import-errors")
    await assert_inert(page)

    # the survey and 60 responses
    await page.set_input_files("input[name=definition]", file("survey.json", json.dumps(DEFINITION).encode(),
                                                                 "application/json"))
    await page.set_input_files("input[name=responses]", file("responses.csv", to_csv(rows(1, 60)), "text/csv"))
    await page.click("#create-survey button[type=submit]")
    await page.wait_for_url(re.compile(r"/surveys/[0-9a-f-]{36}\?"))
    survey_id = page.url.split("/surveys/")[1].split("?")[0]
    assert await page.inner_text("#survey-title") == TITLE  # the payload as text
    assert await page.inner_text("#response-count") == "60"
    assert SCRIPT_PAYLOAD in await page.inner_text("#questions")
    await assert_inert(page)

    # more responses into it: a rejected file first, then 20 good ones
    await page.set_input_files("#import input[name=file]", file("more.csv", to_csv(rows(61, 3)).replace(
        b"r062,", b"r001,"), "text/csv"))
    await page.click("#import button[type=submit]")
    assert [(row, field) for row, field, _ in await issues(page)] == [("3", "respondent_id")]
    assert (await stack.api.get(f"/api/v1/surveys/{survey_id}")).json()["response_count"] == 60
    await page.set_input_files("#import input[name=file]", file("more.csv", to_csv(rows(61, 20)), "text/csv"))
    await page.click("#import button[type=submit]")
    await page.wait_for_url(re.compile(r"imported=20"))
    assert await page.inner_text("#response-count") == "80"
    assert (await stack.api.get(f"/api/v1/surveys/{survey_id}")).json()["response_count"] == 80
    await screenshot(page, "survey")

    # generate: basic statistics and segment comparisons by plan
    await choose(page, ["basic_stats", "segments"], ["plan"])
    await page.click("#generate button[type=submit]")
    await page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}$"))
    report_id = page.url.rsplit("/", 1)[1]
    await page.evaluate("window.__sameDocument = true")
    await screenshot(page, "report-running")
    seen: set[str] = set()
    while await page.evaluate("document.body.dataset.live") != "done":
        seen.update(await page.locator("[data-component] [data-role=status]").all_text_contents())
        assert time.monotonic() - started < 150, f"the report did not finish: {seen}"
        await page.wait_for_timeout(100)
    # followed live (SSE) in the same document, from running components to the composed report
    assert await page.evaluate("window.__sameDocument") is True
    assert "running" in seen or "pending" in seen, seen
    assert await wait_finished(page) == "completed"
    await screenshot(page, "report-completed")

    body = (await stack.api.get(f"/api/v1/reports/{report_id}")).json()
    assert body["status"] == "completed"
    basic = next(c["result"] for c in body["components"] if c["name"] == "basic_stats")
    assert await page.inner_text("#stat-nps") == f"NPS {basic['nps']['score']:.1f}"
    assert await page.inner_text("#stat-responses") == f"{basic['response_count']:,}" == "80"
    assert await page.inner_text("#report-responses") == f"{body['response_count']:,}"
    assert await page.inner_text("#survey-title") == TITLE
    findings = await page.inner_text("#key-findings")
    assert SCRIPT_PAYLOAD in findings  # the hostile segment, named as text
    assert await page.locator("#key-findings script, #report-root img[src=x]").count() == 0
    await assert_inert(page)
    # even markup that got into the DOM could not run: the CSP refuses inline script and inline handlers
    errors_before = len(stack.console_errors)
    await page.evaluate("""() => {
        const s = document.createElement('script'); s.textContent = 'window.__pwned = 2'; document.body.append(s);
        const i = document.createElement('img'); i.setAttribute('onerror', 'window.__pwned = 3');
        i.src = 'data:,x'; document.body.append(i); }""")
    await page.wait_for_timeout(300)
    await assert_inert(page)
    refused = stack.console_errors[errors_before:]
    assert refused and all("Content Security Policy" in e for e in refused), refused
    del stack.console_errors[errors_before:]

    # downloads: the JSON, a notebook (through the browser's download), the PDF and its text
    r = await page.request.get(await page.get_attribute("#download-json", "href"))
    assert r.ok and (await r.json())["report_id"] == report_id
    async with page.expect_download() as info:
        await page.click("a[data-notebook=basic_stats]")
    download = await info.value
    notebook = nbformat.read(await download.path(), as_version=4)
    assert any(cell.cell_type == "code" and cell.get("outputs") for cell in notebook.cells)
    r = await page.request.get(await page.get_attribute("#download-pdf", "href"))
    assert r.ok and r.headers["content-type"] == "application/pdf"
    text = subprocess.run(["pdftotext", "-", "-"], input=await r.body(), capture_output=True,
                          check=True).stdout.decode()
    flat = " ".join(text.split())
    assert TITLE in flat and f"{basic['nps']['score']:.1f}" in flat

    # without JavaScript the same page, the same figures (progressive enhancement)
    plain = await stack.new_page(javascript=False)
    await plain.goto(f"/reports/{report_id}")
    assert await plain.inner_text("#stat-nps") == await page.inner_text("#stat-nps")
    assert await plain.get_attribute("#download-pdf", "href") == f"/api/v1/reports/{report_id}/pdf"
    await plain.context.close()

    # the reports list shows it with its status
    await page.goto("/reports")
    row = page.locator(f"tr[data-report-id='{report_id}']")
    assert await row.locator("[data-role=status]").text_content() == "completed"
    await screenshot(page, "reports")
    await page.goto("/surveys")
    assert await page.locator(f"tr[data-survey-id='{survey_id}'] [data-role=response-count]").inner_text() == "80"
    await screenshot(page, "surveys")
    await assert_inert(page)
    await page.context.close()
    stack.assert_clean()


async def test_a_failed_component_has_a_notice_and_a_rerun_and_a_running_report_cancels(stack: Stack) -> None:
    survey_id = await api_survey(stack, 40)
    page = await stack.new_page()
    await page.goto(f"/surveys/{survey_id}")

    # sentiment fails (its notebook raises): a notice naming it and why, the other section intact
    await choose(page, ["basic_stats", "sentiment"])
    await page.click("#generate button[type=submit]")
    await page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}$"))
    report_id = page.url.rsplit("/", 1)[1]
    assert await wait_finished(page) == "partial"
    notice = " ".join((await page.inner_text("#notice-sentiment")).split())
    assert "Sentiment failed: ValueError: engine unavailable: <b>oops</b>" in notice
    assert "The other sections are unaffected" in notice
    assert await page.locator("#notice-sentiment b").count() == 0
    assert await page.text_content("#component-basic_stats [data-role=status]") == "completed"
    assert await page.locator("#download-pdf").count() == 1
    await screenshot(page, "report-failed-component")
    await assert_inert(page)
    failed_at = next(c["completed_at"] for c in (await stack.api.get(f"/api/v1/reports/{report_id}")).json()[
        "components"] if c["name"] == "sentiment")

    # Rerun: the component runs again (and fails again: its notebook still raises); basic_stats is kept
    await page.click("button[data-rerun=sentiment]")
    await page.wait_for_url(re.compile(f"/reports/{report_id}$"))
    assert await wait_finished(page) == "partial"
    body = (await stack.api.get(f"/api/v1/reports/{report_id}")).json()
    states = {c["name"]: c for c in body["components"]}
    assert states["sentiment"]["status"] == "failed" and states["sentiment"]["completed_at"] > failed_at
    assert states["basic_stats"]["status"] == "completed"
    assert await page.locator("#notice-sentiment").count() == 1

    # Cancel while themes runs (its notebook sleeps)
    await page.goto(f"/surveys/{survey_id}")
    await choose(page, ["themes"])
    await page.click("#generate button[type=submit]")
    await page.wait_for_url(re.compile(r"/reports/[0-9a-f-]{36}$"))
    cancelled_id = page.url.rsplit("/", 1)[1]
    await page.wait_for_function(
        "() => document.querySelector('#component-themes [data-role=status]').textContent === 'running'",
        timeout=60_000)
    await screenshot(page, "report-running-themes")
    await page.click("#cancel-form button")
    await page.wait_for_url(re.compile(f"/reports/{cancelled_id}$"))
    assert await wait_finished(page, timeout=60_000) == "cancelled"
    assert "Themes was cancelled" in " ".join((await page.inner_text("#notice-themes")).split())
    assert await page.locator("#download-pdf").count() == 0  # a cancelled report has no PDF
    assert (await stack.api.get(f"/api/v1/reports/{cancelled_id}/status")).json()["status"] == "cancelled"
    await screenshot(page, "report-cancelled")
    await assert_inert(page)
    await page.context.close()
    stack.assert_clean()


async def test_a_large_import_runs_in_the_background_and_its_page_follows_it_to_the_errors(stack: Stack) -> None:
    started = time.monotonic()
    survey_id = await api_survey(stack, 10)
    records = rows(11, 200)
    records[9]["nps"] = 11  # r020, the file's row 11
    records[29]["plan"] = "<b>Gold</b>"  # r040, the file's row 31
    bad = to_csv(records)
    assert BACKGROUND_IMPORT_BYTES < len(bad) <= MAX_UPLOAD_BYTES
    page = await stack.new_page()
    await page.goto(f"/surveys/{survey_id}")

    # Hold the API's one import thread, so the job is seen queued and the page has to follow it.
    gate = threading.Event()
    stack.app.state.imports._executor.submit(gate.wait, 30)
    try:
        await page.set_input_files("#import input[name=file]", file("big.csv", bad, "text/csv"))
        await page.click("#import button[type=submit]")
        await page.wait_for_url(re.compile(r"/imports/[0-9a-f-]{36}$"))
        job_id = page.url.rsplit("/", 1)[1]
        assert await page.text_content("#import-status") == "queued"
        assert await page.evaluate("document.body.dataset.live") == "polling"
        await page.evaluate("window.__sameDocument = true")
        await screenshot(page, "import-queued")
        # without JavaScript the page refreshes itself instead
        plain = await stack.new_page(javascript=False)
        await plain.goto(f"/imports/{job_id}")
        assert await plain.locator("head meta[http-equiv=refresh]").count() == 1
        await plain.context.close()
    finally:
        gate.set()

    await page.wait_for_function("() => document.body.dataset.live === 'done'", timeout=15_000)
    assert await page.evaluate("window.__sameDocument") is True  # updated in place, not reloaded
    assert await page.evaluate("document.body.dataset.importStatus") == "failed"
    assert await page.text_content("#import-status") == "failed"
    assert await page.inner_text("#import-imported") == "0"
    found = await issues(page)
    assert [(row, field) for row, field, _ in found] == [("11", "nps"), ("31", "plan")], found
    assert "11" in found[0][2] and "<b>Gold</b>" in found[1][2]  # the answer as text
    assert await page.locator("#import-errors b").count() == 0
    assert await page.locator("#live").count() == 0
    job = (await stack.api.get(f"/api/v1/imports/{job_id}")).json()
    assert job["status"] == "failed" and [(str(d["row"]), d["field"]) for d in job["issues"]] == [
        ("11", "nps"), ("31", "plan")]
    assert (await stack.api.get(f"/api/v1/surveys/{survey_id}")).json()["response_count"] == 10
    await screenshot(page, "import-failed")
    await assert_inert(page)

    # the corrected file: completed, the rows imported, back to the survey with its new count
    await page.click("#back-to-survey")
    await page.wait_for_url(re.compile(f"/surveys/{survey_id}$"))
    await page.set_input_files("#import input[name=file]", file("big.csv", to_csv(rows(11, 200)), "text/csv"))
    await page.click("#import button[type=submit]")
    await page.wait_for_url(re.compile(r"/imports/[0-9a-f-]{36}$"))
    await page.wait_for_function("""() => { const b = document.body.dataset;
        return b.importStatus === 'completed' && (!b.pollUrl || b.live === 'done'); }""", timeout=15_000)
    assert await page.inner_text("#import-imported") == "200"
    assert await page.inner_text("#import-response-count") == "210"
    await screenshot(page, "import-completed")
    await page.click("#back-to-survey")
    assert await page.inner_text("#response-count") == "210"
    await assert_inert(page)
    await page.context.close()
    stack.assert_clean()
    assert time.monotonic() - started < 15
