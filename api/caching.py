"""Response bodies kept in memory by their validator, for reads that are asked far more often than they change.

A finished report's JSON is the same bytes until its ETag changes (a rerun, a new run number): building it again
for every reader decoded every component's result from the database and validated and serialised it through the
response model, about 13 ms of the one API process per read. The cache is keyed by the report and its ETag, so a
changed report is simply a miss (its old entry ages out); access is checked before the cache is asked, and a body
holds nothing that depends on who asks. Per process and bounded in bytes, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from starlette.requests import Request


def holds(request: Request, etag: str) -> bool:
    """Whether the request's `If-None-Match` holds `etag` (one of its list, or `*`): the client may get a 304."""
    held = request.headers.get("if-none-match", "")
    return etag in {tag.strip() for tag in held.split(",")} or held.strip() == "*"


class BodyCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # the handlers run in the thread pool
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            body = self._entries.get(key)
            if body is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:  # one huge report must not flush everything else
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._size -= len(previous)
            self._entries[key] = body
            self._size += len(body)
            while self._size > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped)

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)
