"""The verdict of a LoadtestRun (pure): did every runner run and report, and did the run meet its criteria?

Order of judgement, first match wins:
1. a runner that crashed (its Gatling container never started, or ended with an exit code other
   than 0 or 2, or without one) -> Failed, RunnerFailed, naming every such runner;
2. a runner whose whole-run summary never arrived (or arrived incomplete) -> Failed, NoData,
   naming them: the figures of the others are part of the run, and a verdict on part of the run
   would pass a run whose missing share may be the one that failed;
3. no responses at all -> Failed, NoRequests;
4. a baseline criterion naming a run without results -> Error, BaselineMissing;
5. every criterion: Passed (CriteriaMet) or Failed (CriteriaFailed), each with its threshold,
   its measured value and a sentence ("p95 of checkout <= 500 ms").

Exit code 2 is Gatling's "assertions failed" (model.ASSERTIONS_FAILED_EXIT_CODE), not a crash: the
runner ran to its end and its report and summary are whole. Our verdict supersedes Gatling's own
assertions because each runner judges them on its share of the load only (a p99 over a third of
the responses, a throughput a third of the run's); the criteria here are judged over the merged
histograms of every runner, which is the run the user asked about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from loadtest_monitor.runs.model import (
    ALL_REQUESTS,
    ASSERTIONS_FAILED_EXIT_CODE,
    Criterion,
    CriterionResult,
    Metric,
    Outcome,
    RequestStats,
    RunnerData,
    RunnerOutcome,
    RunResults,
    Verdict,
)
from loadtest_monitor.runs.stats import normalize_request

_OK_EXIT_CODES = (0, ASSERTIONS_FAILED_EXIT_CODE)
#: Higher is better for these metrics; lower is better for every other one.
_HIGHER_IS_BETTER = frozenset({Metric.THROUGHPUT})
_UNITS = {Metric.ERROR_RATIO: "", Metric.THROUGHPUT: " req/s"}
_MS = " ms"
#: At most this many names in one message; the rest are counted.
_NAMES_SHOWN = 10


def judge(
    runners_expected: Sequence[str],
    runner_data: Sequence[RunnerData],
    pod_outcomes: Mapping[str, RunnerOutcome],
    results: RunResults | None,
    criteria: Sequence[Criterion],
    baseline_results: Mapping[str, RunResults],
) -> Verdict:
    crashed = [f"{r} ({_crash(pod_outcomes.get(r))})" for r in runners_expected if _crash(pod_outcomes.get(r))]
    if crashed:
        return Verdict(Outcome.FAILED, "RunnerFailed", f"runner crashed: {_names(crashed)}")
    found = {d.runner for d in runner_data if d.found}
    missing = [r for r in runners_expected if r not in found]
    if missing or results is None:
        return Verdict(
            Outcome.FAILED,
            "NoData",
            "no whole-run summary (or an incomplete one) arrived from runner "
            f"{_names(missing or list(runners_expected))}: a verdict on part of the run is no verdict",
        )
    if results.total.count == 0:
        return Verdict(Outcome.FAILED, "NoRequests", "the runners ran but sent no request at all")
    absent = sorted({c.baseline_run for c in criteria if c.baseline_run and c.baseline_run not in baseline_results})
    checked = tuple(r for c in criteria for r in evaluate(c, results, baseline_results))
    if absent:
        return Verdict(
            Outcome.ERROR, "BaselineMissing",
            f"baseline run {_names(absent)} has no results to compare with; name a finished run", checked,
        )
    failed = [r.description for r in checked if not r.passed]
    if failed:
        return Verdict(Outcome.FAILED, "CriteriaFailed", f"{len(failed)} of {len(checked)} criteria failed: "
                       + "; ".join(_measured_text(r) for r in checked if not r.passed), checked)
    summary = f"{len(checked)} criteria met" if checked else "no criteria: every runner ran and reported"
    return Verdict(
        Outcome.PASSED, "CriteriaMet",
        f"{summary} ({results.total.count} requests from {len(found)} runners, "
        f"{results.total.error_ratio:.2%} errors, p95 {results.total.p95_ms} ms)",
        checked,
    )


def _crash(outcome: RunnerOutcome | None) -> str:
    """Why the runner counts as crashed, or "" when it ran to its end."""
    if outcome is None or not outcome.started:
        return "never started" + (f": {outcome.detail}" if outcome and outcome.detail else "")
    if outcome.exit_code is None:
        return "ended without an exit code" + (f": {outcome.detail}" if outcome.detail else "")
    if outcome.exit_code not in _OK_EXIT_CODES:
        return f"exit code {outcome.exit_code}" + (f", {outcome.detail}" if outcome.detail else "")
    return ""


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def evaluate(
    criterion: Criterion, results: RunResults, baseline_results: Mapping[str, RunResults]
) -> list[CriterionResult]:
    """The criterion's results: one per bound it sets (at most, at least, baseline)."""
    subject = "all requests" if criterion.request is None else criterion.request
    label = f"{criterion.metric.value} of {subject}"
    measured = _metric(_find(results, criterion.request), criterion.metric)
    unit = _UNITS.get(criterion.metric, _MS)
    out = []
    if criterion.max_value is not None:
        out.append(_bound(criterion, f"{label} <= {_num(criterion.max_value)}{unit}", criterion.max_value,
                          measured, at_most=True))
    if criterion.min_value is not None:
        out.append(_bound(criterion, f"{label} >= {_num(criterion.min_value)}{unit}", criterion.min_value,
                          measured, at_most=False))
    if criterion.baseline_run is not None:
        out.append(_baseline(criterion, label, measured, unit, baseline_results.get(criterion.baseline_run)))
    return out


