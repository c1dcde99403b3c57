"""Admission by memory: a worker starts a component's kernel only when it fits the worker's memory budget.

Each component declares what its kernel takes (`ComponentSpec.memory_estimate_mb`: a fixed part for the
interpreter and its imports, and a part per response). A worker running `max_concurrent_activities` components of
a 2,000-response survey needs a few hundred MB; the same four on 200,000 responses need gigabytes. With a budget
(`WORKBENCH_WORKER_MEMORY_BUDGET_MB`) a component waits, before its kernel starts, until the estimates of the
components running on this worker plus its own fit; it never waits when nothing else runs (a component larger
than the budget runs alone rather than never). Waiting is first come, first served, so a large component is not
overtaken forever by small ones. Without a budget every component is admitted at once (the activity slots alone
bound the concurrency).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class MemoryAdmission:
    """A first-come-first-served gate over estimated megabytes (one per worker process)."""

    def __init__(self, budget_mb: float | None) -> None:
        self.budget_mb = budget_mb
        self._in_use = 0.0
        self._running = 0
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    @property
    def in_use_mb(self) -> float:
        """The estimates of the components admitted and not yet done."""
        return self._in_use

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def _fits(self, estimate_mb: float) -> bool:
        return self.budget_mb is None or self._running == 0 or self._in_use + estimate_mb <= self.budget_mb

    @contextmanager
    def admit(self, estimate_mb: float) -> Iterator[None]:
        """Hold `estimate_mb` of the budget while the block runs; wait for it first if it does not fit.

        A wait can be interrupted (a cancelled activity's exception is raised in its thread): the place in the
        queue is given up and nothing is held.
        """
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
            try:
                while not (self._queue[0] is ticket and self._fits(estimate_mb)):
                    self._changed.wait(1.0)  # a timeout: an asynchronous exception gets its chance
            finally:
                self._queue.remove(ticket)
                self._changed.notify_all()
            self._in_use += estimate_mb
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= estimate_mb
                self._running -= 1
                self._changed.notify_all()


_admissions: dict[float | None, MemoryAdmission] = {}
_admissions_guard = threading.Lock()


def for_budget(budget_mb: float | None) -> MemoryAdmission:
    """The process's gate for this budget (a worker has one budget; tests may use several)."""
    with _admissions_guard:
        gate = _admissions.get(budget_mb)
        if gate is None:
            gate = _admissions[budget_mb] = MemoryAdmission(budget_mb)
        return gate
