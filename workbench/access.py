"""Who may do what: roles, API keys, sign-in sessions and share links (no web framework here).

- An API key belongs to a user of one organization and carries a role. Its text is `wb_<prefix>_<secret>`: the
  prefix finds the row, the secret is compared with the stored SHA-256 in constant time. A key is random (190
  bits), so a fast hash is enough; nothing but the hash is stored, and the text is shown once.
- Roles are ordered: a viewer reads; an analyst also imports, generates, reruns, cancels and shares; an admin
  also manages keys and webhooks and deletes.
- Sessions (the web pages) and share links are random tokens stored as their SHA-256 too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

KEY_PREFIX = "wb_"
PREFIX_LENGTH = 10  # characters of the lookup prefix after "wb_"


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 0, Role.ANALYST: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """The caller a request acts for."""

    organization_id: uuid.UUID
    role: Role
    key_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    label: str = ""  # for the audit log: "key wb_ab12cd34ef (alice)", "share link 1f2e…"
    session_id: uuid.UUID | None = None
    csrf_token: str | None = None  # set when the caller signed in through the web pages

    def may_read(self, required_roles: Iterable[str] | None) -> bool:
        """A report with `required_roles` is readable by those roles and by admins; without them, by everyone of
        its organization."""
        if not required_roles or self.role is Role.ADMIN:
            return True
        return self.role.value in set(required_roles)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    text: str  # shown once
    prefix: str
    hash: str


def new_api_key() -> NewKey:
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    text = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    return NewKey(text=text, prefix=prefix, hash=digest(text))


def key_prefix(text: str) -> str | None:
    """The lookup prefix of a key's text, or None when the text is not shaped like a key."""
    if not text.startswith(KEY_PREFIX):
        return None
    prefix, sep, secret = text[len(KEY_PREFIX):].partition("_")
    if not sep or len(prefix) != PREFIX_LENGTH or not secret:
        return None
    return prefix


def matches(text: str, stored_hash: str) -> bool:
    return hmac.compare_digest(digest(text), stored_hash)


def new_token() -> str:
    """A session or share-link token (256 bits)."""
    return secrets.token_urlsafe(32)