def _baseline(
    criterion: Criterion, label: str, measured: float | None, unit: str, baseline: RunResults | None
) -> CriterionResult:
    percent = criterion.max_regression_percent or 0.0
    higher_better = criterion.metric in _HIGHER_IS_BETTER
    worse = "lower" if higher_better else "higher"
    before = _metric(_find(baseline, criterion.request), criterion.metric) if baseline is not None else None
    if before is None:
        description = f"{label} at most {_num(percent)}% {worse} than run {criterion.baseline_run} (not in that run)"
        return CriterionResult(criterion, description, float("nan"), measured, False)
    factor = 1 - percent / 100 if higher_better else 1 + percent / 100
    threshold = before * factor
    description = (
        f"{label} at most {_num(percent)}% {worse} than run {criterion.baseline_run} "
        f"({_num(before)}{unit}): {'>=' if higher_better else '<='} {_num(threshold)}{unit}"
    )
    return _bound(criterion, description, threshold, measured, at_most=not higher_better)


def _bound(
    criterion: Criterion, description: str, threshold: float, measured: float | None, at_most: bool
) -> CriterionResult:
    if measured is None:  # the request had no response in this run: nothing meets a bound
        return CriterionResult(criterion, description, threshold, None, False)
    passed = measured <= threshold if at_most else measured >= threshold
    return CriterionResult(criterion, description, threshold, measured, passed)


def _find(results: RunResults, request: str | None) -> RequestStats | None:
    if request is None or request == ALL_REQUESTS:
        return results.total
    wanted = {request, normalize_request(request)}
    return next((r for r in results.requests if r.name in wanted), None)


def _metric(stats: RequestStats | None, metric: Metric) -> float | None:
    if stats is None or stats.count == 0:
        return None
    values = {
        Metric.ERROR_RATIO: stats.error_ratio,
        Metric.THROUGHPUT: stats.throughput_rps,
        Metric.MEAN: stats.mean_ms,
        Metric.P50: stats.p50_ms,
        Metric.P75: stats.p75_ms,
        Metric.P95: stats.p95_ms,
        Metric.P99: stats.p99_ms,
        Metric.MAX: stats.max_ms,
    }
    return float(values[metric])


def _num(value: float) -> str:
    return f"{value:.4g}" if value != int(value) else str(int(value))


def _measured_text(result: CriterionResult) -> str:
    measured = "no responses" if result.measured is None else f"measured {_num(result.measured)}"
    return f"{result.description} ({measured})"
