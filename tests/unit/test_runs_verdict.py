"""The verdict (runs/verdict.py): every outcome, partial data never passing, criteria and baselines."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest_monitor.forward import histogram as hist
from loadtest_monitor.runs.model import (
    Criterion,
    Metric,
    Outcome,
    RunnerData,
    RunnerOutcome,
    RunResults,
)
from loadtest_monitor.runs.stats import compute
from loadtest_monitor.runs.verdict import judge

RUNNERS = ("run-0-abc", "run-1-def", "run-2-ghi")
DONE = RunnerOutcome(started=True, exit_code=0)


def data(runner: str, ok_ms: int = 100, ko: int = 0, n: int = 100, found: bool = True) -> RunnerData:
    if not found:
        return RunnerData(runner, False)
    checkout: dict[int, int] = {}
    for _ in range(n - ko):
        hist.record(checkout, ok_ms)
    failed: dict[int, int] = {}
    for _ in range(ko):
        hist.record(failed, 30)
    histograms = {("checkout", "ok"): checkout, ("home", "ok"): {5: n}}
    if ko:
        histograms[("checkout", "ko")] = failed
    return RunnerData(runner, True, histograms, 1_000_000, 1_010_000)


def verdict(runner_data, outcomes=None, criteria=(), baselines=None):
    outcomes = {r: DONE for r in RUNNERS} if outcomes is None else outcomes
    found = [d for d in runner_data if d.found]
    results = compute(runner_data) if found else None
    return judge(RUNNERS, runner_data, outcomes, results, criteria, baselines or {})


def all_data(**kw):
    return [data(r, **kw) for r in RUNNERS]


def test_no_criteria_and_every_runner_reported_passes():
    v = verdict(all_data())
    assert (v.outcome, v.reason) == (Outcome.PASSED, "CriteriaMet")
    assert "600 requests from 3 runners" in v.message


@pytest.mark.parametrize(
    ("outcome", "shown"),
    [
        (RunnerOutcome(started=True, exit_code=1), "exit code 1"),
        (RunnerOutcome(started=True, exit_code=137, detail="OOMKilled"), "exit code 137, OOMKilled"),
        (RunnerOutcome(started=False, detail="ImagePullBackOff"), "never started: ImagePullBackOff"),
        (RunnerOutcome(started=True, exit_code=None, detail="Evicted"), "ended without an exit code: Evicted"),
    ],
)
def test_a_crashed_runner_fails_the_run_naming_it_even_with_everyones_data(outcome, shown):
    outcomes = {**{r: DONE for r in RUNNERS}, "run-1-def": outcome}
    v = verdict(all_data(), outcomes)
    assert (v.outcome, v.reason) == (Outcome.FAILED, "RunnerFailed")
    assert f"run-1-def ({shown})" in v.message and "run-0-abc" not in v.message


def test_a_runner_without_a_pod_outcome_never_started():
    outcomes = {r: DONE for r in RUNNERS[:2]}
    v = verdict(all_data(), outcomes)
    assert v.reason == "RunnerFailed" and "run-2-ghi (never started)" in v.message


def test_exit_code_2_is_gatlings_own_assertions_not_a_crash_and_our_criteria_decide():
    outcomes = {r: RunnerOutcome(True, 2) for r in RUNNERS}
    passing = verdict(all_data(), outcomes, [Criterion(Metric.P95, "checkout", max_value=500)])
    assert passing.outcome == Outcome.PASSED
    failing = verdict(all_data(), outcomes, [Criterion(Metric.P95, "checkout", max_value=50)])
    assert (failing.outcome, failing.reason) == (Outcome.FAILED, "CriteriaFailed")


def test_partial_data_is_never_passed_and_names_the_missing_runner():
    partial = [data("run-0-abc"), data("run-1-def", found=False), data("run-2-ghi")]
    v = verdict(partial, criteria=[Criterion(Metric.ERROR_RATIO, max_value=1.0)])
    assert (v.outcome, v.reason) == (Outcome.FAILED, "NoData")
    assert "run-1-def" in v.message and "run-0-abc" not in v.message
    absent = [data("run-0-abc"), data("run-1-def")]  # the third never appears at all
    v = verdict(absent)
    assert v.reason == "NoData" and "run-2-ghi" in v.message


def test_no_data_from_anyone():
    v = verdict([data(r, found=False) for r in RUNNERS])
    assert v.reason == "NoData" and all(r in v.message for r in RUNNERS)


def test_runners_that_sent_no_request_fail():
    empty = [RunnerData(r, True, {}, 0, 1000) for r in RUNNERS]
    assert verdict(empty).reason == "NoRequests"


def test_each_criterion_has_threshold_measured_and_a_sentence():
    runners = [data(r, ok_ms=400, ko=10) for r in RUNNERS]
    criteria = [
        Criterion(Metric.P95, "checkout", max_value=500),
        Criterion(Metric.ERROR_RATIO, max_value=0.01),
        Criterion(Metric.THROUGHPUT, min_value=50),
        Criterion(Metric.MEAN, "home", max_value=10),
        Criterion(Metric.MAX, max_value=399),
        Criterion(Metric.P99, "missing request", max_value=1000),
    ]
    v = verdict(runners, criteria=criteria)
    assert (v.outcome, v.reason) == (Outcome.FAILED, "CriteriaFailed")
    by = {r.description: r for r in v.criteria}
    p95 = by["p95 of checkout <= 500 ms"]
    assert (p95.threshold, p95.measured, p95.passed) == (500, 401, True)  # 400 is in bucket 400..401
    errors = by["errorRatio of all requests <= 0.01"]
    assert errors.measured == 30 / 600 and not errors.passed
    rate = by["throughput of all requests >= 50 req/s"]
    assert rate.measured == 600 / 10 and rate.passed
    assert by["mean of home <= 10 ms"].passed
    assert not by["max of all requests <= 399 ms"].passed
    missing = by["p99 of missing request <= 1000 ms"]
    assert missing.measured is None and not missing.passed
    assert "3 of 6 criteria failed" in v.message and "(measured 0.05)" in v.message


def test_a_criterion_names_a_request_as_the_user_wrote_it():
    runners = [data(r) for r in RUNNERS]
    renamed = [RunnerData(d.runner, True, {("shop / Pay_now", "ok"): {100: 1}}, 0, 1000) for d in runners]
    v = verdict(renamed, criteria=[Criterion(Metric.P50, "shop / Pay now", max_value=200)])
    assert v.outcome == Outcome.PASSED and v.criteria[0].measured == 100


def baseline(p95_ms: int, rps_n: int) -> RunResults:
    return compute([data("old", ok_ms=p95_ms, n=rps_n)])


def test_baseline_is_direction_aware():
    runners = [data(r, ok_ms=110) for r in RUNNERS]  # p95 of checkout 110 ms, 60 req/s
    criteria = [
        Criterion(Metric.P95, "checkout", baseline_run="nightly-41", max_regression_percent=10),
        Criterion(Metric.THROUGHPUT, baseline_run="nightly-41", max_regression_percent=10),
    ]
    # Before: checkout p95 100 ms, 66 req/s (660 over 10 s): 110 ms is 10 % worse (allowed),
    # 60 req/s is 9.1 % lower (allowed).
    ok = verdict(runners, criteria=criteria, baselines={"nightly-41": baseline(100, 330)})
    assert ok.outcome == Outcome.PASSED, ok.message
    p95, rate = ok.criteria
    assert p95.threshold == pytest.approx(110) and p95.measured == 110
    assert "at most 10% higher than run nightly-41 (100 ms): <= 110 ms" in p95.description
    assert rate.threshold == pytest.approx(59.4) and "lower than run nightly-41" in rate.description
    # Before: 90 ms and 80 req/s: both now more than 10 % worse.
    bad = verdict(runners, criteria=criteria, baselines={"nightly-41": baseline(90, 400)})
    assert bad.reason == "CriteriaFailed"
    assert [c.passed for c in bad.criteria] == [False, False]
    # Faster and more throughput than the baseline always pass (better, not worse).
    better = verdict(runners, criteria=criteria, baselines={"nightly-41": baseline(200, 100)})
    assert better.outcome == Outcome.PASSED


def test_a_missing_baseline_run_is_an_error_not_a_pass():
    criteria = [Criterion(Metric.P95, baseline_run="gone", max_regression_percent=5)]
    v = verdict(all_data(), criteria=criteria)
    assert (v.outcome, v.reason) == (Outcome.ERROR, "BaselineMissing")
    assert "gone" in v.message and math.isnan(v.criteria[0].threshold)


@given(
    st.lists(st.sampled_from(["reported", "no data", "absent", "exit 1", "exit 2", "never started"]),
             min_size=1, max_size=6),
    st.booleans(),
)
def test_never_passed_unless_every_runner_ran_and_reported(states, with_criteria):
    runners = tuple(f"r{i}" for i in range(len(states)))
    runner_data = []
    outcomes = {}
    for runner, state in zip(runners, states, strict=True):
        if state != "absent":
            runner_data.append(data(runner, found=state != "no data"))
        if state != "never started":
            outcomes[runner] = RunnerOutcome(True, 1 if state == "exit 1" else 2 if state == "exit 2" else 0)
    found = [d for d in runner_data if d.found]
    criteria = [Criterion(Metric.ERROR_RATIO, max_value=1.0)] if with_criteria else []
    v = judge(runners, runner_data, outcomes, compute(found) if found else None, criteria, {})
    whole = all(s in ("reported", "exit 2") for s in states)
    assert (v.outcome == Outcome.PASSED) == whole, (states, v)
    if "exit 1" in states or "never started" in states:
        assert v.reason == "RunnerFailed"
    elif not whole:
        assert v.reason == "NoData"
