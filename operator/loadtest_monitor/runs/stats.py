"""The run's figures from the runners' whole-run histograms (pure).

The runners' histograms are merged bucket by bucket (counts add up exactly; percentiles are then
read from the merged histogram, never averaged), and every figure is computed over the merge with
the rules of Gatling's own statistics (forward/histogram.py: HdrHistogram 2.2.1, 2 significant
digits). Percentiles, min and max are over ok and ko responses together, as the "total" column of
Gatling's report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from loadtest_monitor.forward import histogram as hist
from loadtest_monitor.graphite import summary_request, summary_request_parts
from loadtest_monitor.runs.model import ALL_REQUESTS, Histogram, RequestStats, RunnerData, RunResults

PERCENTILES = (50.0, 75.0, 95.0, 99.0)
#: How a request's groups and name are joined in results (and in criteria).
PATH_JOINER = " / "


def request_name(parts: Iterable[str]) -> str:
    """`shop / cart / pay`: a request's (sanitised) groups and name, as results show it."""
    return PATH_JOINER.join(parts)


def normalize_request(name: str) -> str:
    """The results' name of a request a user wrote (`shop / cart / Pay now` -> `shop / cart / Pay_now`):
    the same sanitising as the forwarder's paths, so a criterion finds its request."""
    parts = name.split(PATH_JOINER)
    return request_name(summary_request_parts(summary_request(tuple(parts[:-1]), parts[-1])))


def merge_runners(runners: Iterable[RunnerData]) -> dict[str, tuple[Histogram, Histogram]]:
    """Request name -> (ok, ko) histograms summed over the runners that reported."""
    merged: dict[str, tuple[Histogram, Histogram]] = {}
    for data in runners:
        if not data.found:
            continue
        for (request, status), counts in data.histograms.items():
            pair = merged.setdefault(request, ({}, {}))
            target = pair[0] if status == "ok" else pair[1]
            for bucket, count in counts.items():
                target[bucket] = target.get(bucket, 0) + count
    return merged


def duration_s(runners: Iterable[RunnerData]) -> float:
    """Earliest start to latest end of the runners that reported a span (0.0 when none did)."""
    spans = [(d.start_ms, d.end_ms) for d in runners if d.found and d.start_ms is not None and d.end_ms is not None]
    if not spans:
        return 0.0
    return max(0, max(end for _, end in spans) - min(start for start, _ in spans)) / 1000.0


def request_stats(name: str, ok: Histogram, ko: Histogram, run_duration_s: float) -> RequestStats:
    """One request's figures; throughput is count / run duration (0.0 for a run of no duration)."""
    both = hist.merged(ok, ko)
    n_ok, n_ko = sum(ok.values()), sum(ko.values())
    count = n_ok + n_ko
    metrics = hist.metrics(both, PERCENTILES)
    percentiles = metrics.percentiles if metrics else (0, 0, 0, 0)
    return RequestStats(
        name=name,
        count=count,
        ok=n_ok,
        ko=n_ko,
        error_ratio=n_ko / count if count else 0.0,
        throughput_rps=count / run_duration_s if run_duration_s > 0 else 0.0,
        mean_ms=hist.mean(both),
        min_ms=metrics.min if metrics else 0,
        p50_ms=percentiles[0],
        p75_ms=percentiles[1],
        p95_ms=percentiles[2],
        p99_ms=percentiles[3],
        max_ms=metrics.max if metrics else 0,
    )


def compute(runners: Sequence[RunnerData]) -> RunResults:
    """The run's results over every runner that reported: totals, then each request worst p95 first."""
    merged = merge_runners(runners)
    seconds = duration_s(runners)
    all_ok: Histogram = {}
    all_ko: Histogram = {}
    requests = []
    for name, (ok, ko) in merged.items():
        all_ok = hist.merged(all_ok, ok)
        all_ko = hist.merged(all_ko, ko)
        requests.append(request_stats(name, ok, ko, seconds))
    requests.sort(key=lambda r: (-r.p95_ms, r.name))
    return RunResults(
        total=request_stats(ALL_REQUESTS, all_ok, all_ko, seconds),
        requests=tuple(requests),
        runners=tuple(sorted(d.runner for d in runners if d.found)),
        duration_s=seconds,
    )
