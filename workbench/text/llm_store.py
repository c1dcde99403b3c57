"""Where model calls are remembered: the reply cache (`llm_cache`) and the token ledger (`llm_usage`).

Both take a SQLAlchemy URL (or an engine) and work on SQLite and PostgreSQL; the tables come from migration 0007.
Kernels reach them through `WORKBENCH_DATABASE_URL`, which the worker gives only to components that declare
the OpenAI key (`workbench.reports.steps.kernel_environment`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.models import LLMCacheEntry, LLMUsage


def _engine(database: str | Engine) -> tuple[Engine, bool]:
    if isinstance(database, Engine):
        return database, False
    return make_engine(database), True


@dataclass(frozen=True)
class CachedReply:
    """A stored reply and what it cost when it was first asked."""

    response: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int


class LLMCache:
    """Model replies by key (sha256 of model, prompt version, messages and schema; `workbench.text.llm`)."""

    def __init__(self, database: str | Engine) -> None:
        """Use the database at `database` (a SQLAlchemy URL, or an engine the caller owns)."""
        self.engine, self._owned = _engine(database)
        self._sessions: sessionmaker[Session] = make_sessionmaker(self.engine)

    def get(self, key: str) -> CachedReply | None:
        """The reply stored under `key`, or None."""
        with self._sessions() as session:
            row = session.get(LLMCacheEntry, key)
            if row is None:
                return None
            return CachedReply(dict(row.response), row.prompt_tokens, row.completion_tokens)

    def put(self, key: str, *, model: str, prompt_version: str, response: dict[str, Any], prompt_tokens: int,
            completion_tokens: int) -> None:
        """Store a reply; a reply already stored under `key` (a concurrent run asked the same) is kept."""
        row = LLMCacheEntry(key=key, model=model, prompt_version=prompt_version, response=response,
                            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        with self._sessions() as session:
            try:
                with session.begin():
                    session.add(row)
            except IntegrityError:
                pass

    def close(self) -> None:
        """Release the engine's connections if this cache created it."""
        if self._owned:
            self.engine.dispose()


class UsageLedger:
    """Tokens spent per report and component; `used()` is what the per-report budget is checked against.

    Without a report id (a notebook run outside a report) it counts only what this ledger recorded itself.
    Two components of one report running at once each check the budget before their own calls, so together
    they may overshoot it by at most one call each.
    """

    def __init__(self, database: str | Engine, *, report_id: str | None = None, component: str | None = None) -> None:
        """Charge calls to `report_id` / `component` in the database at `database` (URL or engine)."""
        self.engine, self._owned = _engine(database)
        self._sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.report_id = report_id or None
        self.component = component or None
        self._own_tokens = 0
        self._lock = threading.Lock()

    def record(self, *, model: str, prompt_tokens: int, completion_tokens: int, cached: bool,
               cache_key: str | None = None) -> None:
        """One call (or cache hit, with zero tokens) charged to this ledger's report and component; `cache_key`
        is the reply-cache key it used or filled (deleting the report deletes that reply: storage.deletion)."""
        with self._sessions() as session, session.begin():
            session.add(LLMUsage(report_id=self.report_id, component=self.component, model=model,
                                 prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cached=cached,
                                 cache_key=cache_key))
        with self._lock:
            self._own_tokens += prompt_tokens + completion_tokens

    def used(self) -> int:
        """Tokens (prompt + completion) spent so far on this ledger's report, by every component."""
        if self.report_id is None:
            with self._lock:
                return self._own_tokens
        with self._sessions() as session:
            total = session.scalar(
                select(func.coalesce(func.sum(LLMUsage.prompt_tokens + LLMUsage.completion_tokens), 0))
                .where(LLMUsage.report_id == self.report_id)
            )
        return int(total or 0)

    def rows(self) -> list[dict[str, Any]]:
        """This report's (or, without one, every unreported) ledger rows, oldest first (for reports and tests)."""
        with self._sessions() as session:
            query = select(LLMUsage).order_by(LLMUsage.id)
            query = query.where(LLMUsage.report_id == self.report_id) if self.report_id is not None \
                else query.where(LLMUsage.report_id.is_(None))
            return [{"report_id": r.report_id, "component": r.component, "model": r.model,
                     "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
                     "cached": r.cached} for r in session.scalars(query)]

    def by_component(self) -> dict[str, dict[str, int]]:
        """Tokens and calls per component of this ledger's report: what the report says each component cost."""
        out: dict[str, dict[str, int]] = {}
        for row in self.rows():
            entry = out.setdefault(row["component"] or "", {"prompt_tokens": 0, "completion_tokens": 0,
                                                            "calls": 0, "cached_calls": 0})
            entry["prompt_tokens"] += row["prompt_tokens"]
            entry["completion_tokens"] += row["completion_tokens"]
            entry["cached_calls" if row["cached"] else "calls"] += 1
        return out

    def close(self) -> None:
        """Release the engine's connections if this ledger created it."""
        if self._owned:
            self.engine.dispose()
