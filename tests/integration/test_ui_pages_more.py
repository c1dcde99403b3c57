"""The web UI's background import page and the lists' paging, in process (no browser): a large upload through the
import form goes to `/imports/{job}`, which shows the job's state, rows imported and, when rejected, the issues by
row and field (escaped), refreshing itself until it ends; unknown and other organizations' jobs are 404s; the
surveys and reports lists come a page at a time with Newer/Older links."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from api.routes.pages import DEFAULT_PER_PAGE, MAX_PER_PAGE, Paging
from tests.conftest import AUTH
from tests.integration.api_support import CSV_HEADER, create_survey
from workbench.config import Settings
from workbench.storage import imports as job_store
from workbench.storage import reports as report_store
from workbench.storage.models import DEFAULT_ORGANIZATION_ID, Organization
from workbench.surveys.validation import ImportIssue

HTML = {"accept": "text/html"}
HOSTILE = "<script>window.__pwned=1</script>"
JOB_URL = re.compile(r"^/imports/([0-9a-f-]{36})$")


def soup(r: Any) -> BeautifulSoup:
    assert r.headers["content-type"].startswith("text/html"), r.headers["content-type"]
    return BeautifulSoup(r.text, "html.parser")


def csv_rows(n: int, start: int = 0) -> str:
    return "".join(f"r{i},2026-03-02T07:00:00Z,2026-03-02T07:04:00Z,{i % 11},Pro,API,\n"
                   for i in range(start, start + n))


def issue_rows(page: BeautifulSoup) -> list[tuple[str, str, str]]:
    return [(tr["data-row"], tr["data-field"], tr.select_one(".msg").get_text(strip=True))
            for tr in page.select("#import-errors tbody tr")]


def make_job(db: sessionmaker[Session], survey_id: str, org: uuid.UUID = DEFAULT_ORGANIZATION_ID) -> uuid.UUID:
    job_id = uuid.uuid4()
    with db() as session, session.begin():
        job_store.create_job(session, job_id=job_id, organization_id=org, survey_id=uuid.UUID(survey_id),
                             fmt="csv", size_bytes=12_345)
    return job_id


@pytest.fixture
def background(offline_settings: Settings) -> Iterator[TestClient]:
    """The app with every non-empty upload imported in the background."""
    settings = offline_settings.model_copy(update={"background_import_bytes": 0})
    with TestClient(create_app(settings), headers=AUTH) as client:
        yield client


def follow_job(client: TestClient, url: str, timeout: float = 30) -> BeautifulSoup:
    """The job's page once it shows a finished import (as the page's script would see it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = soup(client.get(url, headers=HTML))
        if page.body["data-import-status"] in ("completed", "failed"):
            return page
        time.sleep(0.05)
    raise AssertionError(f"{url} did not finish in {timeout} s")


# --- background imports ---------------------------------------------------------------------------------------


def test_a_large_upload_through_the_form_goes_to_its_job_page_which_shows_the_outcome(
    background: TestClient,
) -> None:
    survey_id = create_survey(background, title=f"Acme {HOSTILE}")
    good = CSV_HEADER + csv_rows(30)
    r = background.post(f"/ui/surveys/{survey_id}/responses", files={"file": ("r.csv", good, "text/csv")},
                        follow_redirects=False)
    assert r.status_code == 303, r.text
    match = JOB_URL.match(r.headers["location"])
    assert match, r.headers["location"]
    job_id = match.group(1)

    page = follow_job(background, r.headers["location"])
    assert page.body["data-import-status"] == "completed"
    assert page.select_one("#import-status").get_text() == "completed"
    assert page.select_one("#import-imported").get_text() == "30"
    assert page.select_one("#import-response-count").get_text() == "30"
    assert page.select_one("#import-errors") is None
    # finished: no polling, no refresh; a link back to the survey, its hostile title as text
    assert not page.body.has_attr("data-poll-url") and page.find("noscript") is None
    assert page.select_one("#back-to-survey")["href"] == f"/surveys/{survey_id}"
    assert page.select_one("#import-survey").get_text() == f"Acme {HOSTILE}"
    assert "<script>window" not in r.text and page.find("script", src=False) is None
    # the JSON API and the page tell the same
    body = background.get(f"/api/v1/imports/{job_id}").json()
    assert (body["status"], body["imported"]) == ("completed", 30)

    # a rejected upload: the issues by row and field, as the synchronous import shows them; nothing stored
    bad = CSV_HEADER + csv_rows(3, 100) + f"r200,2026-03-02T07:00:00Z,,11,{HOSTILE},API,\n" + csv_rows(2, 300)
    r = background.post(f"/ui/surveys/{survey_id}/responses", files={"file": ("r.csv", bad, "text/csv")})
    assert r.status_code == 200 and JOB_URL.match(r.url.path), r.url  # followed the 303
    page = follow_job(background, r.url.path)
    assert page.body["data-import-status"] == "failed"
    assert page.select_one("#import-imported").get_text() == "0"
    found = issue_rows(page)
    assert [(row, field) for row, field, _ in found] == [("5", "nps"), ("5", "plan")], found
    assert "11" in found[0][2] and HOSTILE in found[1][2]  # the answer named as text
    assert page.select("#import-errors script") == [] and page.find("script", src=False) is None
    assert background.get(f"/api/v1/surveys/{survey_id}").json()["response_count"] == 30

    # the same file imported synchronously shows the same table on the survey page
    with TestClient(create_app(background.app.state.settings.model_copy(  # type: ignore[attr-defined]
            update={"background_import_bytes": 10**6})), headers=AUTH) as sync:
        sync_survey = create_survey(sync)
        r = sync.post(f"/ui/surveys/{sync_survey}/responses", files={"file": ("r.csv", bad, "text/csv")})
        assert r.status_code == 422
        assert issue_rows(soup(r)) == found


