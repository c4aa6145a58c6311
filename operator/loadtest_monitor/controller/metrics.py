"""The operator's Prometheus metrics: reconciles by outcome and their durations, monitors by Ready
state, watch restarts, and test runs (LoadtestRun): passed or not, how long, how many per phase.
Served at /metrics on `run --metrics-port PORT` (0, the default: off; the shipped manifests and
the chart use 8081).

The metrics live in a registry of their own, so nothing else that happens to use
prometheus-client in the process adds series to ours, and tests can read exact values.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from loadtest_monitor.controller.http_serve import serve_metrics

OUTCOMES = ("ok", "error", "invalid", "conflict")

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "loadtest_monitor_reconciles",
    "Reconciles of LoadtestMonitor objects, by outcome (ok, error, invalid, conflict).",
    ["outcome"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "loadtest_monitor_reconcile_errors",
    "Reconciles that did not end ok (error, invalid spec, or a name conflict), by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "loadtest_monitor_reconcile_duration_seconds",
    "Wall time of one reconcile, by outcome.",
    ["outcome"],
    # A no-op reconcile takes milliseconds; one that applies every child, a second or more.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=REGISTRY,
)
MONITORS = Gauge(
    "loadtest_monitor_monitors",
    "LoadtestMonitor objects the operator knows, by their Ready condition (true, false).",
    ["ready"],
    registry=REGISTRY,
)
WATCH_RESTARTS = Counter(
    "loadtest_monitor_watch_restarts",
    "Watch streams that ended and were started again, by resource.",
    ["resource"],
    registry=REGISTRY,
)

#: The phases of a LoadtestRun (its CRD's enum of status.phase).
RUN_PHASES = ("Pending", "Starting", "Running", "Evaluating", "Passed", "Failed", "Error")
RUN_VERDICTS = ("Passed", "Failed", "Error")

RUN_PASSED = Gauge(
    "loadtest_run_passed",
    "1 if the ended LoadtestRun passed its criteria, 0 if it failed or ended in error.",
    ["namespace", "monitor", "run"],
    registry=REGISTRY,
)
RUN_DURATION = Gauge(
    "loadtest_run_duration_seconds",
    "Wall time of an ended LoadtestRun, from its start to its end.",
    ["namespace", "monitor", "run"],
    registry=REGISTRY,
)
RUNS = Gauge(
    "loadtest_runs",
    "LoadtestRun objects the operator knows, by status.phase.",
    ["phase"],
    registry=REGISTRY,
)

# Every outcome and Ready state exists from the start (at 0), so a rate() or an alert on
# `error` works before the first error happens.
for _outcome in OUTCOMES:
    RECONCILES.labels(_outcome)
    RECONCILE_SECONDS.labels(_outcome)
    if _outcome != "ok":
        RECONCILE_ERRORS.labels(_outcome)
MONITORS.labels("true").set(0)
MONITORS.labels("false").set(0)
for _phase in RUN_PHASES:
    RUNS.labels(_phase).set(0)

_server_lock = threading.Lock()
_server: Any = None


def observe_reconcile(outcome: str, seconds: float) -> None:
    """Counts one reconcile and records its duration; an outcome outside OUTCOMES is a bug."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown reconcile outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
    RECONCILES.labels(outcome).inc()
    RECONCILE_SECONDS.labels(outcome).observe(max(seconds, 0.0))
    if outcome != "ok":
        RECONCILE_ERRORS.labels(outcome).inc()


def set_monitors(ready: int, not_ready: int) -> None:
    """How many known monitors are Ready=True and how many are not (False or Unknown)."""
    MONITORS.labels("true").set(ready)
    MONITORS.labels("false").set(not_ready)


def record_run_end(namespace: str, monitor: str, run: str, verdict: str, duration_s: float) -> None:
    """Called once when a run ends: passed (1/0) and duration, labelled by the run. One series per
    run, so an alert can name the run that failed; forget_run removes them with the run."""
    if verdict not in RUN_VERDICTS:
        raise ValueError(f"unknown run verdict {verdict!r}; one of {', '.join(RUN_VERDICTS)}")
    RUN_PASSED.labels(namespace, monitor, run).set(1 if verdict == "Passed" else 0)
    RUN_DURATION.labels(namespace, monitor, run).set(max(duration_s, 0.0))


def forget_run(namespace: str, monitor: str, run: str) -> None:
    """Drops a deleted run's series (runs come and go: their labels must not pile up)."""
    for gauge in (RUN_PASSED, RUN_DURATION):
        with contextlib.suppress(KeyError):  # the run never ended: it has no series
            gauge.remove(namespace, monitor, run)


def set_runs_by_phase(counts: Mapping[str, int]) -> None:
    """How many known runs are in each phase; a phase left out is 0, an unknown one is a bug."""
    unknown = set(counts) - set(RUN_PHASES)
    if unknown:
        raise ValueError(f"unknown run phase(s) {', '.join(sorted(unknown))}; one of {', '.join(RUN_PHASES)}")
    for phase in RUN_PHASES:
        RUNS.labels(phase).set(counts.get(phase, 0))


def count_watch_restart(resource: str) -> None:
    WATCH_RESTARTS.labels(resource).inc()


def start_metrics_server(port: int, address: str = "0.0.0.0") -> int:
    """Serves /metrics on a daemon thread; returns the bound port (port 0 in tests: a free one).

    Called once by `run`; a second call returns the running server's port.
    """
    global _server
    with _server_lock:
        if _server is None:
            # Our own server, not prometheus-client's: its connections have no timeout (http_serve).
            _server = serve_metrics(REGISTRY, port, address)
        return int(_server.server_address[1])
