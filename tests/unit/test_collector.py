"""The collector pause is process-wide and counted: nested or overlapping pauses from several threads end with
collection back on exactly when the last one ends, and a process that had it off keeps it off."""

from __future__ import annotations

import gc
import threading

from workbench import collector


def test_overlapping_pauses_resume_collection_when_the_last_ends() -> None:
    assert gc.isenabled()
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with collector.paused():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with collector.paused():
        assert not gc.isenabled()
        thread.start()
        assert entered.wait(10)
    assert not gc.isenabled()  # the other thread's pause still runs
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_collection_left_off_stays_off() -> None:
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
