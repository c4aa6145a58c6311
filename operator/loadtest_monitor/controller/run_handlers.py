"""Thin kopf wiring of LoadtestRuns: watches fill indexes, every event queues the run's reconcile.

- LoadtestRuns are watched whole; their Jobs and runner pods with the server-side managed-by
  selector the monitor's children already use (runner pods carry it, and loadtest.dev/run), so
  the API server sends only our objects.
- Like the monitors: no finalizer on runs, no progress annotations; the work queue of
  controller/workqueue.py serves the reconciles (its own small pool, so a run's start is never
  stuck behind monitor reconciles).
- Timed passes (a start timeout, the freshness of running runners, the wait for summaries) are
  kept by `Timers`, earliest first, because a watch event says nothing when nothing happens.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import kopf

from loadtest_monitor.controller import handlers
from loadtest_monitor.controller.run_marks import InfluxMarks
from loadtest_monitor.controller.run_reconcile import RunReconciler, monitor_of
from loadtest_monitor.controller.store import WatchStore, slim
from loadtest_monitor.controller.workqueue import WorkQueue
from loadtest_monitor.identity import (
    API_VERSION,
    GROUP,
    KIND,
    LABEL_RUN,
    MANAGED_SELECTOR,
    PLURAL,
    RUN_KIND,
    RUN_PLURAL,
    VERSION,
)
from loadtest_monitor.kube.client import Kube, load_client_config
from loadtest_monitor.runs.evaluate import InfluxEvaluator
from loadtest_monitor.runs.influx import InfluxClient, InfluxError

log = logging.getLogger(__name__)

#: ("run", namespace, name) or ("monitor", namespace, name): a run's pass, or a monitor's hold check.
Key = tuple[str, str, str]
RUN_WORKERS = 2
#: Runner pods: only what the reconcile reads.
_POD_STATUS_KEYS = ("phase", "reason", "containerStatuses")


class Timers:
    """Adds a key to the queue at a time; only the earliest pending time of a key matters."""

    def __init__(self, add: Any) -> None:
        self._add = add
        self._due: dict[Key, float] = {}
        self._lock = threading.Lock()

    def at(self, key: Key, delay: float) -> None:
        due = time.monotonic() + delay
        with self._lock:
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
        timer = threading.Timer(delay, self._fire, (key, due))
        timer.daemon = True
        timer.start()

    def _fire(self, key: Key, due: float) -> None:
        with self._lock:
            if self._due.get(key) == due:
                del self._due[key]
        self._add(key)


@dataclass
class RunRuntime:
    store: WatchStore
    reconciler: RunReconciler | None = None
    queue: WorkQueue[Key] | None = None
    timers: Timers | None = None
    extras: dict[str, Any] = field(default_factory=dict)


RUN_RUNTIME: RunRuntime | None = None


class StoreReads:
    """The run reconciler's reads, from the shared watch store (no request)."""

    def __init__(self, store: WatchStore) -> None:
        self.store = store

    def run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.get(API_VERSION, RUN_KIND, namespace, name)

    def monitor(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.get(API_VERSION, KIND, namespace, name)

    def job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.get("batch/v1", "Job", namespace, name)

    def pods(self, namespace: str, run: str) -> list[dict[str, Any]]:
        return self.store.run_pods(namespace, run)

    def runs(self, namespace: str) -> list[dict[str, Any]]:
        return self.store.scan(API_VERSION, RUN_KIND, namespace)


def _work(key: Key) -> bool:
    rt = RUN_RUNTIME
    assert rt is not None and rt.reconciler is not None and rt.timers is not None
    what, namespace, name = key
    if what == "monitor":
        rt.reconciler.hold_monitor(namespace, name)
        return True
    outcome = rt.reconciler.reconcile(namespace, name)
    if outcome.requeue_after is not None:
        rt.timers.at(key, outcome.requeue_after)
    if outcome.phase:
        log.debug("run %s/%s: %s", namespace, name, outcome.phase)
    return True


def _queue(key: Key) -> None:
    rt = RUN_RUNTIME
    if rt is not None and rt.queue is not None:
        rt.queue.add(key)


@kopf.on.startup()
async def run_startup(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
    global RUN_RUNTIME
    main = handlers._runtime()
    settings.watching.label_selectors["batch/v1", "jobs"] = MANAGED_SELECTOR
    main.store.attach(API_VERSION, RUN_KIND, kwargs["runs_index"])
    main.store.attach("batch/v1", "Job", kwargs["jobs_index"])
    main.store.attach_run_pods(kwargs["run_pods_index"])
    kube = Kube(load_client_config(), timeout=main.settings.request_timeout)
    evaluator = InfluxEvaluator(main.settings, kube.get)
    reads = StoreReads(main.store)

    def writer(namespace: str, monitor: str) -> tuple[InfluxClient, str]:
        found = reads.monitor(namespace, monitor)
        if found is None:
            raise InfluxError(f"LoadtestMonitor {namespace}/{monitor} is gone")
        return evaluator.writer(found)

    rt = RunRuntime(main.store)
    rt.reconciler = RunReconciler(kube, reads, evaluator, main.settings, marks=InfluxMarks(writer))
    rt.queue = WorkQueue(
        _work, workers=RUN_WORKERS, retry_min=main.settings.retry_min_seconds, retry_max=main.settings.retry_max_seconds
    )
    rt.timers = Timers(rt.queue.add)
    RUN_RUNTIME = rt
    rt.queue.start()


@kopf.on.cleanup()
async def run_cleanup(**_: Any) -> None:
    rt = RUN_RUNTIME
    if rt is not None and rt.queue is not None:
        await asyncio.get_running_loop().run_in_executor(None, rt.queue.stop)


@kopf.index(GROUP, VERSION, RUN_PLURAL)
def runs_index(namespace: str | None, name: str | None, body: kopf.Body, **_: Any) -> Any:
    return {(namespace or "", name or ""): slim(dict(body))}


@kopf.index("batch", "v1", "jobs", labels={LABEL_RUN: kopf.PRESENT})
def jobs_index(namespace: str | None, name: str | None, body: kopf.Body, **_: Any) -> Any:
    return {(namespace or "", name or ""): slim(dict(body))}


@kopf.index("", "v1", "pods", labels={LABEL_RUN: kopf.PRESENT})
def run_pods_index(namespace: str | None, body: kopf.Body, labels: kopf.Labels, **_: Any) -> Any:
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    summary = {
        "metadata": {k: meta.get(k) for k in ("name", "uid", "creationTimestamp", "annotations", "deletionTimestamp")},
        "status": {k: status.get(k) for k in _POD_STATUS_KEYS if status.get(k) is not None},
    }
    return {(namespace or "", labels.get(LABEL_RUN, "")): summary}


@kopf.on.event(GROUP, VERSION, RUN_PLURAL)
def run_event(*, type: str, namespace: str | None, name: str, body: kopf.Body, **_: Any) -> None:
    if namespace is None:
        return
    _queue(("run", namespace, name))
    if type == "DELETED":  # its monitor may now have no run left to wait for
        _queue(("monitor", namespace, monitor_of(body)))


def _runner_event(*, namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
    run = labels.get(LABEL_RUN)
    if namespace and run:
        _queue(("run", namespace, run))


kopf.on.event("batch", "v1", "jobs", labels={LABEL_RUN: kopf.PRESENT})(_runner_event)
kopf.on.event("", "v1", "pods", labels={LABEL_RUN: kopf.PRESENT})(_runner_event)


@kopf.on.event(GROUP, VERSION, PLURAL)
def monitor_event_for_runs(*, namespace: str | None, name: str, **_: Any) -> None:
    """A monitor turning Ready starts its pending runs; one being deleted says what it waits for."""
    rt = RUN_RUNTIME
    if namespace is None or rt is None:
        return
    _queue(("monitor", namespace, name))
    for run in rt.store.scan(API_VERSION, RUN_KIND, namespace):
        if monitor_of(run) == name and (run.get("status") or {}).get("phase") in (None, "", "Pending"):
            _queue(("run", namespace, str(run["metadata"]["name"])))


RUN_EVENT_HANDLER_IDS = frozenset({"run_event", _runner_event.__qualname__, "monitor_event_for_runs"})
