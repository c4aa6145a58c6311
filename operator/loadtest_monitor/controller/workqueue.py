"""The burst coalescer: a work queue of monitors served by a small pool of worker threads.

- A monitor asked for many times while it waits is reconciled once (bursts of watch events).
- A monitor asked for while it is being reconciled is reconciled once more afterwards, never
  twice at the same time.
- Watch events of children are coalesced over a short window (`add_soon`): a rollout's many
  steps (objects created, ReplicaSet, pods scheduled, started, ready) make one pass, and so one
  status write, instead of one per step.
- A failed reconcile is retried after 1, 2, 4 ... seconds (up to a maximum), not at the next
  resync; a success resets the delay.
- `health()` tells the liveness probe whether work is getting done: a reconcile running past its
  deadline, or waiting work with no reconcile finishing, means the operator is stuck.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        work: Callable[[K], bool],
        *,
        workers: int,
        retry_min: float = 1.0,
        retry_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._work = work
        self._workers = workers
        self._retry_min = retry_min
        self._retry_max = retry_max
        self._clock = clock
        self._cond = threading.Condition()
        self._ready: deque[K] = deque()
        self._queued: set[K] = set()
        self._running: dict[K, float] = {}  # key -> start time
        self._again: set[K] = set()  # asked for while running
        self._delayed: list[tuple[float, int, K]] = []
        self._soon: set[K] = set()  # keys with a coalescing add_soon waiting in _delayed
        self._sequence = 0
        self._failures: dict[K, int] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self.last_finished = clock()
        self.finished = 0

    # --- producers ---------------------------------------------------------------------------

    def add(self, key: K) -> None:
        with self._cond:
            self._add_locked(key)

    def add_soon(self, key: K, delay: float) -> None:
        """Reconcile `key` in `delay` seconds; more calls meanwhile join that one pass.

        A key already waiting to run needs nothing more: that pass reads the store as it is then.
        """
        with self._cond:
            if key in self._soon or key in self._queued:
                return
            self._soon.add(key)
            self._sequence += 1
            heapq.heappush(self._delayed, (self._clock() + delay, self._sequence, key))
            self._cond.notify()

    def _add_locked(self, key: K) -> None:
        if key in self._running:
            self._again.add(key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self._ready.append(key)
        self._cond.notify()

    def forget(self, key: K) -> None:
        """Drops the retry count of a key that is gone (keeps the table from growing)."""
        with self._cond:
            self._failures.pop(key, None)

    # --- workers -----------------------------------------------------------------------------

    def start(self) -> None:
        for index in range(self._workers):
            thread = threading.Thread(target=self._serve, name=f"reconcile-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def _next(self) -> K | None:
        with self._cond:
            while not self._stopping:
                now = self._clock()
                while self._delayed and self._delayed[0][0] <= now:
                    due = heapq.heappop(self._delayed)[2]
                    self._soon.discard(due)
                    self._add_locked(due)
                if self._ready:
                    key = self._ready.popleft()
                    self._queued.discard(key)
                    self._running[key] = now
                    return key
                timeout = self._delayed[0][0] - now if self._delayed else None
                self._cond.wait(timeout)
            return None

    def _serve(self) -> None:
        while (key := self._next()) is not None:
            ok = False
            try:
                ok = self._work(key)
            except Exception:  # a bug in one reconcile must not stop the worker
                log.exception("reconcile of %s failed", key)
            with self._cond:
                del self._running[key]
                self.last_finished = self._clock()
                self.finished += 1
                if ok:
                    self._failures.pop(key, None)
                else:
                    count = self._failures.get(key, 0)
                    self._failures[key] = count + 1
                    delay = min(self._retry_max, self._retry_min * 2**count)
                    self._sequence += 1
                    heapq.heappush(self._delayed, (self._clock() + delay, self._sequence, key))
                if key in self._again:
                    self._again.discard(key)
                    self._add_locked(key)
                self._cond.notify_all()

    # --- observation -------------------------------------------------------------------------

    def health(self, deadline: float, stale: float) -> tuple[bool, str]:
        """(ok, why): a reconcile over `deadline` seconds, or ready work and nothing finished for `stale`."""
        with self._cond:
            now = self._clock()
            for key, started in self._running.items():
                if now - started > deadline:
                    return False, f"reconcile of {key} running for {now - started:.0f} s"
            if self._ready and now - self.last_finished > stale:
                return (
                    False,
                    f"{len(self._ready)} reconcile(s) waiting, none finished for {now - self.last_finished:.0f} s",
                )
            alive = [t for t in self._threads if t.is_alive()]
            if self._threads and not alive:
                return False, "no reconcile worker is alive"
            return (
                True,
                f"{self.finished} reconciles finished, {len(self._ready)} waiting, {len(self._running)} running",
            )

    def idle(self) -> bool:
        with self._cond:
            return not self._ready and not self._running and not self._delayed

    def pending_retries(self) -> int:
        with self._cond:
            return len(self._failures)
