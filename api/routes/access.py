"""Signing in to the pages, API keys, the audit log and share links (the rules are in `api.access.RULES`)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.access import SESSION_COOKIE, check_csrf, principal_of
from api.deps import OrganizationDep, ReportDep, SessionDep, SettingsDep
from api.routes.pages import error_page, html_page
from api.schemas import error_responses
from workbench.access import Role
from workbench.rendering.page import render_page, render_report_document
from workbench.rendering.pdf import ChromiumUnavailable
from workbench.reports.views import NoPdf, report_page_view, stored_report_pdf
from workbench.storage import access as store
from workbench.storage.models import ApiKey, AuditEvent, ShareLink, utcnow

router = APIRouter(tags=["access"], responses=error_responses(401, 403))
pages = APIRouter(tags=["pages"], include_in_schema=False)


# --- who am I, keys, audit ---------------------------------------------------------------------------------------


class MePublic(BaseModel):
    organization_id: uuid.UUID
    role: Role
    user_id: uuid.UUID | None
    key: str = Field(description="The caller: the key's lookup prefix and its user")


class KeyCreate(BaseModel):
    user: str = Field(min_length=1, max_length=200, description="The user the key belongs to (made if new)")
    role: Role
    name: str = Field("", max_length=200, description="What the key is for")
    email: str | None = Field(None, max_length=320)


class KeyPublic(BaseModel):
    id: uuid.UUID
    prefix: str = Field(description="The key's first characters (`wb_<prefix>_...`), to recognise it")
    name: str
    user: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


class AuditEventPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str | None
    action: str
    object_type: str | None
    object_id: str | None
    status_code: int | None
    details: dict[str, Any] | None


def key_public(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "prefix": f"wb_{key.prefix}", "name": key.name, "user": key.user.name,
            "role": Role(key.role), "created_at": key.created_at, "last_used_at": key.last_used_at,
            "revoked_at": key.revoked_at}


@router.get("/api/v1/me")
def me(request: Request) -> MePublic:
    """The caller: organization, role and key."""
    principal = principal_of(request)
    return MePublic(organization_id=principal.organization_id, role=principal.role, user_id=principal.user_id,
                    key=principal.label)


@router.get("/api/v1/keys")
def list_keys(session: SessionDep, org: OrganizationDep) -> list[KeyPublic]:
    """The organization's API keys (never their secrets), revoked ones included."""
    return [KeyPublic.model_validate(key_public(k)) for k in store.list_keys(session, organization_id=org)]


@router.post("/api/v1/keys", status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, session: SessionDep, org: OrganizationDep, response: Response) -> KeyCreated:
    """Make a key for a user of the caller's organization; the answer holds the key, shown this once."""
    created = store.create_key(session, organization_id=org, user_name=body.user, role=body.role,
                               name=body.name, email=body.email)
    session.commit()
    response.headers["Location"] = f"/api/v1/keys/{created.key.id}"
    return KeyCreated.model_validate({**key_public(created.key), "key": created.text})


@router.delete("/api/v1/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=error_responses(404))
def revoke_key(key_id: uuid.UUID, session: SessionDep, org: OrganizationDep, request: Request) -> Response:
    """Revoke a key: it and the sign-ins made with it stop working at once (other API processes stop accepting
    the key within `WORKBENCH_API_KEY_CACHE_SECONDS`)."""
    if store.revoke_key(session, organization_id=org, key_id=key_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"key {key_id} not found")
    session.commit()
    keys = getattr(request.app.state, "keys", None)
    if keys is not None:
        keys.clear()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/v1/audit")
def audit_log(request: Request, session: SessionDep, org: OrganizationDep,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              before: Annotated[int | None, Query(ge=1, description="Events older than this id (paging)")] = None,
              action: str | None = None) -> list[AuditEventPublic]:
    """Who did what in the organization, newest first."""
    writer = getattr(request.app.state, "audit", None)
    if writer is not None:
        writer.flush()  # events are written in the background: include those of requests already answered
    rows: list[AuditEvent] = store.audit_events(session, organization_id=org, limit=limit, before=before,
                                                action=action)
    return [AuditEventPublic.model_validate(r, from_attributes=True) for r in rows]


# --- share links -------------------------------------------------------------------------------------------------


class ShareLinkCreate(BaseModel):
    expires_in_days: float = Field(7, gt=0, description="How long the link works (at most the configured maximum)")


class ShareLinkPublic(BaseModel):
    id: uuid.UUID
    report_id: uuid.UUID
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    uses: int
    last_used_at: datetime | None


class ShareLinkCreated(ShareLinkPublic):
    url: str = Field(description="The report for anyone with this link (shown this once)")
    pdf_url: str


@router.post("/api/v1/reports/{report_id}/share-links", status_code=status.HTTP_201_CREATED,
             responses=error_responses(404))
def create_share_link(body: ShareLinkCreate, report: ReportDep, request: Request, session: SessionDep,
                      settings: SettingsDep) -> ShareLinkCreated:
    """A link that lets someone outside the organization read this report and its PDF until it expires."""
    if body.expires_in_days > settings.share_link_max_days:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "expires_in_days"], "type": "less_than_equal",
            "msg": f"a share link may last at most {settings.share_link_max_days} days"}])
    principal = principal_of(request)
    created = store.create_share_link(session, organization_id=report.organization_id, report_id=report.id,
                                      expires_at=utcnow() + timedelta(days=body.expires_in_days),
                                      created_by=principal.label)
    session.commit()
    base = f"{settings.base_url}/share/{created.token}"
    return ShareLinkCreated.model_validate({**_link(created.link), "url": base, "pdf_url": f"{base}/pdf"})


