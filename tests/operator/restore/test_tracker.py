"""Unfinished restores are driven until they finish, never two passes over one at a time."""

from __future__ import annotations

import threading
import time

from repairgpt_operator.restore.tracker import RestoreTracker


def test_a_restore_is_tracked_until_a_pass_says_it_is_done() -> None:
    passes: list[tuple[str, str]] = []
    remaining = {"n": 2}

    def drive(namespace: str, name: str) -> bool:
        passes.append((namespace, name))
        remaining["n"] -= 1
        return remaining["n"] > 0

    tracker = RestoreTracker(drive, wake_delay=0.01)
    tracker.wake("repair", "tuesday")
    tracker.wake("repair", "tuesday")  # a burst of events: one pass
    time.sleep(0.2)
    assert passes == [("repair", "tuesday")]
    assert tracker.active() == [("repair", "tuesday")]
    tracker.drive_if_idle("repair", "tuesday")
    assert tracker.active() == []


def test_passes_over_one_restore_never_overlap() -> None:
    running = threading.Event()
    release = threading.Event()
    calls = {"n": 0}

    def drive(namespace: str, name: str) -> bool:
        calls["n"] += 1
        running.set()
        release.wait(5)
        return True

    tracker = RestoreTracker(drive, wake_delay=0.01)
    worker = threading.Thread(target=tracker.drive_if_idle, args=("repair", "tuesday"))
    worker.start()
    assert running.wait(5)
    tracker.drive_if_idle("repair", "tuesday")  # skipped: one is running
    release.set()
    worker.join(5)
    assert calls["n"] == 1


def test_a_deleted_restore_is_forgotten() -> None:
    tracker = RestoreTracker(lambda namespace, name: True, wake_delay=10)
    tracker.wake("repair", "tuesday")
    tracker.forget("repair", "tuesday")
    assert tracker.active() == []
