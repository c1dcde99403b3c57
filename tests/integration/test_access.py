"""Who may see what: every route of the app (the API's OpenAPI paths and the pages) asked by no key, a revoked key,
another organization's key and each role, on objects of one organization; keys, sessions with CSRF, share links,
required roles, the audit log, rate limits and the cap on active reports."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import nbformat
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.access import PUBLIC, RULES, SHARE, rule_for
from api.main import ROUTERS, create_app
from tests.conftest import AUTH
from tests.integration.api_support import create_survey, import_json, response
from workbench.access import Role
from workbench.config import Settings
from workbench.statuses import ComponentStatus, ReportStatus
from workbench.storage import access as access_store
from workbench.storage import reports as report_store
from workbench.storage.models import DEFAULT_ORGANIZATION_ID, AuditEvent, Report, utcnow


def all_routes() -> list[tuple[str, str]]:
    """The routes of every router the app includes, and those it adds itself (/metrics)."""
    from fastapi.routing import APIRoute

    own = [r for r in create_app(Settings()).routes if isinstance(r, APIRoute)]
    routes = [r for router in ROUTERS for r in router.routes] + own
    return sorted({(m, r.path) for r in routes for m in r.methods})  # type: ignore[attr-defined]


def test_every_route_has_an_access_rule_and_every_rule_a_route() -> None:
    routes = set(all_routes())
    missing = [r for r in routes if rule_for(*r) is None]
    assert not missing, f"routes without an access rule in api.access.RULES: {missing}"
    assert set(RULES) <= routes, f"rules for routes that do not exist: {set(RULES) - routes}"


def test_the_openapi_document_lists_only_routes_with_rules(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method in operations:
            assert rule_for(method.upper(), path) is not None, (method, path)


@pytest.fixture
def world(client: TestClient, db: sessionmaker[Session]) -> dict[str, Any]:
    """One survey with responses and a completed report in the default organization; keys for each role there, a
    revoked key, and an admin key of another organization."""
    survey_id = create_survey(client)
    assert import_json(client, survey_id, [response("a", 9), response("b", 3)]).status_code == 201
    with db() as session:
        report = report_store.create_report(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                            survey_id=uuid.UUID(survey_id), component_names=["basic_stats"])
        report_store.finish_component(session, report_id=report.id, name="basic_stats",
                                      status=ComponentStatus.COMPLETED, result={"response_count": 2},
                                      html="<p>2</p>", error=None,
                                      notebook=nbformat.writes(nbformat.v4.new_notebook()))
        report_store.set_report_status(session, report_id=report.id, status=ReportStatus.COMPLETED)
        keys = {role.value: access_store.create_key(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                                    user_name=f"{role.value}-user", role=role).text
                for role in Role}
        revoked = access_store.create_key(session, organization_id=DEFAULT_ORGANIZATION_ID, user_name="gone",
                                          role=Role.ADMIN)
        access_store.revoke_key(session, organization_id=DEFAULT_ORGANIZATION_ID, key_id=revoked.key.id)
        other = access_store.create_organization(session, slug="other", name="Other")
        foreign = access_store.create_key(session, organization_id=other.id, user_name="them", role=Role.ADMIN).text
        session.commit()
        report_id = str(report.id)
    return {"survey_id": survey_id, "report_id": report_id, "keys": keys, "revoked": revoked.text,
            "foreign": foreign}


def expected_role(method: str, template: str) -> Role:
    """The policy, written apart from api.access.RULES so a wrong rule fails: admins manage keys, webhooks, the
    audit log and deletion; analysts change things (and see share links); viewers read."""
    if template.startswith(("/api/v1/keys", "/api/v1/audit", "/api/v1/webhooks")) or (
            method == "DELETE" and template.startswith("/api/v1/surveys")):
        return Role.ADMIN
    if method in ("POST", "PUT", "PATCH", "DELETE") or template.endswith("/share-links"):
        return Role.ANALYST
    return Role.VIEWER


def _fill(path: str, world: dict[str, Any]) -> str:
    values = {"survey_id": world["survey_id"], "report_id": world["report_id"], "component": "basic_stats",
              "job_id": str(uuid.uuid4()), "endpoint_id": str(uuid.uuid4()), "delivery_id": str(uuid.uuid4()),
              "key_id": str(uuid.uuid4()), "link_id": str(uuid.uuid4()), "name": "workbench.css",
              "token": "not-a-token", "batch_id": str(uuid.uuid4()), "schedule_id": str(uuid.uuid4())}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


# Routes whose answer for an allowed caller depends on more than access (a body, Temporal, a stream): the matrix
# checks that access is refused to those who may not call them and not answered 401/403 to those who may.
STREAMS = {("GET", "/api/v1/reports/{report_id}/events")}


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if method in ("POST", "DELETE") and not path.startswith("/ui/"):
        kwargs["json"] = {}
    return client.request(method, path, **kwargs).status_code


def test_the_access_matrix(client: TestClient, world: dict[str, Any]) -> None:
    bare = TestClient(client.app)  # no Authorization header
    rows = []
    for method, template in all_routes():
        if (method, template) in STREAMS or template in ("/logout", "/login"):
            continue
        rule = rule_for(method, template)
        assert rule is not None
        path = _fill(template, world)
        page = not template.startswith(("/api/", "/health", "/metrics"))
        no_key = _call(bare, method, path, {})
        if rule.role in (PUBLIC, SHARE):
            assert no_key not in (401, 403), (method, template, no_key)
            continue
        assert rule.role == expected_role(method, template), (method, template, rule.role)
        # Nobody signed in: 401 for the API, a redirect to sign in for a page (GET) or 401 for a form post.
        assert no_key == (303 if page and method == "GET" else 401), (method, template, no_key)
        assert _call(bare, method, path, {"Authorization": f"Bearer {world['revoked']}"}) == 401, (method, template)
        assert _call(bare, method, path, {"Authorization": "Bearer wb_0000000000_forged"}) == 401, (method, template)
        assert _call(bare, method, path, {"Authorization": "Basic abc"}) == 401, (method, template)
        # Another organization's admin: whatever names an object of this organization is not found.
        foreign = _call(bare, method, path, {"Authorization": f"Bearer {world['foreign']}"})
        if "{" in template and not template.startswith("/static"):
            assert foreign == 404, (method, template, foreign)
        for role in Role:
            got = _call(bare, method, path, {"Authorization": f"Bearer {world['keys'][role.value]}"})
            allowed = role.allows(rule.role)  # type: ignore[arg-type]
            if allowed:
                assert got not in (401, 403), (method, template, role, got)
            else:
                assert got == 403, (method, template, role, got)
            rows.append((method, template, role.value, got))
    assert len(rows) >= 3 * 40  # the matrix really walked the routes


def test_another_organization_sees_nothing_in_lists(client: TestClient, world: dict[str, Any]) -> None:
    them = {"Authorization": f"Bearer {world['foreign']}"}
    assert client.get("/api/v1/surveys", headers=them).json()["count"] == 0
    assert client.get("/api/v1/reports", headers=them).json()["count"] == 0
    assert world["survey_id"] not in client.get("/surveys", headers=them).text
    assert world["report_id"] not in client.get("/reports", headers=them).text
    assert client.get("/api/v1/keys", headers=them).json()[0]["user"] == "them"
    # ...while the organization's own viewer sees them.
    mine = {"Authorization": f"Bearer {world['keys']['viewer']}"}
    assert client.get("/api/v1/surveys", headers=mine).json()["count"] == 1


def test_keys_are_shown_once_stored_hashed_and_revocable(client: TestClient, db: sessionmaker[Session]) -> None:
    made = client.post("/api/v1/keys", json={"user": "ana", "role": "analyst", "name": "laptop"})
    assert made.status_code == 201, made.text
    text, key_id = made.json()["key"], made.json()["id"]
    assert text.startswith(made.json()["prefix"] + "_")
    with db() as session:
        stored = access_store.get_key(session, organization_id=DEFAULT_ORGANIZATION_ID, key_id=uuid.UUID(key_id))
        assert stored is not None and text not in (stored.key_hash, stored.prefix) and len(stored.key_hash) == 64
    listed = client.get("/api/v1/keys").json()
    assert all("key" not in k for k in listed) and any(k["id"] == key_id for k in listed)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {text}"}).json()["role"] == "analyst"
    assert client.delete(f"/api/v1/keys/{key_id}").status_code == 204
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {text}"}).status_code == 401
    assert client.post("/api/v1/keys", json={"user": "x", "role": "owner"}).status_code == 422


def test_pages_sign_in_with_a_key_keep_a_session_and_check_csrf(client: TestClient, world: dict[str, Any]) -> None:
    browser = TestClient(client.app, base_url="http://testserver")
    first = browser.get(f"/reports/{world['report_id']}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login?next=%2Freports%2F")
    bad = browser.post("/login", data={"key": "wb_0000000000_nope", "next": "/surveys"})
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    signed = browser.post("/login", data={"key": world["keys"]["analyst"], "next": "//evil.example/x"},
                          follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/surveys"  # no open redirect
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # plain HTTP here
    page = browser.get(f"/surveys/{world['survey_id']}")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    form = {"components": "basic_stats"}
    refused = browser.post(f"/ui/surveys/{world['survey_id']}/reports", data=form, follow_redirects=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    stale = browser.post(f"/ui/surveys/{world['survey_id']}/reports", data={**form, "csrf_token": "x" * 43},
                         follow_redirects=False)
    assert stale.status_code == 403
    accepted = browser.post(f"/ui/surveys/{world['survey_id']}/reports", data={**form, "csrf_token": token},
                            follow_redirects=False)
    assert accepted.status_code not in (401, 403)  # on to the request itself (Temporal is unreachable here)
    # The API with the cookie: reads work, a change needs the X-CSRF-Token header.
    assert browser.get(f"/api/v1/reports/{world['report_id']}/status").status_code == 200
    assert browser.post("/api/v1/reports", json={"survey_id": world["survey_id"]}).status_code == 403
    # Signing out ends the session: the cookie alone no longer works.
    saved = dict(browser.cookies)
    assert browser.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    replay = TestClient(client.app, cookies=saved)
    assert replay.get("/surveys", follow_redirects=False).status_code == 303


def test_revoking_a_key_ends_its_sessions(client: TestClient, world: dict[str, Any], db: sessionmaker[Session]) \
        -> None:
    browser = TestClient(client.app)
    browser.post("/login", data={"key": world["keys"]["viewer"], "next": "/surveys"})
    assert browser.get("/surveys", follow_redirects=False).status_code == 200
    with db() as session:
        key = access_store.authenticate_key(session, world["keys"]["viewer"])
        assert key is not None
        access_store.revoke_key(session, organization_id=DEFAULT_ORGANIZATION_ID, key_id=key.id)
        session.commit()
    assert browser.get("/surveys", follow_redirects=False).status_code == 303


def test_required_roles_hide_a_report_from_other_roles(client: TestClient, world: dict[str, Any],
                                                       db: sessionmaker[Session]) -> None:
    with db() as session:
        report = session.get(Report, uuid.UUID(world["report_id"]))
        assert report is not None
        report.required_roles = ["analyst"]
        session.commit()
    viewer = {"Authorization": f"Bearer {world['keys']['viewer']}"}
    analyst = {"Authorization": f"Bearer {world['keys']['analyst']}"}
    rid = world["report_id"]
    assert client.get(f"/api/v1/reports/{rid}", headers=viewer).status_code == 404
    assert client.get(f"/reports/{rid}", headers=viewer).status_code == 404
    assert client.get("/api/v1/reports", headers=viewer).json()["count"] == 0
    assert client.get(f"/api/v1/reports/{rid}", headers=analyst).status_code == 200
    assert client.get("/api/v1/reports", headers=analyst).json()["count"] == 1
    assert client.get(f"/api/v1/reports/{rid}").status_code == 200  # admins always may


def test_the_report_request_takes_required_roles(client: TestClient, world: dict[str, Any]) -> None:
    bad = client.post("/api/v1/reports", json={"survey_id": world["survey_id"], "required_roles": ["owner"]})
    assert bad.status_code == 422 and "required_roles" in bad.text


def test_share_links_let_an_outsider_read_one_report_until_revoked(
        client: TestClient, world: dict[str, Any], db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    rid = world["report_id"]
    viewer = {"Authorization": f"Bearer {world['keys']['viewer']}"}
    assert client.post(f"/api/v1/reports/{rid}/share-links", json={}, headers=viewer).status_code == 403
    too_long = client.post(f"/api/v1/reports/{rid}/share-links", json={"expires_in_days": 1000})
    assert too_long.status_code == 422 and "expires_in_days" in too_long.text
    made = client.post(f"/api/v1/reports/{rid}/share-links", json={"expires_in_days": 2})
    assert made.status_code == 201, made.text
    url, link_id = made.json()["url"], made.json()["id"]
    path = "/" + url.split("/", 3)[3]
    outsider = TestClient(client.app)
    page = outsider.get(path)
    assert page.status_code == 200 and "<script" not in page.text.lower()
    assert outsider.get(path + "x").status_code == 404
    assert outsider.get(f"/api/v1/reports/{rid}").status_code == 401  # the link opens this page, nothing else
    listed = client.get(f"/api/v1/reports/{rid}/share-links").json()
    assert listed[0]["uses"] == 1 and "url" not in listed[0]
    assert client.app.state.audit.flush()  # written in the background
    with db() as session:
        uses = [e for e in access_store.audit_events(session, organization_id=DEFAULT_ORGANIZATION_ID)
                if e.action == "share_link.read"]
        assert uses and uses[0].object_id == rid
    assert client.delete(f"/api/v1/share-links/{link_id}").status_code == 204
    assert outsider.get(path).status_code == 404
    assert client.delete(f"/api/v1/share-links/{link_id}", headers={
        "Authorization": f"Bearer {world['foreign']}"}).status_code == 404


def test_an_expired_share_link_is_404(client: TestClient, world: dict[str, Any], db: sessionmaker[Session]) -> None:
    with db() as session:
        made = access_store.create_share_link(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                              report_id=uuid.UUID(world["report_id"]),
                                              expires_at=utcnow() - timedelta(seconds=1), created_by="test")
        session.commit()
    assert TestClient(client.app).get(f"/share/{made.token}").status_code == 404


def test_the_audit_log_records_who_did_what(client: TestClient, world: dict[str, Any],
                                            db: sessionmaker[Session]) -> None:
    analyst = {"Authorization": f"Bearer {world['keys']['analyst']}"}
    survey_id = create_survey(client, title="Audited")
    client.post("/api/v1/reports", json={"survey_id": survey_id}, headers=analyst)  # 422: no responses
    client.get(f"/api/v1/reports/{world['report_id']}/notebooks/basic_stats.ipynb")
    made = client.post("/api/v1/keys", json={"user": "z", "role": "viewer"}).json()
    events = client.get("/api/v1/audit").json()
    actions = [(e["action"], e["status_code"]) for e in events]
    assert ("survey.create", 201) in actions
    assert ("report.start", 422) in actions
    assert ("report.download_notebook", 200) in actions
    assert ("key.create", 201) in actions
    key_event = next(e for e in events if e["action"] == "key.create")
    assert key_event["object_id"] == made["id"] and key_event["actor"].startswith("key wb_0123456789")
    start = next(e for e in events if e["action"] == "report.start")
    assert "analyst-user" in start["actor"] and start["role"] == "analyst"
    assert client.get("/api/v1/audit", headers=analyst).status_code == 403
    with db() as session:
        assert session.query(AuditEvent).filter(AuditEvent.organization_id != DEFAULT_ORGANIZATION_ID).count() == 0


@pytest.fixture
def limited(offline_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(offline_settings.model_copy(update={"rate_limit": "5/minute"})),
                    headers=AUTH) as client:
        yield client


def test_rate_limits_answer_429_with_retry_after_per_key(limited: TestClient) -> None:
    answers = [limited.get("/api/v1/surveys") for _ in range(6)]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    assert answers[5].status_code == 429 and int(answers[5].headers["retry-after"]) >= 1
    made = limited.post("/api/v1/keys", headers={}, json={"user": "b", "role": "viewer"})
    assert made.status_code == 429  # the same key: still limited
    assert limited.get("/health").status_code in (200, 503)  # health checks are never limited


def test_active_reports_per_organization_are_capped(client: TestClient, world: dict[str, Any],
                                                    db: sessionmaker[Session]) -> None:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = settings.model_copy(update={"max_active_reports": 1})  # type: ignore[attr-defined]
    with db() as session:
        report_store.create_report(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                   survey_id=uuid.UUID(world["survey_id"]), component_names=["basic_stats"])
        session.commit()
    refused = client.post("/api/v1/reports", json={"survey_id": world["survey_id"]})
    assert refused.status_code == 429 and "WORKBENCH_MAX_ACTIVE_REPORTS" in refused.text
    assert refused.headers["retry-after"] == "30"
    with db() as session:
        assert report_store.count_active_reports(session, organization_id=DEFAULT_ORGANIZATION_ID) == 1


def test_the_audit_writer_batches_events_isolates_a_bad_one_and_writes_all_before_it_stops(
    db: sessionmaker[Session],
) -> None:
    # One thread writes the audit log so that audited reads do not each hold a pooled connection (and, on SQLite,
    # the write lock): many requests at once ran the pool dry and answered 503.
    from api.access import AuditWriter

    def event(i: int, **extra: Any) -> dict[str, Any]:
        return {"organization_id": DEFAULT_ORGANIZATION_ID, "actor": f"writer-test {i}", "role": "viewer",
                "action": "writer.test", "object_type": None, "object_id": str(i), "status_code": 200,
                "details": None, **extra}

    async def submit_all(writer: AuditWriter, events: list[dict[str, Any]]) -> None:
        for e in events:
            await writer.submit(e)

    writer = AuditWriter(db, max_batch=50, max_queued=20).start()  # a small queue: submit waits, nothing is lost
    events = [event(i) for i in range(300)]
    events[123] = event(123, organization_id=uuid.uuid4())  # no such organization: its insert fails
    asyncio.run(submit_all(writer, events))
    assert writer.flush(timeout=60)
    asyncio.run(submit_all(writer, [event(i) for i in range(300, 310)]))
    writer.stop()  # writes what is still queued
    with db() as session:
        written = {e.object_id for e in access_store.audit_events(session, organization_id=DEFAULT_ORGANIZATION_ID,
                                                                  action="writer.test", limit=1000)}
    assert written == {str(i) for i in range(310)} - {"123"}

    # Records that arrive one by one within the linger time share one transaction, not one each.
    batches: list[int] = []
    original = AuditWriter.write

    def counted(sessions: Any, records: list[Any]) -> None:
        batches.append(len(records))
        original(sessions, records)

    writer = AuditWriter(db, linger=2.0).start()
    writer.write = counted  # type: ignore[method-assign]

    async def trickle() -> None:
        for i in range(400, 410):
            await writer.submit(event(i))
            await asyncio.sleep(0.01)

    asyncio.run(trickle())
    assert writer.flush(timeout=60)
    writer.stop()
    assert batches == [10]


@pytest.mark.parametrize("ttl", [0.0, 3.0])
def test_a_key_revoked_by_another_process_is_refused_within_the_key_cache_time(
    offline_settings: Settings, db: sessionmaker[Session], ttl: float
) -> None:
    """A revocation made elsewhere (another API replica, the CLI) reaches this process's key cache within
    `api_key_cache_seconds`; with 0 it is refused at the next request."""
    import time

    with TestClient(create_app(offline_settings.model_copy(update={"api_key_cache_seconds": ttl}))) as app:
        with db() as session:
            made = access_store.create_key(session, organization_id=DEFAULT_ORGANIZATION_ID, user_name="far",
                                           role=Role.VIEWER)
            session.commit()
        auth = {"Authorization": f"Bearer {made.text}"}
        assert app.get("/api/v1/me", headers=auth).status_code == 200
        with db() as session:
            access_store.revoke_key(session, organization_id=DEFAULT_ORGANIZATION_ID, key_id=made.key.id)
            session.commit()
        revoked_at = time.monotonic()
        if ttl:
            # still trusted from the cache (the request is well inside the 3 s), then refused once it expires
            assert app.get("/api/v1/me", headers=auth).status_code == 200
            assert time.monotonic() - revoked_at < ttl
            time.sleep(ttl - (time.monotonic() - revoked_at) + 0.1)
        assert app.get("/api/v1/me", headers=auth).status_code == 401
