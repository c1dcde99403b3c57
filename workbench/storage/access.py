"""Users, API keys, web sessions, share links and the audit log. Every function that reads or changes an object of
an organization takes the organization as a required argument; the lookups by secret (a key, a session or a
share-link token) are the only ones without it, since the secret is what names the organization."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from workbench.access import (
    KEY_PREFIX,
    PREFIX_LENGTH,
    NewKey,
    Principal,
    Role,
    digest,
    key_prefix,
    matches,
    new_api_key,
    new_token,
)
from workbench.storage.models import ApiKey, AuditEvent, Organization, Report, ShareLink, User, WebSession, utcnow

# A key's `last_used_at` is written at most this often, so reads do not each cost a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)


def get_organization(session: Session, *, slug: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.slug == slug))


def create_organization(session: Session, *, slug: str, name: str) -> Organization:
    org = Organization(slug=slug, name=name)
    session.add(org)
    session.flush()
    return org


def ensure_user(session: Session, *, organization_id: uuid.UUID, name: str, email: str | None = None) -> User:
    user = session.scalar(select(User).where(User.organization_id == organization_id, User.name == name))
    if user is None:
        user = User(organization_id=organization_id, name=name, email=email)
        session.add(user)
        session.flush()
    return user


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    text: str  # the key itself: shown once, never stored


def create_key(session: Session, *, organization_id: uuid.UUID, user_name: str, role: Role, name: str = "",
               email: str | None = None) -> CreatedKey:
    user = ensure_user(session, organization_id=organization_id, name=user_name, email=email)
    made: NewKey = new_api_key()
    key = ApiKey(organization_id=organization_id, user_id=user.id, name=name or user_name, role=role.value,
                 prefix=made.prefix, key_hash=made.hash)
    session.add(key)
    session.flush()
    return CreatedKey(key=key, text=made.text)


def ensure_key(session: Session, *, text: str, organization_id: uuid.UUID, user_name: str, role: Role,
               name: str) -> ApiKey:
    """The key with this exact text, stored if new (a bootstrap key from the settings). A revoked one stays revoked.

    Raises:
        ValueError: The text is not shaped like a key, or its prefix belongs to another key.
    """
    prefix = key_prefix(text)
    if prefix is None:
        raise ValueError("a key looks like wb_<10 hex characters>_<secret of 16 or more characters>")
    if len(text) - len(KEY_PREFIX) - PREFIX_LENGTH - 1 < 16:
        raise ValueError("the key's secret part must have at least 16 characters")
    existing = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if existing is not None:
        if not matches(text, existing.key_hash):
            raise ValueError(f"another key already has the prefix wb_{prefix}")
        return existing
    user = ensure_user(session, organization_id=organization_id, name=user_name)
    key = ApiKey(organization_id=organization_id, user_id=user.id, name=name, role=role.value, prefix=prefix,
                 key_hash=digest(text))
    session.add(key)
    session.flush()
    return key


def list_keys(session: Session, *, organization_id: uuid.UUID) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.organization_id == organization_id)
                                .order_by(ApiKey.created_at)))


def get_key(session: Session, *, organization_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
    key = session.get(ApiKey, key_id)
    return key if key is not None and key.organization_id == organization_id else None


def revoke_key(session: Session, *, organization_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
    key = get_key(session, organization_id=organization_id, key_id=key_id)
    if key is not None and key.revoked_at is None:
        key.revoked_at = utcnow()
        session.execute(delete(WebSession).where(WebSession.api_key_id == key.id))
    return key


def key_label(key: ApiKey) -> str:
    return f"key wb_{key.prefix} ({key.user.name})"


def principal_for_key(key: ApiKey, *, session_id: uuid.UUID | None = None, csrf: str | None = None) -> Principal:
    return Principal(organization_id=key.organization_id, role=Role(key.role), key_id=key.id, user_id=key.user_id,
                     label=key_label(key), session_id=session_id, csrf_token=csrf)


def authenticate_key(session: Session, text: str, *, now: datetime | None = None) -> ApiKey | None:
    """The live key whose text this is, or None (unknown, malformed, wrong secret or revoked)."""
    prefix = key_prefix(text)
    if prefix is None:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None or not matches(text, key.key_hash):
        return None
    now = now or utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        session.commit()
    return key


@dataclass(frozen=True)
class CreatedSession:
    token: str  # the cookie's value
    csrf_token: str
    expires_at: datetime


def create_web_session(session: Session, *, key: ApiKey, hours: float) -> CreatedSession:
    token, csrf = new_token(), new_token()
    expires = utcnow() + timedelta(hours=hours)
    session.add(WebSession(token_hash=digest(token), api_key_id=key.id, csrf_token=csrf, expires_at=expires))
    session.flush()
    return CreatedSession(token=token, csrf_token=csrf, expires_at=expires)


def authenticate_session(session: Session, token: str) -> tuple[WebSession, ApiKey] | None:
    row = session.scalar(select(WebSession).where(WebSession.token_hash == digest(token)))
    if row is None or row.expires_at <= utcnow():
        return None
    key = session.get(ApiKey, row.api_key_id)
    if key is None or key.revoked_at is not None:
        return None
    return row, key


def end_web_session(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == digest(token)))


@dataclass(frozen=True)
class CreatedShareLink:
    link: ShareLink
    token: str  # shown once


def create_share_link(session: Session, *, organization_id: uuid.UUID, report_id: uuid.UUID, expires_at: datetime,
                      created_by: str) -> CreatedShareLink:
    token = new_token()
    link = ShareLink(organization_id=organization_id, report_id=report_id, token_hash=digest(token),
                     expires_at=expires_at, created_by=created_by)
    session.add(link)
    session.flush()
    return CreatedShareLink(link=link, token=token)


def list_share_links(session: Session, *, organization_id: uuid.UUID, report_id: uuid.UUID) -> list[ShareLink]:
    return list(session.scalars(select(ShareLink).where(ShareLink.organization_id == organization_id,
                                                        ShareLink.report_id == report_id)
                                .order_by(ShareLink.created_at)))


def revoke_share_link(session: Session, *, organization_id: uuid.UUID, link_id: uuid.UUID) -> ShareLink | None:
    link = session.get(ShareLink, link_id)
    if link is None or link.organization_id != organization_id:
        return None
    if link.revoked_at is None:
        link.revoked_at = utcnow()
    return link


def use_share_link(session: Session, token: str) -> tuple[ShareLink, Report] | None:
    """The live link this token names and its report (counted as a use), or None: unknown, expired or revoked."""
    link = session.scalar(select(ShareLink).where(ShareLink.token_hash == digest(token)))
    now = utcnow()
    if link is None or link.revoked_at is not None or link.expires_at <= now:
        return None
    report = session.get(Report, link.report_id)
    if report is None:
        return None
    session.execute(update(ShareLink).where(ShareLink.id == link.id)
                    .values(uses=ShareLink.uses + 1, last_used_at=now))
    return link, report


def record(session: Session, *, organization_id: uuid.UUID, actor: str, action: str, role: str | None = None,
           object_type: str | None = None, object_id: str | None = None, status_code: int | None = None,
           details: dict[str, Any] | None = None) -> None:
    session.add(AuditEvent(organization_id=organization_id, actor=actor[:200], role=role, action=action,
                           object_type=object_type, object_id=None if object_id is None else object_id[:100],
                           status_code=status_code, details=details))


def audit_events(session: Session, *, organization_id: uuid.UUID, limit: int = 100, before: int | None = None,
                 action: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.organization_id == organization_id)
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    return list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit)))


def count_keys(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ApiKey)) or 0