def test_the_job_page_shows_each_state_and_refreshes_until_the_end(client: TestClient,
                                                                  db: sessionmaker[Session]) -> None:
    survey_id = create_survey(client)
    job_id = make_job(db, survey_id)
    url = f"/imports/{job_id}"

    page = soup(client.get(url, headers=HTML))
    assert page.body["data-import-status"] == "queued"
    assert page.body["data-poll-url"] == f"/api/v1/imports/{job_id}"
    assert int(page.body["data-poll-ms"]) > 0
    refresh = page.select_one("head noscript meta[http-equiv=refresh]")
    assert refresh is not None and int(refresh["content"]) > 0
    assert page.select_one("#import-status").get_text() == "queued"
    assert "Queued" in page.select_one("#live-text").get_text()
    assert page.select_one("#import-imported").get_text() == "\u2013"
    assert page.select_one("script[src='/static/workbench.js']") is not None
    assert "script-src 'self'" in client.get(url, headers=HTML).headers["content-security-policy"]

    with db() as session, session.begin():
        job_store.start_job(session, job_id=job_id)
    page = soup(client.get(url, headers=HTML))
    assert page.body["data-import-status"] == "running" and page.body.has_attr("data-poll-url")
    assert "Running" in page.select_one("#live-text").get_text()

    with db() as session, session.begin():
        job_store.fail_job(session, job_id=job_id, issues=[
            ImportIssue(7, "plan", f"'{HOSTILE}' is not one of the options"),
            ImportIssue(9, f"<b>{HOSTILE}</b>", "unknown column")], total=5)
    r = client.get(url, headers=HTML)
    page = soup(r)
    assert page.body["data-import-status"] == "failed"
    assert not page.body.has_attr("data-poll-url") and page.find("noscript") is None
    assert page.select_one("#live") is None
    assert page.select_one("#import-issue-total").get_text() == "5"
    assert issue_rows(page) == [("7", "plan", f"'{HOSTILE}' is not one of the options"),
                                ("9", f"<b>{HOSTILE}</b>", "unknown column"),
                                ("-", "-", "3 more issues not shown")]
    assert page.select("#import-errors b, #import-errors script") == []
    assert HOSTILE not in r.text  # escaped everywhere, attributes included

    # a job that failed for another reason than the file (its message is untrusted text too)
    other = make_job(db, survey_id)
    with db() as session, session.begin():
        job_store.fail_job(session, job_id=other, error=f"the import failed unexpectedly: {HOSTILE}")
    r = client.get(f"/imports/{other}", headers=HTML)
    assert soup(r).select_one("#import-error").get_text().endswith(HOSTILE)
    assert HOSTILE not in r.text

    done = make_job(db, survey_id)
    with db() as session, session.begin():
        job_store.complete_job(session, job_id=done, imported=1234, response_count=2000)
    page = soup(client.get(f"/imports/{done}", headers=HTML))
    assert page.select_one("#import-imported").get_text() == "1,234"
    assert "1,234 responses imported; the survey has 2,000" in page.select_one("#import-outcome").get_text()


def test_unknown_and_other_organizations_jobs_are_the_usual_404(client: TestClient,
                                                                 db: sessionmaker[Session]) -> None:
    survey_id = create_survey(client)
    other_org = uuid.uuid4()
    with db() as session, session.begin():
        session.add(Organization(id=other_org, slug=f"other-{other_org.hex[:8]}", name="Other"))
    foreign = make_job(db, survey_id, org=other_org)
    expected = soup(client.get(f"/surveys/{uuid.uuid4()}", headers=HTML))
    for job in (foreign, uuid.uuid4(), "not-an-id", "%3Cscript%3E"):
        r = client.get(f"/imports/{job}", headers=HTML)
        assert r.status_code == 404, job
        page = soup(r)
        assert page.select_one("h1").get_text() == expected.select_one("h1").get_text() == "404 · Not found"
        assert "<script>" not in r.text
        r = client.get(f"/imports/{job}")  # not a browser: the API's JSON error
        assert r.status_code == 404 and "not found" in r.json()["detail"], job
    assert client.get(f"/api/v1/imports/{foreign}").status_code == 404


