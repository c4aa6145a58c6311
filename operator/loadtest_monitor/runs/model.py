"""The data a LoadtestRun's verdict is made of, shared by the results reader, the judge and the controller.

How the numbers travel: at the end of its run each runner's forwarder sends its whole-run
histograms (per request and status, HdrHistogram buckets of 2 significant digits, the same buckets
Gatling's own statistics use) to the monitor's Graphite listener; the operator reads them back from
the monitor's InfluxDB with the credentials it manages (runs/results.py), merges the buckets of all
runners and computes every figure over the merged histogram (never an average of per-runner
percentiles). Counts are sums of integers, so they equal Gatling's per-runner totals exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

#: lowest equivalent value of an HdrHistogram bucket (ms) -> count (see forward/histogram.py).
Histogram = dict[int, int]

#: The name the totals over every request go by in results (Gatling's own name for them).
ALL_REQUESTS = "allRequests"


@dataclass(frozen=True)
class RunnerData:
    """What one runner sent: its histograms per request (group path joined by " / ") and status
    ("ok", "ko"), and the span of its run. `found` is False when nothing of it reached InfluxDB."""

    runner: str
    found: bool
    histograms: dict[tuple[str, str], Histogram] = field(default_factory=dict)
    start_ms: int | None = None
    end_ms: int | None = None


#: Gatling's exit code when the simulation's own assertions failed (StatusCode.AssertionsFailed).
ASSERTIONS_FAILED_EXIT_CODE = 2


@dataclass(frozen=True)
class RunnerOutcome:
    """How a runner's pod ended, as the controller saw it: `started` False when its Gatling
    container never ran (unschedulable, image pull, deleted before start); `exit_code` of that
    container once it ended (None: it ended without one, e.g. the pod was evicted or deleted);
    `detail` a short word for the message (OOMKilled, ImagePullBackOff, ...)."""

    started: bool
    exit_code: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class RequestStats:
    """One request (or ALL_REQUESTS) across every runner; times in ms as Gatling reports them."""

    name: str
    count: int
    ok: int
    ko: int
    error_ratio: float
    throughput_rps: float
    mean_ms: float
    min_ms: int
    p50_ms: int
    p75_ms: int
    p95_ms: int
    p99_ms: int
    max_ms: int


@dataclass(frozen=True)
class RunResults:
    """The run's figures: the totals, every request (worst first by p95), the runners it read."""

    total: RequestStats
    requests: tuple[RequestStats, ...]
    runners: tuple[str, ...]
    duration_s: float


class Metric(StrEnum):
    """What a criterion measures (the CRD's enum of spec.criteria[].metric)."""

    ERROR_RATIO = "errorRatio"
    THROUGHPUT = "throughput"
    MEAN = "mean"
    P50 = "p50"
    P75 = "p75"
    P95 = "p95"
    P99 = "p99"
    MAX = "max"


@dataclass(frozen=True)
class Criterion:
    """`metric` of `request` (None: every request together) must be at most (`below`) or at
    least (`above`) the threshold; a baseline criterion compares with the same metric of a
    finished run instead: at most `max_regression_percent` worse."""

    metric: Metric
    request: str | None = None
    max_value: float | None = None
    min_value: float | None = None
    baseline_run: str | None = None
    max_regression_percent: float | None = None


@dataclass(frozen=True)
class CriterionResult:
    criterion: Criterion
    description: str
    threshold: float
    measured: float | None
    passed: bool


class Outcome(StrEnum):
    PASSED = "Passed"
    FAILED = "Failed"
    ERROR = "Error"


@dataclass(frozen=True)
class Verdict:
    """`reason` is a CamelCase word for the condition (CriteriaMet, CriteriaFailed, RunnerFailed,
    NoData, BaselineMissing, ...); `message` says it to a person, naming runners and criteria."""

    outcome: Outcome
    reason: str
    message: str
    criteria: tuple[CriterionResult, ...] = ()
