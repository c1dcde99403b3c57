"""Pausing Python's cyclic garbage collector while many small objects are built.

Building a million objects (an import's records, a large snapshot's responses) triggers full collections that
walk them all again and again holding the GIL: they took about as long as the work itself, and froze every other
thread of the process meanwhile. Reference counting still frees what is dropped; the objects built here hold no
cycles to leave behind.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pausers = 0
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block. Process-wide, so counted: collection resumes when the last block
    running in any thread ends (and only if it was on before the first began)."""
    global _pausers, _was_enabled
    with _lock:
        if _pausers == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausers += 1
    try:
        yield
    finally:
        with _lock:
            _pausers -= 1
            if _pausers == 0 and _was_enabled:
                gc.enable()
