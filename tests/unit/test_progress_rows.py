"""A component's progress rows: the first count and the last cell's at once, quick cells in between at most every
`PROGRESS_INTERVAL`, the latest count written by a timer, nothing after the run's outcome."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.fakes.sessions import NoDatabase
from tests.polling import until
from workbench.reports import steps


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    rows: list[int] = []
    monkeypatch.setattr(steps, "PROGRESS_INTERVAL", 0.3)
    monkeypatch.setattr(steps.report_store, "set_component_progress",
                        lambda session, report_id, name, cells_done: rows.append(cells_done))
    return rows


def test_quick_cells_are_written_together_and_the_last_count_at_once(written: list[int]) -> None:
    heard: list[tuple[int, int]] = []
    rows = steps._ProgressRows(NoDatabase(), uuid.uuid4(), "themes", lambda d, t: heard.append((d, t)))  # type: ignore[arg-type]
    rows.cell_done(0, 6)
    rows.cell_done(1, 6)
    rows.cell_done(2, 6)
    assert written == [0]  # the first at once; the next two wait for the interval
    until(lambda: written == [0, 2])  # a long cell now runs: the row says both quick cells are done
    rows.cell_done(3, 6)
    rows.cell_done(6, 6)
    assert written == [0, 2, 6]  # the last cell's count never waits (3 was superseded)
    time.sleep(0.5)
    assert written == [0, 2, 6] and heard == [(0, 6), (1, 6), (2, 6), (3, 6), (6, 6)]  # every cell heartbeats
    rows.close()


def test_nothing_is_written_after_close(written: list[int]) -> None:
    rows = steps._ProgressRows(NoDatabase(), uuid.uuid4(), "themes", None)  # type: ignore[arg-type]
    rows.cell_done(0, 6)
    rows.cell_done(4, 6)  # held for the timer
    rows.close()  # the run ended: its outcome writes the final count
    time.sleep(0.5)
    rows.cell_done(5, 6)
    assert written == [0]
