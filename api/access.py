"""Access control at one place: every route has a rule in `RULES` (who may call it, what the audit log calls it);
`authorize`, a dependency of the whole app, finds the caller and applies the rule before any route code runs.

- The caller is found from `Authorization: Bearer <key>` (scripts, the API) or the sign-in cookie (the pages).
  Unknown, malformed and revoked keys, and expired sessions, are all 401 (the pages redirect to sign in).
- A route without a rule answers 500 (closed, never open); the access-matrix test fails for it first.
- Another organization's objects are not found by the routes (their storage calls take the organization), so
  they answer 404 exactly as missing ones do.
- Unsafe methods authenticated by the cookie need the session's CSRF token: the `X-CSRF-Token` header (the pages'
  script) or, for the pages' forms, the `csrf_token` field the form routes check (`check_form_csrf`).
- Rate limits per key (per address without one), moving window, from the `limits` library: 429 + Retry-After.
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, status
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workbench.access import Principal, Role, digest
from workbench.rendering.page import SignedIn, signed_in
from workbench.storage import access as access_store

log = logging.getLogger(__name__)
# The request's caller, for code far from the route's signature (the pages' helpers); set by `authorize`.
current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
SESSION_COOKIE = "workbench_session"
PUBLIC = "public"  # no caller needed
SHARE = "share"  # the route checks a share-link token itself


@dataclass(frozen=True)
class Rule:
    role: Role | str  # a Role, PUBLIC or SHARE
    audit: str | None = None  # the audit log's action name; None: not audited
    form_csrf: bool = False  # a page form: the route checks the CSRF field of the form it reads


V, A, AD = Role.VIEWER, Role.ANALYST, Role.ADMIN

# (method, path template) -> rule. Adding a route means adding its rule here (the access-matrix test checks).
RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/health"): Rule(PUBLIC),
    ("GET", "/health/live"): Rule(PUBLIC),
    ("GET", "/health/ready"): Rule(PUBLIC),
    ("GET", "/metrics"): Rule(PUBLIC),  # counts only, no survey data; scraped by Prometheus without a key
    ("POST", "/api/webhooks/report-completed"): Rule(PUBLIC),  # verified by its signature
    ("GET", "/static/{name}"): Rule(PUBLIC),
    ("GET", "/login"): Rule(PUBLIC),
    ("POST", "/login"): Rule(PUBLIC),  # audited by the route (the caller is known only after it)
    ("POST", "/logout"): Rule(V, form_csrf=True),
    ("GET", "/share/{token}"): Rule(SHARE),
    ("GET", "/share/{token}/pdf"): Rule(SHARE),
    # The API
    ("GET", "/api/v1/components"): Rule(V),
    ("GET", "/api/v1/surveys"): Rule(V),
    ("POST", "/api/v1/surveys"): Rule(A, audit="survey.create"),
    ("POST", "/api/v1/surveys/import"): Rule(A, audit="survey.import"),
    ("GET", "/api/v1/surveys/{survey_id}"): Rule(V),
    ("DELETE", "/api/v1/surveys/{survey_id}"): Rule(AD, audit="survey.delete"),
    ("POST", "/api/v1/surveys/{survey_id}/responses"): Rule(A, audit="responses.import"),
    ("GET", "/api/v1/imports/{job_id}"): Rule(V),
    ("POST", "/api/v1/reports"): Rule(A, audit="report.start"),
    ("GET", "/api/v1/reports"): Rule(V),
    ("GET", "/api/v1/reports/{report_id}"): Rule(V, audit="report.read"),
    ("GET", "/api/v1/reports/{report_id}/status"): Rule(V),
    ("GET", "/api/v1/reports/{report_id}/events"): Rule(V),
    ("GET", "/api/v1/reports/{report_id}/components/{component}"): Rule(V),
    ("GET", "/api/v1/reports/{report_id}/notebooks/{component}.ipynb"): Rule(V, audit="report.download_notebook"),
    ("GET", "/api/v1/reports/{report_id}/pdf"): Rule(V, audit="report.download_pdf"),
    ("POST", "/api/v1/reports/{report_id}/cancel"): Rule(A, audit="report.cancel"),
    ("POST", "/api/v1/reports/{report_id}/components/{component}/rerun"): Rule(A, audit="report.rerun"),
    ("POST", "/api/v1/report-batches"): Rule(A, audit="batch.start"),
    ("GET", "/api/v1/report-batches/{batch_id}"): Rule(V),
    ("POST", "/api/v1/report-batches/{batch_id}/cancel"): Rule(A, audit="batch.cancel"),
    ("POST", "/api/v1/schedules"): Rule(A, audit="schedule.create"),
    ("GET", "/api/v1/schedules"): Rule(V),
    ("GET", "/api/v1/schedules/{schedule_id}"): Rule(V),
    ("PATCH", "/api/v1/schedules/{schedule_id}"): Rule(A, audit="schedule.update"),
    ("POST", "/api/v1/schedules/{schedule_id}/pause"): Rule(A, audit="schedule.pause"),
    ("POST", "/api/v1/schedules/{schedule_id}/resume"): Rule(A, audit="schedule.resume"),
    ("POST", "/api/v1/schedules/{schedule_id}/trigger"): Rule(A, audit="schedule.trigger"),
    ("DELETE", "/api/v1/schedules/{schedule_id}"): Rule(A, audit="schedule.delete"),
    ("GET", "/api/v1/surveys/{survey_id}/reports/latest"): Rule(V),
    ("POST", "/api/v1/reports/{report_id}/share-links"): Rule(A, audit="share_link.create"),
    ("GET", "/api/v1/reports/{report_id}/share-links"): Rule(A),
    ("DELETE", "/api/v1/share-links/{link_id}"): Rule(A, audit="share_link.revoke"),
    ("POST", "/api/v1/webhooks"): Rule(AD, audit="webhook.create"),
    ("GET", "/api/v1/webhooks"): Rule(AD),
    ("DELETE", "/api/v1/webhooks/{endpoint_id}"): Rule(AD, audit="webhook.delete"),
    ("GET", "/api/v1/webhooks/{endpoint_id}/deliveries"): Rule(AD),
    ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/replay"): Rule(AD, audit="webhook.replay"),
    ("GET", "/api/v1/me"): Rule(V),
    ("GET", "/api/v1/keys"): Rule(AD),
    ("POST", "/api/v1/keys"): Rule(AD, audit="key.create"),
    ("DELETE", "/api/v1/keys/{key_id}"): Rule(AD, audit="key.revoke"),
    ("GET", "/api/v1/audit"): Rule(AD),
    # The pages
    ("GET", "/"): Rule(V),
    ("GET", "/surveys"): Rule(V),
    ("GET", "/surveys/{survey_id}"): Rule(V),
    ("GET", "/imports/{job_id}"): Rule(V),
    ("GET", "/reports"): Rule(V),
    ("GET", "/reports/{report_id}"): Rule(V),
    ("GET", "/surveys/{survey_id}/reports/latest"): Rule(V),
    ("POST", "/ui/surveys"): Rule(A, audit="survey.create", form_csrf=True),
    ("POST", "/ui/surveys/{survey_id}/responses"): Rule(A, audit="responses.import", form_csrf=True),
    ("POST", "/ui/surveys/{survey_id}/reports"): Rule(A, audit="report.start", form_csrf=True),
    ("POST", "/ui/reports/{report_id}/cancel"): Rule(A, audit="report.cancel", form_csrf=True),
    ("POST", "/ui/reports/{report_id}/components/{component}/rerun"): Rule(A, audit="report.rerun",
                                                                          form_csrf=True),
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class SignInRequired(Exception):
    """A page asked for without a valid sign-in: the handler redirects to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def is_page(path: str) -> bool:
    return not path.startswith(("/api/", "/health"))


