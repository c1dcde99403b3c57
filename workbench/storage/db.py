"""Engine and session factories. Nothing connects at import: callers build an engine from `Settings`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, pool_size: int | None = None, **kwargs: object) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys, since API and workers share it.

    `pool_size`: connections kept open, for a process whose threads use many at once (the API, a worker). A
    connection beyond the pool is opened for one checkout and closed after it: with 50 clients reading at once the API
    opened a new SQLite connection (its pragmas, the schema read again) for about one read in ten."""
    if pool_size is not None:
        kwargs["pool_size"] = pool_size
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL's recommended level: a commit no longer waits for an fsync (the log is synced at checkpoints),
            # and the database stays consistent after a crash; a power cut may lose the last commits. The API's
            # audit and download records were an fsync per batch of reads. PostgreSQL is the durable option.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # A pooled connection the server dropped (restart, outage) is tested and replaced on checkout, so the app
    # recovers by itself once the database is back instead of failing on each stale connection in turn.
    kwargs.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql") and "connect_timeout" not in make_url(url).query:
        # Without it a connect to an unreachable host waits for the OS's TCP timeout (minutes), holding a request.
        connect_args = dict(kwargs.pop("connect_args", None) or {})  # type: ignore[call-overload]
        connect_args.setdefault("connect_timeout", 10)
        kwargs["connect_args"] = connect_args
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits together or not at all."""
    with factory() as session, session.begin():
        yield session
