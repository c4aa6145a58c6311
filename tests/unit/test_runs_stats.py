"""The run's figures from several runners' whole-run histograms (runs/stats.py): the merge equals
one histogram of all values, percentiles follow HdrHistogram's bucket rules over the raw values,
and are never an average of the runners' percentiles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest_monitor.forward import histogram as hist
from loadtest_monitor.runs.model import ALL_REQUESTS, RunnerData
from loadtest_monitor.runs.stats import compute, normalize_request, request_stats
from tests import hdr_reference

# Response times as Gatling sees them: mostly short, sometimes seconds, a few above a minute.
TIMES = st.one_of(st.integers(0, 300), st.integers(0, 5000), st.integers(0, 200_000))
REQUESTS = ("home", "shop / cart / pay")
RUNNER = st.lists(st.tuples(st.sampled_from(REQUESTS), st.booleans(), TIMES), min_size=0, max_size=60)


def runner_data(name: str, responses: list[tuple[str, bool, int]], start: int, end: int) -> RunnerData:
    histograms: dict[tuple[str, str], dict[int, int]] = {}
    for request, ok, t in responses:
        hist.record(histograms.setdefault((request, "ok" if ok else "ko"), {}), t)
    return RunnerData(name, True, histograms, start, end)


@given(st.lists(RUNNER, min_size=1, max_size=4))
def test_merged_runners_equal_one_histogram_of_every_value(runners):
    data = [runner_data(f"r{i}", responses, 1000 * i, 60_000 + 500 * i) for i, responses in enumerate(runners)]
    results = compute(data)
    everything = [x for responses in runners for x in responses]
    ok: dict[int, int] = {}
    ko: dict[int, int] = {}
    for _, good, t in everything:
        hist.record(ok if good else ko, t)
    duration = (60_000 + 500 * (len(runners) - 1)) / 1000
    assert results.total == request_stats(ALL_REQUESTS, ok, ko, duration)
    assert results.total.count == len(everything)
    assert results.total.ko == sum(1 for _, good, _ in everything if not good)
    if everything:
        raw = [t for _, _, t in everything]
        assert results.total.p50_ms == hdr_reference.percentile(raw, 50)
        assert results.total.p95_ms == hdr_reference.percentile(raw, 95)
        assert results.total.p99_ms == hdr_reference.percentile(raw, 99)
        assert results.total.min_ms == hdr_reference.minimum(raw)
        assert results.total.max_ms == hdr_reference.maximum(raw)
        assert results.total.mean_ms == pytest.approx(hdr_reference.mean(raw), rel=1e-12)
        assert results.total.throughput_rps == len(everything) / duration
    for stats in results.requests:
        raw = [t for r, _, t in everything if r == stats.name]
        assert stats.count == len(raw)
        assert stats.p75_ms == hdr_reference.percentile(raw, 75)


def test_percentiles_are_not_averages_of_the_runners_percentiles():
    fast = runner_data("fast", [("home", True, 10)] * 90, 0, 10_000)
    slow = runner_data("slow", [("home", True, 2000)] * 10, 0, 10_000)
    results = compute([fast, slow])
    per_runner = [compute([d]).total.p95_ms for d in (fast, slow)]
    assert per_runner == [10, 2007]  # 2000 lies in a bucket 8 ms wide: 2000..2007
    assert sum(per_runner) / 2 == 1008.5  # what averaging would claim
    assert results.total.p95_ms == 2007  # 95% of 100 responses: rank 95 is a slow one
    assert results.total.p50_ms == 10
    assert results.total.count == 100 and results.total.error_ratio == 0.0


def test_error_ratio_throughput_and_duration_span_every_runner():
    a = runner_data("a", [("home", True, 5)] * 30 + [("home", False, 7)] * 10, 1_000, 21_000)
    b = runner_data("b", [("home", True, 5)] * 60, 6_000, 41_000)
    results = compute([a, b])
    assert results.duration_s == 40.0  # earliest start (a) to latest end (b)
    assert results.total.count == 100 and results.total.ko == 10
    assert results.total.error_ratio == 0.1
    assert results.total.throughput_rps == 2.5
    assert results.runners == ("a", "b")


def test_a_runner_without_data_adds_nothing_and_requests_are_worst_first():
    a = runner_data("a", [("home", True, 5), ("shop / cart / pay", True, 900)], 0, 1000)
    results = compute([a, RunnerData("b", False)])
    assert results.runners == ("a",)
    assert [r.name for r in results.requests] == ["shop / cart / pay", "home"]
    assert results.total.mean_ms == hist.mean({5: 1, 900: 1}) == (5 + 902) / 2


def test_no_responses_give_zeros_not_errors():
    results = compute([RunnerData("a", True, {}, 0, 0)])
    assert results.total.count == 0 and results.total.throughput_rps == 0.0 and results.total.p99_ms == 0


def test_criteria_names_are_sanitised_like_the_forwarders_paths():
    assert normalize_request("Pay now") == "Pay_now"
    assert normalize_request("shop / cart / GET /items") == "shop / cart / GET_/items"
    assert normalize_request("a.b") == "a-b"
