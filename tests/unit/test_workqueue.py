"""The burst coalescer: one pass per burst, never two passes of one monitor at once, back-off."""

from __future__ import annotations

import itertools
import threading
import time

from loadtest_monitor.controller.workqueue import WorkQueue


def _wait(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("timed out")


def test_a_burst_while_waiting_is_one_pass_and_a_burst_while_running_one_more() -> None:
    calls: list[str] = []
    gate = threading.Event()

    def work(key: str) -> bool:
        calls.append(key)
        gate.wait(5)
        return True

    queue: WorkQueue[str] = WorkQueue(work, workers=3)
    for _ in range(50):
        queue.add("a")
    queue.start()
    _wait(lambda: calls == ["a"])
    for _ in range(50):
        queue.add("a")  # while running: one more pass afterwards, not a parallel one
    time.sleep(0.2)
    assert calls == ["a"]
    gate.set()
    _wait(queue.idle)
    assert calls == ["a", "a"]
    queue.stop()


def test_different_monitors_run_side_by_side() -> None:
    running: set[str] = set()
    most = 0
    lock = threading.Lock()

    def work(key: str) -> bool:
        nonlocal most
        with lock:
            running.add(key)
            most = max(most, len(running))
        time.sleep(0.2)
        with lock:
            running.discard(key)
        return True

    queue: WorkQueue[str] = WorkQueue(work, workers=4)
    queue.start()
    for key in "abcd":
        queue.add(key)
    _wait(queue.idle)
    queue.stop()
    assert most == 4


def test_a_failure_is_retried_in_seconds_with_growing_delay_and_reset_on_success() -> None:
    times: list[float] = []

    def work(key: str) -> bool:
        times.append(time.monotonic())
        return len(times) >= 4

    queue: WorkQueue[str] = WorkQueue(work, workers=1, retry_min=0.05, retry_max=0.2)
    queue.start()
    queue.add("a")
    _wait(lambda: len(times) == 4 and queue.idle())
    queue.stop()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2
    assert gaps[2] < 1.0  # capped, far below a resync
    assert queue.pending_retries() == 0


def test_health_fails_when_a_reconcile_hangs() -> None:
    release = threading.Event()
    queue: WorkQueue[str] = WorkQueue(lambda key: release.wait(5), workers=1)
    queue.start()
    queue.add("a")
    time.sleep(0.3)
    ok, why = queue.health(deadline=0.1, stale=60)
    assert not ok and "running for" in why
    release.set()
    _wait(queue.idle)
    assert queue.health(deadline=0.1, stale=60)[0]
    queue.stop()


def test_health_fails_when_waiting_work_is_never_taken() -> None:
    queue: WorkQueue[str] = WorkQueue(lambda key: True, workers=1)  # never started: no worker
    queue.add("a")
    time.sleep(0.2)
    ok, why = queue.health(deadline=60, stale=0.1)
    assert not ok and "waiting" in why


def test_child_events_within_the_window_make_one_pass_after_it() -> None:
    calls: list[tuple[str, float]] = []

    def work(key: str) -> bool:
        calls.append((key, time.monotonic()))
        return True

    queue: WorkQueue[str] = WorkQueue(work, workers=2)
    queue.start()
    first = time.monotonic()
    for _ in range(20):  # a rollout's steps: created, ReplicaSet, scheduled, started, ready ...
        queue.add_soon("a", 0.3)
        time.sleep(0.005)
    _wait(queue.idle)
    assert [key for key, _ in calls] == ["a"]
    assert calls[0][1] - first >= 0.3  # after the window, not at the first event
    queue.add_soon("a", 0.3)  # a later event: its own pass
    _wait(lambda: len(calls) == 2)
    queue.stop()


def test_a_child_event_for_a_monitor_already_waiting_to_run_adds_nothing() -> None:
    calls: list[str] = []

    def work(key: str) -> bool:
        calls.append(key)
        return True

    queue: WorkQueue[str] = WorkQueue(work, workers=1)
    queue.add("a")
    queue.add_soon("a", 5.0)  # the waiting pass will read the store as it is when it runs
    queue.start()
    _wait(lambda: calls == ["a"])
    _wait(queue.idle, timeout=1.0)  # nothing left waiting for 5 s
    queue.stop()