def test_the_survey_page_old_job_address_leads_to_the_job_page(client: TestClient,
                                                               db: sessionmaker[Session]) -> None:
    survey_id = create_survey(client)
    job_id = make_job(db, survey_id)
    r = client.get(f"/surveys/{survey_id}?job={job_id}", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/imports/{job_id}"


def test_small_uploads_through_the_form_stay_synchronous(client: TestClient) -> None:
    survey_id = create_survey(client)
    r = client.post(f"/ui/surveys/{survey_id}/responses",
                    files={"file": ("r.csv", CSV_HEADER + csv_rows(3), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/surveys/{survey_id}?imported=3"


# --- paging -----------------------------------------------------------------------------------------------------


def pager(page: BeautifulSoup) -> dict[str, str | None]:
    links = {a["data-pager"]: a["href"] for a in page.select("nav.pager a[data-pager]")}
    return {"newer": links.get("newer"), "older": links.get("older")}


def walk(client: TestClient, url: str, row_selector: str, key: str) -> list[list[str]]:
    """Every page of a list from `url`, following Older links; each page's row ids."""
    pages: list[list[str]] = []
    while url:
        page = soup(client.get(url, headers=HTML))
        pages.append([tr[key] for tr in page.select(row_selector)])
        url = pager(page)["older"] or ""
        assert len(pages) < 20
    return pages


def test_the_surveys_list_comes_a_page_at_a_time(client: TestClient) -> None:
    ids = [create_survey(client, title=f"Survey {i} {HOSTILE}") for i in range(5)]
    newest_first = [s["id"] for s in client.get("/api/v1/surveys").json()["data"]]
    assert sorted(newest_first) == sorted(ids)

    pages = walk(client, "/surveys?per_page=2", "#surveys tbody tr", "data-survey-id")
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    page = soup(client.get("/surveys?per_page=2", headers=HTML))
    assert pager(page) == {"newer": None, "older": "/surveys?page=2&per_page=2"}
    page = soup(client.get("/surveys?page=2&per_page=2", headers=HTML))
    assert pager(page) == {"newer": "/surveys?per_page=2", "older": "/surveys?page=3&per_page=2"}
    assert "Surveys 3 to 4" in page.select_one("nav.pager").get_text()
    page = soup(client.get("/surveys?page=3&per_page=2", headers=HTML))
    assert pager(page) == {"newer": "/surveys?page=2&per_page=2", "older": None}
    # the Create a survey form stays on every page
    assert page.select_one("#create-survey form") is not None

    # everything on one page at the default size: no pager
    page = soup(client.get("/surveys", headers=HTML))
    assert [tr["data-survey-id"] for tr in page.select("#surveys tbody tr")] == newest_first
    assert page.select_one("nav.pager") is None

    # past the end: nothing, and a way back to the first page
    r = client.get("/surveys?page=40&per_page=2", headers=HTML)
    assert r.status_code == 200
    page = soup(r)
    assert page.select("#surveys tbody tr") == [] and "No surveys on this page" in r.text
    assert pager(page) == {"newer": "/surveys?per_page=2", "older": None}
    assert HOSTILE not in client.get("/surveys", headers=HTML).text


@pytest.mark.parametrize(("query", "expected"), [
    ("", (1, DEFAULT_PER_PAGE)), ("?page=0&per_page=0", (1, 1)), ("?page=-3&per_page=-1", (1, 1)),
    ("?per_page=100000", (1, MAX_PER_PAGE)), ("?page=abc&per_page=x", (1, DEFAULT_PER_PAGE)),
    ("?page=2&per_page=1", (2, 1)), ("?page=99999999999999999999", (1_000_000, DEFAULT_PER_PAGE)),
])
def test_paging_values_are_bounded_not_errors(client: TestClient, query: str, expected: tuple[int, int]) -> None:
    create_survey(client)
    for path in ("/surveys", "/reports"):
        assert client.get(path + query, headers=HTML).status_code == 200, path + query
    params = dict(p.split("=") for p in query.lstrip("?").split("&") if p)
    paging = Paging.parse(params.get("page"), params.get("per_page"))
    assert (paging.page, paging.per_page) == expected


def test_the_reports_list_comes_a_page_at_a_time(client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = create_survey(client, title=f"Reported {HOSTILE}")
    with db() as session, session.begin():
        for _ in range(5):
            report_store.create_report(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                       survey_id=uuid.UUID(survey_id), component_names=["basic_stats"])
    newest_first = [r["report_id"] for r in client.get("/api/v1/reports").json()["data"]]
    assert len(newest_first) == 5

    pages = walk(client, "/reports?per_page=2", "#reports tbody tr", "data-report-id")
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    page = soup(client.get("/reports?page=2&per_page=2", headers=HTML))
    assert pager(page) == {"newer": "/reports?per_page=2", "older": "/reports?page=3&per_page=2"}
    # each row links its survey by title (as text)
    links = page.select("#reports tbody tr td:nth-of-type(2) a")
    assert [a.get_text() for a in links] == [f"Reported {HOSTILE}"] * 2
    assert all(a["href"] == f"/surveys/{survey_id}" for a in links)
    r = client.get("/reports?page=9&per_page=2", headers=HTML)
    assert "No reports on this page" in r.text and pager(soup(r))["newer"] == "/reports?per_page=2"
    assert soup(client.get("/reports", headers=HTML)).select_one("nav.pager") is None
