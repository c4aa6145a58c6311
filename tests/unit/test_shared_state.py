"""State shared by the worker threads (issue 14, items 8 and 9).

A stress over the real WorkQueue and Reconciler with the in-memory fake: many monitors created,
edited and deleted while all workers reconcile at once and the "event loop" forgets deleted
monitors, as kopf's handlers do; any exception in any thread fails it. Per-monitor caches are
dropped by owner, not by name prefix. The watch-fed store reads kopf's indexes only on the loop's
thread, so a worker never sees "absent" for an object that exists.
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from kopf._core.engines.indexing import OperatorIndexer

from loadtest_monitor.controller.store import WatchStore
from loadtest_monitor.controller.workqueue import WorkQueue
from loadtest_monitor.identity import API_VERSION, KIND
from tests.unit.fake_kube import FakeKube, make_reconciler
from tests.unit.reconcile_support import NS, monitor

WORKERS = 4


def _serialised(method: Callable[..., Any]) -> Any:
    def call(self: ThreadSafeKube, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    return call


class ThreadSafeKube(FakeKube):
    """The fake API server, safe to call from many threads (the real one serialises too)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        super().__init__()

    get = _serialised(FakeKube.get)
    apply = _serialised(FakeKube.apply)
    delete = _serialised(FakeKube.delete)
    patch_status = _serialised(FakeKube.patch_status)
    post_event = _serialised(FakeKube.post_event)
    put = _serialised(FakeKube.put)
    remove = _serialised(FakeKube.remove)

    def collect_garbage(self, owner_uid: str) -> None:
        """What kube-controller-manager's garbage collector does once the monitor is gone."""
        with self.lock:
            for key, obj in list(self.objects.items()):
                if any(ref.get("uid") == owner_uid for ref in obj["metadata"].get("ownerReferences") or []):
                    self.remove(*key)


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Threads switch every microsecond, so unlocked shared state shows its races within seconds."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _spec(rng: random.Random) -> dict[str, Any]:
    return rng.choice(
        [
            {},
            {"influxdb": {"storage": {"enabled": True}}},
            {"graphite": {"networkPolicy": False}},
            {"gatling": {"writePeriod": rng.randint(1, 9)}},
            {"placement": {"nodeSelector": {"pool": rng.choice(["a", "b"])}}},
        ]
    )


def _events(fake: ThreadSafeKube, rec: Any, queue: WorkQueue[tuple[str, str]], seed: int) -> None:
    """The event loop's side: monitors come, change and go; a deletion forgets the monitor at once."""
    rng = random.Random(seed)
    names = [f"m{i}{suffix}" for i in range(8) for suffix in ("", "-eu", "-eu-west")]  # prefixes of each other
    for _ in range(400):
        name = rng.choice(names)
        existing = fake.objects.get((API_VERSION, KIND, NS, name))
        if existing is not None and rng.random() < 0.35:
            fake.remove(API_VERSION, KIND, NS, name)
            fake.collect_garbage(existing["metadata"]["uid"])
            rec.forget(NS, name)  # what handlers.monitor_event does for DELETED, on its own thread
        else:
            with fake.lock:
                monitor(fake, _spec(rng), name=name)
        queue.add((NS, name))
        time.sleep(rng.uniform(0, 0.002))


