"""A stand-in for a `sessionmaker` where a test replaces every storage call: sessions that open, begin and close
and touch no database."""

from __future__ import annotations

import contextlib


class NoDatabase:
    """Called like a session factory; the session is itself (a context manager with `begin`)."""

    def __call__(self) -> NoDatabase:
        return self

    def __enter__(self) -> NoDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def begin(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()