@router.get("/api/v1/reports/{report_id}/share-links", responses=error_responses(404))
def list_share_links(report: ReportDep, session: SessionDep) -> list[ShareLinkPublic]:
    """The report's share links (never their tokens), with their uses."""
    links = store.list_share_links(session, organization_id=report.organization_id, report_id=report.id)
    return [ShareLinkPublic.model_validate(_link(link)) for link in links]


@router.delete("/api/v1/share-links/{link_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=error_responses(404))
def revoke_share_link(link_id: uuid.UUID, session: SessionDep, org: OrganizationDep) -> Response:
    """Revoke a share link: it answers 404 from now on."""
    if store.revoke_share_link(session, organization_id=org, link_id=link_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"share link {link_id} not found")
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _link(link: ShareLink) -> dict[str, Any]:
    return {name: getattr(link, name) for name in ShareLinkPublic.model_fields}


def _shared(session: Session, token: str, what: str) -> Any:
    """The report a live share link names, its use counted and audited; None for any other token (one answer
    for unknown, expired and revoked, so a link reveals nothing about others)."""
    found = store.use_share_link(session, token)
    if found is None:
        return None
    link, report = found
    store.record(session, organization_id=link.organization_id, actor=f"share link {link.id}", action=what,
                 object_type="report", object_id=str(report.id), status_code=200)
    session.commit()
    return link, report


@pages.get("/share/{token}")
def shared_report(token: str, session: SessionDep) -> HTMLResponse:
    """The report a share link names: the composed reader's report, as printed (no buttons, no script)."""
    found = _shared(session, token, "share_link.read")
    if found is None:
        return error_page(404, "This link is unknown, expired or revoked.", back_url="/login",
                          back_label="Sign in")
    _, report = found
    if not report.status.finished:
        return error_page(409, "The report is still being generated; try again in a minute.", back_url="/login",
                          back_label="Sign in")
    return html_page(render_report_document(report_page_view(session, report)))


@pages.get("/share/{token}/pdf")
def shared_pdf(token: str, session: SessionDep, settings: SettingsDep) -> Response:
    found = _shared(session, token, "share_link.download_pdf")
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this link is unknown, expired or revoked")
    link, report = found
    if not report.status.finished:
        raise HTTPException(status.HTTP_409_CONFLICT, "the report is still being generated")
    try:
        pdf, cached = stored_report_pdf(session, report, settings.chromium_path, who=f"share link {link.id}")
    except NoPdf as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except ChromiumUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="report-{report.id}.pdf"',
        "X-Workbench-Cache": "hit" if cached else "miss"})


# --- signing in to the pages -------------------------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    """Only a path of this site (never `//host` or a scheme): an open redirect would make sign-in phishable."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or urlsplit(value).netloc:
        return "/surveys"
    return value


@pages.get("/login")
def login_page(next: str | None = None, error: str | None = None) -> HTMLResponse:  # noqa: A002 - the query name
    return html_page(render_page("login.html.j2", next_url=_safe_next(next), error=error))


@pages.post("/login")
def sign_in(request: Request, session: SessionDep, settings: SettingsDep,
            key: Annotated[str, Form(max_length=200)] = "", next: Annotated[str, Form()] = "/surveys",  # noqa: A002
            ) -> Response:
    """Sign in with an API key: the page keeps a session cookie (HttpOnly, SameSite=Lax, Secure over TLS)."""
    site = request.headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):  # login CSRF: another site signing the browser in as someone else
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a sign-in posted from another site is refused")
    found = store.authenticate_key(session, key.strip())
    if found is None:
        return html_page(render_page("login.html.j2", next_url=_safe_next(next),
                                     error="That key is unknown or revoked."), 401)
    created = store.create_web_session(session, key=found, hours=settings.session_hours)
    store.record(session, organization_id=found.organization_id, actor=store.key_label(found), role=found.role,
                 action="session.sign_in", status_code=303)
    session.commit()
    response = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(SESSION_COOKIE, created.token, max_age=int(settings.session_hours * 3600), httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return response


@pages.post("/logout")
async def sign_out(request: Request, session: SessionDep) -> Response:
    form = await request.form()
    value = form.get("csrf_token")
    check_csrf(getattr(request.state, "principal", None), value if isinstance(value, str) else None)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        store.end_web_session(session, cookie)
        session.commit()
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