def _guarded(errors: list[str], call: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        try:
            return call(*args)
        except BaseException:
            errors.append(traceback.format_exc())
            raise

    return run


def _wait_idle(queue: WorkQueue[Any], timeout: float) -> None:
    end = time.monotonic() + timeout
    while not queue.idle():
        assert time.monotonic() < end, "the work queue never went idle"
        time.sleep(0.05)


@pytest.mark.usefixtures("fast_switching")
def test_creates_edits_and_deletes_through_all_workers_at_once_raise_nowhere() -> None:
    fake = ThreadSafeKube()
    rec = make_reconciler(fake, workers=WORKERS)
    errors: list[str] = []
    threads_seen: set[str] = set()

    def work(key: tuple[str, str]) -> bool:
        threads_seen.add(threading.current_thread().name)
        return bool(rec.reconcile(*key).ok)

    queue: WorkQueue[tuple[str, str]] = WorkQueue(_guarded(errors, work), workers=WORKERS, retry_min=0.01)
    queue.start()
    try:
        loops = [
            threading.Thread(target=_guarded(errors, _events), args=(fake, rec, queue, seed)) for seed in (1, 2, 3)
        ]
        for thread in loops:
            thread.start()
        for thread in loops:
            thread.join()
        _wait_idle(queue, 60)
    finally:
        queue.stop()
    assert not errors, "\n".join(errors[:3])
    assert len(threads_seen) == WORKERS, f"only {sorted(threads_seen)} reconciled: not every worker ran"


def test_a_deleted_monitor_drops_only_its_own_cache_entries() -> None:
    fake = FakeKube()
    rec = make_reconciler(fake)
    for name in ("checkout", "checkout-eu"):
        monitor(fake, name=name)
        rec.reconcile(NS, name)
    rec.forget(NS, "checkout")  # `checkout` is gone; `checkout-eu` is a prefix match, not the same monitor
    before = len(fake.calls)
    monitor(fake, {"gatling": {"writePeriod": 3}}, name="checkout-eu")
    rec.reconcile(NS, "checkout-eu")
    reads = [c for c in fake.calls[before:] if c[0] == "get"]
    assert reads == [], f"checkout-eu's Secrets were read again: its cache went with checkout's ({reads})"


def test_overlay_entries_are_dropped_by_owner() -> None:
    store = WatchStore()
    store.attach("v1", "ConfigMap", {})
    for owner in ("checkout", "checkout-eu"):
        meta = {"name": f"{owner}-gatling", "namespace": NS, "uid": owner, "resourceVersion": "3"}
        store.remember({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}, owner, made=True)
    store.drop_monitor(NS, "checkout")
    assert store.get("v1", "ConfigMap", NS, "checkout-gatling") is None
    assert store.get("v1", "ConfigMap", NS, "checkout-eu-gatling") is not None


class _RecordingSource(Mapping[tuple[str, str], Any]):
    """A kopf index as the store sees it, noting the thread of every read."""

    def __init__(self, index: Mapping[tuple[str, str], Any]) -> None:
        self.index = index
        self.threads: set[int] = set()

    def __getitem__(self, key: tuple[str, str]) -> Any:
        self.threads.add(threading.get_ident())
        return self.index[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.index)

    def __len__(self) -> int:
        return len(self.index)


def _accumulator_key(uid: str) -> Any:
    """kopf's own key of one object in an index: (namespace, name, uid)."""
    return (NS, "checkout-gatling", uid)


@pytest.mark.usefixtures("fast_switching")
def test_workers_read_the_index_on_the_loop_and_never_see_an_existing_object_absent() -> None:
    indexer = OperatorIndexer()
    key = (NS, "checkout-gatling")
    ours = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": key[1], "namespace": NS, "uid": "u1"}}
    indexer.replace(_accumulator_key("u1"), {key: ours})
    source = _RecordingSource(indexer.index)
    store = WatchStore()
    store.attach("v1", "ConfigMap", source)
    loop = asyncio.new_event_loop()
    stop = threading.Event()

    async def churn() -> None:
        store.read_on(asyncio.get_running_loop())
        n = 0
        while not stop.is_set():  # objects of that name come and go beside ours, as kopf does it
            n += 1
            indexer.replace(_accumulator_key(f"other-{n}"), {key: {**ours, "metadata": {"uid": f"other-{n}"}}})
            if n % 2:
                indexer.discard(_accumulator_key(f"other-{n - 1}"))
            await asyncio.sleep(0)

    loop_thread = threading.Thread(target=loop.run_until_complete, args=(churn(),))
    loop_thread.start()
    absent: list[int] = []

    def read(worker: int) -> None:
        for _ in range(300):
            if store.get("v1", "ConfigMap", NS, key[1]) is None:
                absent.append(worker)

    time.sleep(0.05)
    workers = [threading.Thread(target=read, args=(i,)) for i in range(WORKERS)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    loop_thread.join()
    loop.close()
    assert not absent, f"{len(absent)} reads saw the ConfigMap absent while it existed"
    assert source.threads == {loop_thread.ident}, "a worker read the index outside the loop's thread"
