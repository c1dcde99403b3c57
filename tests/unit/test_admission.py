"""Admission by memory (workbench.reports.admission): a component's kernel starts only when it fits the budget."""

from __future__ import annotations

import ctypes
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.sessions import NoDatabase
from tests.polling import until
from workbench.components import components
from workbench.reports import admission, steps
from workbench.reports.admission import MemoryAdmission


def _enter(gate: MemoryAdmission, estimate: float, log: list[str], name: str,
           release: threading.Event) -> threading.Thread:
    def run() -> None:
        with gate.admit(estimate):
            log.append(f"{name} in")
            release.wait(10)
        log.append(f"{name} out")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_without_a_budget_everything_is_admitted_at_once() -> None:
    gate, log, release = MemoryAdmission(None), [], threading.Event()
    threads = [_enter(gate, 10_000, log, str(i), release) for i in range(4)]
    until(lambda: len(log) == 4)
    assert gate.in_use_mb == 40_000
    release.set()
    for t in threads:
        t.join(5)
    assert gate.in_use_mb == 0 and gate.waiting == 0


def test_a_component_waits_until_it_fits_and_one_larger_than_the_budget_runs_alone() -> None:
    gate, log = MemoryAdmission(1000), []
    first, second, third = threading.Event(), threading.Event(), threading.Event()
    a = _enter(gate, 600, log, "a", first)
    until(lambda: log == ["a in"])
    b = _enter(gate, 300, log, "b", second)  # 900: fits beside a
    until(lambda: "b in" in log)
    c = _enter(gate, 5000, log, "c", third)  # larger than the budget: waits for both, then runs alone
    until(lambda: gate.waiting == 1)
    d = _enter(gate, 50, log, "d", third)  # would fit, but c came first: it waits behind c
    until(lambda: gate.waiting == 2)
    time.sleep(0.2)
    assert log == ["a in", "b in"]
    first.set()
    a.join(5)
    time.sleep(0.2)
    assert "c in" not in log and gate.in_use_mb == 300  # b still runs
    second.set()
    until(lambda: "c in" in log)
    time.sleep(0.2)
    assert "d in" not in log and gate.in_use_mb == 5000  # alone
    third.set()
    for t in (b, c, d):
        t.join(5)
    assert log.index("c out") < log.index("d in")
    assert gate.in_use_mb == 0 and gate.waiting == 0


def test_an_interrupted_wait_gives_up_its_place_and_holds_nothing() -> None:
    """A cancelled activity gets an exception raised in its thread (as the Temporal SDK does)."""
    gate, log, release = MemoryAdmission(100), [], threading.Event()
    holder = _enter(gate, 100, log, "holder", release)
    until(lambda: log == ["holder in"])
    outcome: list[str] = []

    class Cancelled(Exception):
        pass

    def wait() -> None:
        try:
            with gate.admit(50):
                outcome.append("admitted")
        except Cancelled:
            outcome.append("cancelled")

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    until(lambda: gate.waiting == 1)
    assert ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(waiter.ident), ctypes.py_object(Cancelled)) == 1
    waiter.join(5)
    assert outcome == ["cancelled"] and gate.waiting == 0 and gate.in_use_mb == 100
    later = _enter(gate, 10, log, "later", release)  # the queue is not blocked by the one that left
    release.set()
    for t in (holder, later):
        t.join(5)
    assert "later in" in log and gate.in_use_mb == 0


def test_estimates_grow_with_the_responses() -> None:
    for spec in components.specs():
        small, large = spec.memory_estimate_mb(2_000), spec.memory_estimate_mb(200_000)
        assert 0 < small < large
    assert components.get("themes").memory_estimate_mb(200_000) > components.get("basic_stats").memory_estimate_mb(
        200_000)


def test_a_component_run_asks_for_its_estimate_of_the_snapshot(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    asked: list[tuple[float | None, float]] = []

    class Recording(MemoryAdmission):
        def admit(self, estimate_mb: float) -> Any:
            asked.append((self.budget_mb, estimate_mb))
            return super().admit(estimate_mb)

    monkeypatch.setattr(admission, "for_budget", lambda budget: Recording(budget))
    monkeypatch.setattr(steps, "_upstream_inputs", lambda *a: None)
    monkeypatch.setattr(steps, "_SnapshotLink", lambda *a: type("Linked", (), {"join": lambda self: None})())
    monkeypatch.setattr(steps, "_load_report", lambda *a: None)
    monkeypatch.setattr(steps.report_store, "snapshot_response_count", lambda session, report_id: 50_000)
    ran: list[str] = []
    monkeypatch.setattr(steps, "_run_component", lambda sessions, settings, report_id, spec, *a: ran.append(
        spec.name))

    settings = type("S", (), {"notebooks_dir": tmp_path, "data_dir": tmp_path, "worker_memory_budget_mb": 1234})()
    steps.execute_component(NoDatabase(), settings, uuid.uuid4(), "themes")  # type: ignore[arg-type]
    assert ran == ["themes"]
    assert asked == [(1234, components.get("themes").memory_estimate_mb(50_000))]
