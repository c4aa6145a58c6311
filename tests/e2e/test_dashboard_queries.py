"""Every query of the Gatling dashboard, resolved as Grafana would resolve it for the two-runner
run, executed against the real InfluxDB: non-empty, and consistent with Gatling's own numbers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from loadtest_monitor.graphite import ALL_USERS
from loadtest_monitor.render.gatling import USERS_MEASUREMENT
from ltm_harness.datapath import DataPathRun
from ltm_harness.gatling_run import SIMULATION_ID, RequestStats
from tests.e2e.datapath_support import Resolved, gatling_dashboard, points
from tests.e2e.grafana_interp import TimeRange, interpolate

pytestmark = pytest.mark.e2e

Series = list[dict[str, Any]]
# Gatling's Graphite writer truncates each window's mean to whole ms and records 0 ms as 1 ms; its
# report rounds its mean to whole ms. A weighted mean of window means is within these bounds.
MEAN_TOLERANCE_MS = 2.5


@pytest.fixture(scope="module")
def resolved(two_runner_run: DataPathRun) -> Resolved:
    run = two_runner_run
    dashboard = gatling_dashboard(run)
    time_range = TimeRange(int(run.started - 5) * 1000, int(run.finished + 5) * 1000)
    res = Resolved(run, dashboard, time_range, {})
    # Variables in the order Grafana resolves them (each may use the ones before it).
    for variable in dashboard["templating"]["list"]:
        query = interpolate(variable["query"], res.values({"simulation": [SIMULATION_ID]}), time_range, 5)
        res.options[variable["name"]] = sorted(
            str(v[-1]) for s in run.influxd.series(query, run.db) for v in s.get("values", [])
        )
    return res


def _by_tags(series: Series, *tags: str) -> dict[tuple[str | None, ...], list[list[Any]]]:
    return {tuple((s.get("tags") or {}).get(t) or None for t in tags): s["values"] for s in series}


def _totals(run: DataPathRun) -> RequestStats:
    runs = list(run.results.values())
    return RequestStats((), "all", sum(r.all_requests.total for r in runs), sum(r.all_requests.ok for r in runs),
                        sum(r.all_requests.ko for r in runs), {})


def _per_request(run: DataPathRun) -> dict[tuple[str | None, str], list[RequestStats]]:
    out: dict[tuple[str | None, str], list[RequestStats]] = defaultdict(list)
    for results in run.results.values():
        for req in results.requests:
            out[(req.graphite_group, req.graphite_request)].append(req)
    return out


def _stat(reqs: list[RequestStats], key: str) -> list[int]:
    return [int(r.stats[key]["total"]) for r in reqs]


def _global_stat(run: DataPathRun, key: str) -> list[int]:
    return [int(r.all_requests.stats[key]["total"]) for r in run.results.values()]


def _counts_from_rate(series: Series, interval: int) -> int:
    return round(sum(points(series)) * interval)


# --- per-panel consistency with Gatling's numbers ---------------------------------------------


def check_active_users(res: Resolved, series: Series, _: int) -> None:
    per_scenario = _by_tags(series, "scenario")
    users: defaultdict[str | None, int] = defaultdict(int)
    for expected in res.run.expected_users.values():
        for name, n in expected.items():
            users[name] += n
    assert {k[0] for k in per_scenario} == set(users)
    for (scenario,), values in per_scenario.items():
        peak = max(v[1] for v in values)
        assert 1 <= peak <= users[scenario], (scenario, peak, users[scenario])
    # Exactly the per-runner last value in each bucket, summed over runners (from the raw points).
    raw = res.run.influxd.rows(
        f'SELECT "active" FROM "{USERS_MEASUREMENT}" WHERE {res.run.time_filter} GROUP BY "runner", "scenario"',
        res.run.db,
    )
    panel = next(p for p in res.dashboard["panels"] if p["title"].startswith("Active"))
    interval = res.time_range.interval_seconds(panel)
    last: dict[tuple[str, str, int], tuple[int, int]] = {}
    for row in raw:
        bucket = row["time"] - row["time"] % interval
        key = (row["scenario"], row["runner"], bucket)
        if key not in last or last[key][0] < row["time"]:
            last[key] = (row["time"], row["active"])
    expected_sum: dict[tuple[str, int], int] = defaultdict(int)
    for (scenario, _runner, bucket), (_time, active) in last.items():
        expected_sum[(scenario, bucket)] += active
    got = {(scenario, int(t)): v for (scenario,), values in per_scenario.items() for t, v in values}
    assert got == dict(expected_sum)


def check_rate(status: str) -> Callable[[Resolved, Series, int], None]:
    def check(res: Resolved, series: Series, interval: int) -> None:
        totals = _totals(res.run)
        want = {"all": totals.total, "ok": totals.ok, "ko": totals.ko}[status]
        assert _counts_from_rate(series, interval) == want
    return check


def check_requests_rate(res: Resolved, series: Series, interval: int) -> None:
    all_series, ok_series = series[:1], series[1:]
    check_rate("all")(res, all_series, interval)
    check_rate("ok")(res, ok_series, interval)


def _all_counts_by_time(res: Resolved, panel_title: str) -> dict[int, float]:
    panel = next(p for p in res.dashboard["panels"] if p["title"].startswith(panel_title))
    series, interval = res.run_target(panel, panel["targets"][0])
    return {int(v[0]): float(v[1]) * interval for s in series for v in s["values"]}


def check_error_ratio(res: Resolved, series: Series, _: int) -> None:
    all_by_time = _all_counts_by_time(res, "Requests/s (sum")
    # null where a bucket had no response at all (0 / 0)
    ko = sum(ratio * all_by_time[int(t)] / 100 for t, ratio in series[0]["values"] if ratio is not None)
    assert round(ko) == _totals(res.run).ko


def check_error_ratio_overall(res: Resolved, series: Series, _: int) -> None:
    totals = _totals(res.run)
    (value,) = points(series)
    assert value == pytest.approx(100 * totals.ko / totals.total, rel=1e-9)


def _upper_bound_ok(dashboard_value: float, gatling_value: int) -> bool:
    # Gatling's Graphite histograms keep 2 significant digits (1 %); its report uses its own.
    return dashboard_value >= gatling_value * 0.99 - 1


def check_percentiles(res: Resolved, series: Series, _: int) -> None:
    columns = series[0]["columns"]
    peak = {c: max(v[i] for v in series[0]["values"] if v[i] is not None) for i, c in enumerate(columns) if i}
    for name, key in (("p50", "percentiles1"), ("p75", "percentiles2"), ("p95", "percentiles3"),
                      ("p99", "percentiles4")):
        assert _upper_bound_ok(peak[name], max(_global_stat(res.run, key))), (name, peak[name])
    gatling_max = max(_global_stat(res.run, "maxResponseTime"))
    assert abs(peak["max"] - gatling_max) <= gatling_max // 100 + 1


def check_mean(res: Resolved, series: Series, _: int) -> None:
    all_by_time = _all_counts_by_time(res, "Requests/s (sum")
    # A bucket whose windows had no response has no mean (null), and no weight either.
    values = [(t, m) for t, m in series[0]["values"] if m is not None]
    weighted = sum(mean * all_by_time[int(t)] for t, mean in values)
    mean = weighted / sum(all_by_time[int(t)] for t, _ in values)
    runs = list(res.run.results.values())
    gatling = sum(r.all_requests.stats["meanResponseTime"]["total"] * r.all_requests.total for r in runs) / sum(
        r.all_requests.total for r in runs
    )
    assert abs(mean - gatling) <= MEAN_TOLERANCE_MS, (mean, gatling)


def check_request_rate(res: Resolved, series: Series, interval: int) -> None:
    expected = _per_request(res.run)
    got = {
        key: round(sum(v[1] for v in values) * interval)
        for key, values in _by_tags(series, "group", "request").items()
    }
    assert got == {key: sum(r.total for r in reqs) for key, reqs in expected.items()}


def check_request_p95(res: Resolved, series: Series, _: int) -> None:
    expected = _per_request(res.run)
    got = {
        key: max(v[1] for v in values if v[1] is not None)
        for key, values in _by_tags(series, "group", "request").items()
    }
    assert set(got) == set(expected)
    for key, reqs in expected.items():
        assert _upper_bound_ok(got[key], max(_stat(reqs, "percentiles3"))), key


def check_request_table(res: Resolved, series: Series, _: int) -> None:
    expected = _per_request(res.run)
    rows = {}
    for s in series:
        tags = s.get("tags") or {}
        rows[(tags.get("group") or None, tags["request"])] = dict(zip(s["columns"], s["values"][0], strict=True))
    assert set(rows) == set(expected)
    for key, reqs in expected.items():
        row, total, ko = rows[key], sum(r.total for r in reqs), sum(r.ko for r in reqs)
        assert (row["requests"], row["errors"]) == (total, ko), key
        assert row["error %"] == pytest.approx(100 * ko / total, rel=1e-9)
        gatling_max = max(_stat(reqs, "maxResponseTime"))
        assert abs(row["max"] - gatling_max) <= gatling_max // 100 + 1, key
        assert _upper_bound_ok(row["p95 (upper bound)"], max(_stat(reqs, "percentiles3"))), key
        pooled_mean = sum(r.stats["meanResponseTime"]["total"] * r.total for r in reqs) / total
        assert abs(row["mean"] - pooled_mean) <= MEAN_TOLERANCE_MS, (key, row["mean"], pooled_mean)


CHECKS: dict[str, Callable[[Resolved, Series, int], None]] = {
    "Active users (sum over runners)": check_active_users,
    "Requests/s (sum over runners)": check_requests_rate,
    "Errors/s (KO, sum over runners)": check_rate("ko"),
    "Error ratio (KO / all)": check_error_ratio,
    "Error ratio over the time range": check_error_ratio_overall,
    "Response time percentiles (approximation: upper bound across runners)": check_percentiles,
    "Mean response time (weighted over runners)": check_mean,
    "Requests/s per request (sum over runners)": check_request_rate,
    "p95 per request (approximation: upper bound across runners)": check_request_p95,
    "Requests over the time range": check_request_table,
}


def test_variables_list_what_the_run_wrote(resolved: Resolved) -> None:
    run = resolved.run
    assert resolved.options["simulation"] == [SIMULATION_ID]
    assert resolved.options["runner"] == sorted(run.results)
    assert resolved.options["scenario"] == sorted({"browse", "checkout", ALL_USERS})
    assert resolved.options["request"] == sorted({key[1] for key in _per_request(run)})


def test_every_panel_has_a_consistency_check(resolved: Resolved) -> None:
    assert sorted(p["title"] for p in resolved.dashboard["panels"]) == sorted(CHECKS)


@pytest.mark.parametrize("title", sorted(CHECKS))
def test_panel_query_returns_gatlings_numbers(resolved: Resolved, title: str) -> None:
    panel = next(p for p in resolved.dashboard["panels"] if p["title"] == title)
    series: Series = []
    interval = 0
    for target in panel["targets"]:
        got, interval = resolved.run_target(panel, target)
        assert points(got), f"{title} / {target['refId']}: no data for {target['query']}"
        series.extend(got)
    CHECKS[title](resolved, series, interval)


def test_runner_and_request_selection_filter(resolved: Resolved) -> None:
    """One runner selected: that runner's numbers only. Two requests selected: only those."""
    run = resolved.run
    panel = next(p for p in resolved.dashboard["panels"] if p["title"] == "Requests/s (sum over runners)")
    for runner, results in run.results.items():
        series, interval = resolved.run_target(panel, panel["targets"][0], {"runner": [runner]})
        assert _counts_from_rate(series, interval) == results.all_requests.total
    both = sorted(run.results)
    series, interval = resolved.run_target(panel, panel["targets"][0], {"runner": both})
    assert _counts_from_rate(series, interval) == _totals(run).total

    table = next(p for p in resolved.dashboard["panels"] if p["title"] == "Requests over the time range")
    series, _ = resolved.run_target(table, table["targets"][0], {"request": ["pay", "search_page"]})
    assert {(s.get("tags") or {}).get("request") for s in series} == {"pay", "search_page"}
