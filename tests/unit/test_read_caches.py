"""The API's in-memory read caches: bounded, least recently used out first, keys by digest."""

from __future__ import annotations

import uuid

from api.access import KeyCache
from api.caching import BodyCache
from workbench.access import Principal, Role


def test_body_cache_stays_within_its_bytes_and_drops_the_least_recently_used() -> None:
    cache = BodyCache(max_bytes=400)
    for name in "abcd":
        cache.put(name, name.encode() * 100)
    assert cache.size == 400 and len(cache) == 4
    assert cache.get("a") == b"a" * 100  # now the most recently used
    cache.put("e", b"e" * 100)
    assert cache.get("b") is None and cache.get("a") is not None and cache.size == 400
    cache.put("a", b"A" * 50)  # replaced, not counted twice
    assert cache.get("a") == b"A" * 50 and cache.size == 350
    cache.put("huge", b"x" * 101)  # over a quarter of the budget: not kept, nothing else pushed out
    assert cache.get("huge") is None and len(cache) == 4
    assert (cache.hits, cache.misses) == (3, 2)


def test_key_cache_keeps_found_callers_for_its_ttl_and_never_their_text() -> None:
    principal = Principal(organization_id=uuid.uuid4(), role=Role.VIEWER, key_id=uuid.uuid4(), user_id=uuid.uuid4(),
                          label="key wb_x (v)")
    cache = KeyCache(ttl=60)
    cache.put("wb_0123456789_secret", principal)
    assert cache.get("wb_0123456789_secret") is principal and cache.get("wb_0123456789_other") is None
    assert all("secret" not in k for k in cache._found)
    cache.clear()
    assert cache.get("wb_0123456789_secret") is None
    off = KeyCache(ttl=0)
    off.put("wb_0123456789_secret", principal)
    assert off.get("wb_0123456789_secret") is None
    expired = KeyCache(ttl=1e-9)
    expired.put("wb_0123456789_secret", principal)
    assert expired.get("wb_0123456789_secret") is None
    full = KeyCache(ttl=60, max_entries=2)
    for i in range(3):
        full.put(f"wb_000000000{i}_k", principal)
    assert len(full._found) == 1  # cleared when full, then the newest added


def test_closing_a_request_session_never_raises() -> None:
    """The request's session is closed after its answer is decided; a rollback failing on a dropped connection
    must not turn a 503 into a reset connection: the session's connections are discarded instead."""
    from api.deps import _close

    class Dropped:
        invalidated = False

        def close(self) -> None:
            raise RuntimeError("server closed the connection unexpectedly")

        def invalidate(self) -> None:
            self.invalidated = True

    session = Dropped()
    _close(session)  # type: ignore[arg-type]
    assert session.invalidated