class RateLimits:
    """One moving-window limiter per process (a replica limits its own share; documented)."""

    def __init__(self, spec: str) -> None:
        self.items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, identity: str) -> None:
        for item in self.items:
            if not self.limiter.hit(item, identity):
                reset = self.limiter.get_window_stats(item, identity).reset_time
                retry = max(1, math.ceil(reset - time.time()))
                raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                    f"rate limit {item} exceeded; retry in {retry} s",
                                    headers={"Retry-After": str(retry)})


class KeyCache:
    """Callers found by their bearer key, kept for `ttl` seconds so a client polling a report is not looked up in
    the database on every request (the lookup and its thread-pool hop were a third of a status read).

    Only keys that were found are kept (a key made a moment ago works at once). A key revoked through this
    process is dropped from its cache at once; other API processes stop accepting it within `ttl` seconds
    (documented with `WORKBENCH_API_KEY_CACHE_SECONDS`; 0 turns the cache off). Keyed by the key's digest,
    never its text; bounded, cleared whole when full.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._found: dict[str, tuple[float, Principal]] = {}

    def get(self, token: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        entry = self._found.get(digest(token))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, token: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._found) >= self.max_entries:
            self._found.clear()
        self._found[digest(token)] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        self._found.clear()


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the Authorization header must be 'Bearer <API key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def find_principal(request: Request, sessions: sessionmaker[Session]) -> Principal | None:
    """The caller, from the bearer key or the sign-in cookie; None when neither is presented.

    Raises:
        HTTPException: 401 for a key that is unknown, malformed or revoked (a wrong key is never anonymous).
    """
    token = _bearer(request)
    with sessions() as session:
        if token is not None:
            key = access_store.authenticate_key(session, token)
            if key is None:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the API key is unknown or revoked",
                                    headers={"WWW-Authenticate": "Bearer"})
            return access_store.principal_for_key(key)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            found = access_store.authenticate_session(session, cookie)
            if found is not None:
                web, key = found
                return access_store.principal_for_key(key, session_id=web.id, csrf=web.csrf_token)
    return None


def _route_template(request: Request) -> str | None:
    route = request.scope.get("route")
    return getattr(route, "path", None)


def rule_for(method: str, template: str) -> Rule | None:
    return RULES.get(("GET" if method == "HEAD" else method, template))


async def authorize(request: Request) -> None:
    """The app-wide dependency: find the rule, the caller and the rate limit; refuse before the route runs."""
    template = _route_template(request)
    rule = rule_for(request.method, template or "")
    if rule is None:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"no access rule for {request.method} {template}")
    state = request.app.state
    limits: RateLimits = getattr(state, "rate_limits", None) or RateLimits("")
    if rule.role in (PUBLIC, SHARE):
        if rule.role == SHARE or request.method in UNSAFE:
            limits.check(f"addr:{request.client.host if request.client else '-'}")
        request.state.principal = None
        request.state.audit = rule.audit
        current_principal.set(None)
        return
    pending = getattr(state, "bootstrap_key", None)
    if pending is not None:  # the database was down when the app started
        from api.main import store_bootstrap_key

        await run_in_threadpool(store_bootstrap_key, state.sessions, pending)
        state.bootstrap_key = None
    keys: KeyCache | None = getattr(state, "keys", None)
    token = _bearer(request)
    principal = keys.get(token) if keys is not None and token is not None else None
    if principal is None:
        principal = await run_in_threadpool(find_principal, request, state.sessions)
        if keys is not None and token is not None and principal is not None:
            keys.put(token, principal)
    if principal is None:
        if is_page(request.url.path) and request.method == "GET":
            raise SignInRequired(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "an API key is required (Authorization: Bearer <key>)",
                            headers={"WWW-Authenticate": "Bearer"})
    limits.check(f"key:{principal.key_id}")
    assert isinstance(rule.role, Role)
    if not principal.role.allows(rule.role):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"this needs the {rule.role.value} role; the caller's key has {principal.role.value}")
    if principal.session_id is not None and request.method in UNSAFE and not rule.form_csrf:
        check_csrf(principal, request.headers.get("x-csrf-token"))
    request.state.principal = principal
    request.state.audit = rule.audit
    current_principal.set(principal)
    if principal.session_id is not None:
        signed_in.set(SignedIn(label=principal.label, csrf_token=principal.csrf_token or ""))


def check_csrf(principal: Principal | None, presented: str | None) -> None:
    """A request made with the sign-in cookie must carry the session's CSRF token (bearer keys need none)."""
    if principal is None or principal.session_id is None:
        return
    if not presented or not principal.csrf_token or not hmac.compare_digest(presented, principal.csrf_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form's CSRF token is missing or stale: reload the page")


def check_form_csrf(request: Request, fields: dict[str, list[Any]]) -> None:
    """For the pages' form routes, after they read their form."""
    values = fields.get("csrf_token") or [None]
    check_csrf(getattr(request.state, "principal", None), values[0])


def principal_of(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "an API key is required")
    return principal


class AuditTrail:
    """Writes the audit event of an audited route after its response, with the status it answered and the object
    it concerned (path ids, or the `Location` of what it created). Failed requests (4xx/5xx) are recorded too:
    a refused deletion is worth knowing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer: dict[str, Any] = {}
        state = scope.setdefault("state", {})  # the dict `request.state` writes to, further in

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["location"] = next((v.decode("latin-1") for k, v in message.get("headers", [])
                                           if k.lower() == b"location"), None)
            await send(message)

        await self.app(scope, receive, watch)
        action = state.get("audit")
        principal: Principal | None = state.get("principal")
        if not action or principal is None or "status" not in answer:
            return
        params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
        object_type, object_id = _object_of(params, answer.get("location"))
        details = {**({"path": params} if params else {}),
                   **({"location": answer["location"]} if answer.get("location") else {})}
        event = {"organization_id": principal.organization_id, "actor": principal.label,
                 "role": principal.role.value, "action": action, "object_type": object_type,
                 "object_id": object_id, "status_code": answer["status"], "details": details or None}
        writer: AuditWriter | None = getattr(scope["app"].state, "audit", None)
        if writer is not None:
            await writer.submit(event)
            return
        sessions = scope["app"].state.sessions  # an app run without its lifespan (no writer): write it here

        def write() -> None:
            AuditWriter.write(sessions, [event])

        await run_in_threadpool(write)


# An audit event (the columns of `access_store.record`), or any other write of a read route (a download record).
Record = dict[str, Any] | Callable[[Session], None]


class AuditWriter:
    """Writes audit events (and the download records of reads) from one thread, many per transaction.

    Writing each event in its request's thread took a pooled connection (and, on SQLite, the write lock) per
    audited read: with many clients reading at once, requests queued behind audit inserts until the pool ran dry
    and answered 503. One writer keeps audit writes to one connection at a time. `submit` waits only when
    `max_queued` events are waiting (back-pressure instead of unbounded memory); `flush` waits until everything
    submitted is written (the audit route calls it, so a caller sees its own events); `stop` writes what is left.
    A batch that fails is retried event by event, so one bad event cannot lose the others; an event that still
    fails is logged, as before (the answer was sent; a lost audit row must not turn it into an error).
    """

    def __init__(self, sessions: sessionmaker[Session], max_batch: int = 500, max_queued: int = 10_000,
                 linger: float = 0.05) -> None:
        self.sessions, self.max_batch, self.linger = sessions, max_batch, linger
        self._queue: queue.Queue[Record | None] = queue.Queue(max_queued)
        self._unwritten = 0
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)

    def start(self) -> AuditWriter:
        self._thread.start()
        return self

    async def submit(self, event: dict[str, Any]) -> None:
        with self._changed:
            self._unwritten += 1
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            await run_in_threadpool(self._queue.put, event)

    def put(self, write: Callable[[Session], None]) -> None:
        """From a thread (a sync route): another record to write in the same transactions, e.g. a download.
        Blocks only when `max_queued` are waiting."""
        with self._changed:
            self._unwritten += 1
        self._queue.put(write)

    def flush(self, timeout: float = 10) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._unwritten == 0, timeout)

    def stop(self, timeout: float = 10) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch, stopping = ([] if first is None else [first]), first is None
            # The batch gathers for `linger` seconds after its first record: under a stream of audited reads a
            # transaction per few records kept SQLite's write lock and its log busy, and the readers' queries
            # waited on them (the audited report JSON answered a third fewer requests than the status route).
            deadline = time.monotonic() + self.linger
            while not stopping and len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
            try:
                if batch:
                    self.write(self.sessions, batch)
            finally:
                with self._changed:
                    self._unwritten -= len(batch)
                    self._changed.notify_all()
            if stopping:
                return

    @staticmethod
    def write(sessions: sessionmaker[Session], events: list[Record]) -> None:
        try:
            with sessions() as session:
                for event in events:
                    if callable(event):
                        event(session)
                    else:
                        access_store.record(session, **event)
                session.commit()
            return
        except Exception:
            if len(events) == 1:
                what = events[0]["action"] if isinstance(events[0], dict) else events[0]
                log.exception("audit record %s not written", what)
                return
        for event in events:
            AuditWriter.write(sessions, [event])


def _singular(word: str) -> str:
    if word.endswith(("ches", "shes", "xes")):
        return word[:-2]  # report-batches -> report-batch
    return word.removesuffix("s")


def _object_of(params: dict[str, str], location: str | None) -> tuple[str | None, str | None]:
    for name in ("report_id", "survey_id", "endpoint_id", "delivery_id", "key_id", "link_id", "job_id",
                 "schedule_id"):
        if name in params:
            return name.removesuffix("_id"), params[name]
    if location:
        parts = [p for p in location.split("?")[0].split("/") if p]
        for kind, part in zip(parts, parts[1:], strict=False):
            try:
                uuid.UUID(part)
            except ValueError:
                continue
            return _singular(kind), part
    return None, None
