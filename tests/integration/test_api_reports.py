"""The HTTP API in process: report routes without Temporal (unreachable or stubbed)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import nbformat
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.main import BACKGROUND_CONNECTIONS, create_app
from api.schemas import ReportPublic
from tests.conftest import AUTH
from tests.integration.api_support import (
    create_survey,
    import_json,
    report_count,
    response,
)
from tests.integration.conftest import FailingTemporalClient
from workbench.access import Role
from workbench.config import REPO_ROOT, Settings
from workbench.rendering.pdf import PDF_TEMPLATE_VERSION
from workbench.reports.request import create_report_run
from workbench.storage import access as access_store
from workbench.storage import reports as report_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID, ComponentStatus, Report, ReportStatus


def survey_with_responses(client: TestClient) -> str:
    survey_id = create_survey(client)
    assert import_json(client, survey_id, [response("a", 9), response("b", 3)]).status_code == 201
    return survey_id


def test_report_with_unknown_component(
    client: TestClient, temporal_stub: FailingTemporalClient, db: sessionmaker[Session]
) -> None:
    survey_id = survey_with_responses(client)
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["basic_stats", "astrology"]})
    assert r.status_code == 422
    [d] = r.json()["detail"]
    assert d["loc"] == ["body", "components"] and "astrology" in d["msg"]
    assert temporal_stub.calls == [] and report_count(db) == 0


def test_report_for_unknown_survey(
    client: TestClient, temporal_stub: FailingTemporalClient, db: sessionmaker[Session]
) -> None:
    r = client.post("/api/v1/reports", json={"survey_id": str(uuid.uuid4())})
    assert r.status_code == 404
    assert temporal_stub.calls == [] and report_count(db) == 0


def test_report_for_survey_without_responses(
    client: TestClient, temporal_stub: FailingTemporalClient, db: sessionmaker[Session]
) -> None:
    survey_id = create_survey(client)
    r = client.post("/api/v1/reports", json={"survey_id": survey_id})
    assert r.status_code == 422
    [d] = r.json()["detail"]
    assert d["loc"] == ["body", "survey_id"] and "no responses" in d["msg"]
    assert temporal_stub.calls == [] and report_count(db) == 0


def test_report_request_body_is_validated(client: TestClient, temporal_stub: FailingTemporalClient) -> None:
    r = client.post("/api/v1/reports", json={"survey_id": "nope"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "survey_id"]


def test_workflow_start_failure_is_503_and_marks_the_report_failed(
    client: TestClient, temporal_stub: FailingTemporalClient, db: sessionmaker[Session]
) -> None:
    survey_id = survey_with_responses(client)
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["basic_stats"]})
    assert r.status_code == 503
    assert len(temporal_stub.calls) == 1
    with db() as session:
        [report] = session.scalars(select(Report)).all()
        assert report.status == ReportStatus.FAILED
        assert report.error is not None and "temporal went away" in report.error
    status = client.get(f"/api/v1/reports/{report.id}/status").json()
    assert status["status"] == "failed"


def test_request_errors_are_reported_while_temporal_is_down(client: TestClient) -> None:
    survey_id = survey_with_responses(client)
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["astrology"]})
    assert r.status_code == 422


def test_unreachable_temporal_is_503_and_marks_the_report_failed(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    survey_id = survey_with_responses(client)
    r = client.post("/api/v1/reports", json={"survey_id": survey_id, "components": ["basic_stats"]})
    assert r.status_code == 503
    with db() as session:
        [report] = session.scalars(select(Report)).all()
        assert report.status == ReportStatus.FAILED and report.error


@pytest.mark.parametrize("path", ["/api/v1/reports/{id}", "/api/v1/reports/{id}/status", "/api/v1/reports/{id}/pdf",
                                  "/api/v1/reports/{id}/components/basic_stats",
                                  "/api/v1/reports/{id}/notebooks/basic_stats.ipynb", "/reports/{id}"])
def test_unknown_report_is_404(client: TestClient, path: str) -> None:
    assert client.get(path.format(id=uuid.uuid4())).status_code == 404


# --- stored reports -----------------------------------------------------------------------------------------


def queued_report(db: sessionmaker[Session], survey_id: str) -> uuid.UUID:
    with transaction(db) as session:
        report = create_report_run(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                   survey_id=uuid.UUID(survey_id), component_names=["basic_stats"],
                                   notebooks_dir=REPO_ROOT / "notebooks")
        return report.id


def complete(db: sessionmaker[Session], report_id: uuid.UUID, result: dict[str, Any], notebook: str) -> None:
    with transaction(db) as session:
        report_store.start_component(session, report_id=report_id, name="basic_stats", cells_total=3)
        report_store.finish_component(
            session, report_id=report_id, name="basic_stats", status=ComponentStatus.COMPLETED, result=result,
            html="<section><p>Component body: 42 responses</p></section>", notebook=notebook, error=None,
            cells_done=3,
        )
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.COMPLETED)


def test_queued_report_answers_202_with_its_status(client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = survey_with_responses(client)
    report_id = queued_report(db, survey_id)
    for path in ("", "/pdf", "/components/basic_stats", "/notebooks/basic_stats.ipynb"):
        r = client.get(f"/api/v1/reports/{report_id}{path}")
        assert r.status_code == 202, path
        body = r.json()
        assert body["report_id"] == str(report_id) and body["status"] == "queued"
        assert body["survey_id"] == survey_id
        assert [c["name"] for c in body["components"]] == ["basic_stats"]
        assert body["components"][0]["status"] == "pending"
        assert body["progress"] == 0.0
        assert body["links"]["status"] == f"/api/v1/reports/{report_id}/status"
    r = client.get(f"/api/v1/reports/{report_id}/status")
    assert r.status_code == 200 and r.json()["status"] == "queued"
    assert client.get(f"/api/v1/reports/{report_id}/components/themes").status_code == 404
    listed = client.get("/api/v1/reports", params={"survey_id": survey_id}).json()
    assert [d["report_id"] for d in listed["data"]] == [str(report_id)]


def only_the_static_script(html: str) -> bool:
    """The page's one script is the app's static file: no inline script, nothing from elsewhere."""
    return re.findall(r"<script\b[^>]*>", html, flags=re.I) == ['<script src="/static/workbench.js" defer>']


def test_queued_report_page_shows_progress(client: TestClient, db: sessionmaker[Session]) -> None:
    report_id = queued_report(db, survey_with_responses(client))
    r = client.get(f"/reports/{report_id}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "Acme feedback" in r.text and only_the_static_script(r.text)


def test_completed_report(client: TestClient, db: sessionmaker[Session]) -> None:
    survey_id = survey_with_responses(client)
    report_id = queued_report(db, survey_id)
    result = {"response_count": 2, "completed_count": 2, "completion_rate": 1.0, "nps": 0.0,
              "questions": [{"key": "nps", "mean": 6.0, "label": "Empfehlung ✓"}]}
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')")])
    notebook_text = nbformat.writes(notebook)
    complete(db, report_id, result, notebook_text)

    r = client.get(f"/api/v1/reports/{report_id}")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "completed" and body["progress"] == 1.0
    assert body["survey_title"] == "Acme feedback"
    assert [(c["name"], c["status"], c["result"]) for c in body["components"]] == [
        ("basic_stats", "completed", result)]
    assert body["components"][0]["attempts"] == 1

    r = client.get(f"/api/v1/reports/{report_id}/components/basic_stats")
    assert r.status_code == 200
    assert r.json()["result"] == result and r.json()["cells_done"] == 3

    r = client.get(f"/api/v1/reports/{report_id}/notebooks/basic_stats.ipynb")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ipynb+json")
    assert f'filename="{report_id}-basic_stats.ipynb"' in r.headers["content-disposition"]
    downloaded = nbformat.reads(r.text, as_version=4)
    assert downloaded.cells[0].source == "print('hi')"

    r = client.get(f"/reports/{report_id}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp  # the app's own script file, no inline
    assert only_the_static_script(r.text)
    assert "Component body: 42 responses" in r.text
    assert "Acme feedback" in r.text


def test_report_page_escapes_the_survey_title(client: TestClient, db: sessionmaker[Session]) -> None:
    title = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    survey_id = create_survey(client, title=title)
    assert client.get(f"/api/v1/surveys/{survey_id}").json()["title"] == title  # stored as given
    assert import_json(client, survey_id, [response("a")]).status_code == 201
    report_id = queued_report(db, survey_id)
    complete(db, report_id, {"response_count": 1}, nbformat.writes(nbformat.v4.new_notebook()))

    r = client.get(f"/reports/{report_id}")
    assert r.status_code == 200
    assert "content-security-policy" in r.headers
    assert only_the_static_script(r.text)
    assert "<img" not in r.text.lower()
    assert "&lt;script&gt;" in r.text
    assert client.get(f"/api/v1/reports/{report_id}").json()["survey_title"] == title


def test_failed_component_without_notebook_is_404_not_202(client: TestClient, db: sessionmaker[Session]) -> None:
    report_id = queued_report(db, survey_with_responses(client))
    with transaction(db) as session:
        report_store.finish_component(session, report_id=report_id, name="basic_stats",
                                      status=ComponentStatus.FAILED, result=None, html=None, notebook=None,
                                      error={"message": "kernel died"})
        report_store.set_report_status(session, report_id=report_id, status=ReportStatus.FAILED, error="all failed")
    assert client.get(f"/api/v1/reports/{report_id}/notebooks/basic_stats.ipynb").status_code == 404
    r = client.get(f"/api/v1/reports/{report_id}/components/basic_stats")
    assert r.status_code == 200 and r.json()["error"] == {"message": "kernel died"}
    body = client.get(f"/api/v1/reports/{report_id}").json()
    assert body["status"] == "failed" and body["failed_components"] == ["basic_stats"]


def test_pdf_without_a_browser_is_503_naming_the_fix(offline_settings: Settings) -> None:
    settings = offline_settings.model_copy(update={"chromium_path": "/nonexistent/chromium"})
    with TestClient(create_app(settings), headers=AUTH) as client:
        engine = make_engine(settings.effective_database_url)
        db = make_sessionmaker(engine)
        report_id = queued_report(db, survey_with_responses(client))
        notebook = nbformat.writes(nbformat.v4.new_notebook(metadata={"kernelspec": {
            "name": "workbench", "display_name": "Workbench", "language": "python"}}))
        complete(db, report_id, {"response_count": 1, "completed_count": 1, "completion_rate": 1.0,
                                 "questions": {}}, notebook)
        r = client.get(f"/api/v1/reports/{report_id}/pdf")
        engine.dispose()
    assert r.status_code == 503
    assert "apt-get install chromium" in r.json()["detail"] and "/nonexistent/chromium" in r.json()["detail"]


def test_pdf_is_rendered_once_then_served_from_storage_and_every_download_is_recorded(
    client: TestClient, db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    report_id = queued_report(db, survey_with_responses(client))
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("Cached figure 4242")],
        metadata={"kernelspec": {"name": "workbench", "display_name": "Workbench", "language": "python"}})
    complete(db, report_id, {"response_count": 2}, nbformat.writes(notebook))

    first = client.get(f"/api/v1/reports/{report_id}/pdf")
    assert first.status_code == 200, first.text
    assert first.headers["x-workbench-cache"] == "miss" and first.content.startswith(b"%PDF")
    second = client.get(f"/api/v1/reports/{report_id}/pdf")
    assert second.headers["x-workbench-cache"] == "hit" and second.content == first.content
    assert client.app.state.audit.flush()  # type: ignore[attr-defined]  # downloads are written in the background
    with db() as session:
        assert report_store.get_document(session, report_id=report_id, kind="pdf",
                                         template_version=PDF_TEMPLATE_VERSION) == first.content
        rows = report_store.downloads(session, report_id=report_id)
        assert [(d.kind, d.cached, d.size) for d in rows] == [
            ("pdf", False, len(first.content)), ("pdf", True, len(first.content))]
        assert {d.who for d in rows} == {"key wb_0123456789 (admin)"}  # the caller
    # The same version again is served from this process's memory, without asking the database for it.
    with monkeypatch.context() as patched:
        patched.setattr(report_store, "get_document", lambda *a, **k: pytest.fail("read from the database again"))
        third = client.get(f"/api/v1/reports/{report_id}/pdf")
    assert third.headers["x-workbench-cache"] == "hit" and third.content == first.content
    with db() as session:
        # a rerun (a new run number) changes the results: its documents are forgotten and the next download
        # renders again
        assert report_store.delete_documents(session, report_id=report_id) == 1
        report = session.get(Report, report_id)
        assert report is not None
        report.run_number += 1
        session.commit()
    assert client.get(f"/api/v1/reports/{report_id}/pdf").headers["x-workbench-cache"] == "miss"


@pytest.mark.parametrize("final", [ReportStatus.FAILED, ReportStatus.CANCELLED])
def test_a_failed_or_cancelled_report_has_no_pdf_409(
    client: TestClient, db: sessionmaker[Session], final: ReportStatus
) -> None:
    report_id = queued_report(db, survey_with_responses(client))
    with transaction(db) as session:
        report_store.set_report_status(session, report_id=report_id, status=final, error="it went wrong")
    r = client.get(f"/api/v1/reports/{report_id}/pdf")
    assert r.status_code == 409 and f"{final.value}: it has no PDF" in r.json()["detail"]
    assert "it went wrong" in r.json()["detail"]
    with db() as session:
        assert report_store.downloads(session, report_id=report_id) == []


def test_status_and_report_json_carry_an_etag_and_answer_304_until_something_moves(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    report_id = queued_report(db, survey_with_responses(client))
    queued = client.get(f"/api/v1/reports/{report_id}/status")
    tag = queued.headers["etag"]
    assert tag.startswith('W/"') and queued.headers["cache-control"] == "private, no-cache"
    again = client.get(f"/api/v1/reports/{report_id}/status", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    complete(db, report_id, {"response_count": 2}, nbformat.writes(nbformat.v4.new_notebook()))
    moved = client.get(f"/api/v1/reports/{report_id}/status", headers={"If-None-Match": tag})
    assert moved.status_code == 200 and moved.json()["status"] == "completed" and moved.headers["etag"] != tag
    full = client.get(f"/api/v1/reports/{report_id}")
    assert full.status_code == 200 and full.headers["etag"] == moved.headers["etag"]
    cached = client.get(f"/api/v1/reports/{report_id}", headers={"If-None-Match": f'"x", {full.headers["etag"]}'})
    assert cached.status_code == 304 and cached.content == b""
    # Another report never matches this one's validator.
    other = queued_report(db, survey_with_responses(client))
    assert client.get(f"/api/v1/reports/{other}/status", headers={"If-None-Match": tag}).status_code == 200


def test_report_json_comes_from_the_body_cache_until_the_report_moves(
    client: TestClient, db: sessionmaker[Session]
) -> None:
    """The finished report's JSON is built once per version and served from memory after that; a report that
    moves (here its component is finished again with another result, as a rerun does) is built afresh."""
    report_id = queued_report(db, survey_with_responses(client))
    complete(db, report_id, {"response_count": 2}, nbformat.writes(nbformat.v4.new_notebook()))
    bodies = client.app.state.bodies  # type: ignore[attr-defined]
    first = client.get(f"/api/v1/reports/{report_id}")
    assert first.status_code == 200 and first.json()["components"][0]["result"] == {"response_count": 2}
    misses, hits = bodies.misses, bodies.hits
    second = client.get(f"/api/v1/reports/{report_id}")
    assert (bodies.misses, bodies.hits) == (misses, hits + 1)  # from the cache
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert second.headers["content-type"] == "application/json"
    assert ReportPublic.model_validate_json(second.content).survey_title == "Acme feedback"
    complete(db, report_id, {"response_count": 3}, nbformat.writes(nbformat.v4.new_notebook()))
    third = client.get(f"/api/v1/reports/{report_id}")
    assert third.headers["etag"] != first.headers["etag"]
    assert third.json()["components"][0]["result"] == {"response_count": 3}
    # Another organization's caller is refused before any cached body is looked at.
    with db() as session:
        other = access_store.create_organization(session, slug="elsewhere", name="Elsewhere")
        foreign = access_store.create_key(session, organization_id=other.id, user_name="them", role=Role.ADMIN)
        session.commit()
    refused = client.get(f"/api/v1/reports/{report_id}", headers={"Authorization": f"Bearer {foreign.text}"})
    assert refused.status_code == 404 and str(report_id) in refused.json()["detail"]


def test_report_page_carries_an_etag_per_viewer_and_version(client: TestClient, db: sessionmaker[Session]) -> None:
    report_id = queued_report(db, survey_with_responses(client))
    complete(db, report_id, {"response_count": 2}, nbformat.writes(nbformat.v4.new_notebook()))
    page = client.get(f"/reports/{report_id}")
    assert page.status_code == 200 and "Component body: 42 responses" in page.text
    tag = page.headers["etag"]
    assert page.headers["cache-control"] == "private, no-cache" and "content-security-policy" in page.headers
    again = client.get(f"/reports/{report_id}", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    # Another caller sees other buttons (its role) and forms (its CSRF token): never the same validator.
    with db() as session:
        viewer = access_store.create_key(session, organization_id=DEFAULT_ORGANIZATION_ID, user_name="v",
                                         role=Role.VIEWER)
        session.commit()
    theirs = client.get(f"/reports/{report_id}", headers={"Authorization": f"Bearer {viewer.text}",
                                                          "If-None-Match": tag})
    assert theirs.status_code == 200 and theirs.headers["etag"] != tag
    # A rerun (the component finished again) changes the page.
    complete(db, report_id, {"response_count": 3}, nbformat.writes(nbformat.v4.new_notebook()))
    moved = client.get(f"/reports/{report_id}", headers={"If-None-Match": tag})
    assert moved.status_code == 200 and moved.headers["etag"] != tag


def test_concurrent_readers_share_the_pooled_connections(offline_settings: Settings, db: sessionmaker[Session]) -> None:
    """Many readers at once use the connections the API keeps (`database_pool_size`), not one opened and closed
    per request beyond SQLAlchemy's default five; and no more blocking handlers run at once than it keeps."""
    from concurrent.futures import ThreadPoolExecutor

    import anyio.to_thread
    from sqlalchemy import event

    settings = offline_settings.model_copy(update={"database_pool_size": 8})
    with TestClient(create_app(settings), headers=AUTH) as client:
        report_id = queued_report(db, survey_with_responses(client))
        complete(db, report_id, {"response_count": 2}, nbformat.writes(nbformat.v4.new_notebook()))
        engine = client.app.state.sessions.kw["bind"]  # type: ignore[attr-defined]
        opened: list[object] = []
        closed: list[object] = []
        event.listen(engine, "connect", lambda *_: opened.append(None))
        event.listen(engine, "close", lambda *_: closed.append(None))
        tokens = client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)  # type: ignore[union-attr]
        assert tokens == 8

        def read(i: int) -> int:
            path = f"/api/v1/reports/{report_id}" + ("/status" if i % 2 else "")
            return client.get(path).status_code

        with ThreadPoolExecutor(16) as readers:
            assert set(readers.map(read, range(400))) == {200}
        # The pool opens connections as they are first needed and keeps them: none was opened for one checkout
        # and closed after it.
        assert closed == [], f"{len(closed)} connections opened and closed again"
        assert len(opened) <= 8 + BACKGROUND_CONNECTIONS
