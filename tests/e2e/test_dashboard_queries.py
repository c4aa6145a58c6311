"""Every query of the Gatling dashboard, resolved as Grafana would resolve it for the two-runner
run, executed against the real InfluxDB: non-empty, and consistent with Gatling's own numbers."""

from __future__ import annotations

import base64
import datetime as dt
import socket
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from loadtest_monitor.graphite import ALL_USERS
from loadtest_monitor.render.dashboard import build_gatling_dashboard
from loadtest_monitor.render.gatling import USERS_MEASUREMENT, requests_measurement
from loadtest_monitor.runs.annotate import mark_end, mark_start
from loadtest_monitor.spec.monitor import parse_spec
from ltm_harness.datapath import DataPathRun
from ltm_harness.gatling_run import SIMULATION_ID, RequestStats
from ltm_harness.influx_bootstrap import start_bootstrapped
from ltm_harness.influxd import Influxd
from ltm_harness.wait import wait_for
from tests.e2e.datapath_support import Resolved, gatling_dashboard, points
from tests.e2e.grafana_interp import ALL, TimeRange, format_value, interpolate

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


# --- test runs: the annotation query and the run filter, on points the operator would write ----


RUN_SIM = "RunSim"
#: runner -> responses per Gatling window; "adhoc-0" belongs to no run (a Job started by hand).
RUN_COUNTS = {"smoke-0": 5, "smoke-1": 7, "soak-0": 11, "adhoc-0": 13}
RUN_RUNNERS = {"smoke": ("smoke-0", "smoke-1"), "soak": ("soak-0",)}
WINDOWS = 3


@dataclass
class RunsFixture:
    influxd: Influxd
    db: str
    dashboard: dict[str, Any]
    t0: int  # epoch seconds, a multiple of 10
    start: dict[str, int]
    end: dict[str, int]

    def resolve(self, run: str, time_range: TimeRange) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Every variable as Grafana resolves it, in order, with `run` selected ("$__all": All)."""
        selection = {"simulation": [RUN_SIM], "run": [run]}
        values: dict[str, str] = {}
        options: dict[str, list[str]] = {}
        for variable in self.dashboard["templating"]["list"]:
            query = interpolate(variable["query"], values, time_range, 5)
            found = self.influxd.series(query, self.db)
            options[variable["name"]] = sorted({str(v[-1]) for s in found for v in s.get("values", [])})
            values[variable["name"]] = format_value(
                variable, selection.get(variable["name"], [ALL]), options[variable["name"]]
            )
        return values, options

    def run_query(self, query: str, run: str, time_range: TimeRange, interval: int = 5) -> Series:
        values, _ = self.resolve(run, time_range)
        return self.influxd.series(interpolate(query, values, time_range, interval), self.db)


@dataclass
class HttpWriter:
    """What InfluxClient.write_lines (runs/influx.py) sends: line protocol over HTTP /write, as the admin."""

    server: Influxd

    def write_lines(self, database: str, lines: Sequence[str]) -> None:
        body = "\n".join(lines).encode()
        req = urllib.request.Request(f"{self.server.url}/write?db={database}", data=body, method="POST")
        assert self.server.auth is not None
        req.add_header("Authorization", "Basic " + base64.b64encode(":".join(self.server.auth).encode()).decode())
        with urllib.request.urlopen(req, timeout=30) as response:
            assert response.status == 204


@pytest.fixture(scope="module")
def runs_db(influxd_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunsFixture]:
    spec = parse_spec({})
    server, _ = start_bootstrapped(spec, tmp_path_factory.mktemp("runs"), binary=influxd_binary)
    try:
        t0 = int(time.time()) // 10 * 10 - 900
        # smoke runs from t0 to t0+60, soak from t0+300 to t0+360, adhoc-0 writes during smoke.
        start = {"smoke": t0, "soak": t0 + 300}
        end = {"smoke": t0 + 60, "soak": t0 + 360}
        offsets = {"smoke-0": 0, "smoke-1": 0, "adhoc-0": 0, "soak-0": 300}
        prefix = spec.gatling.root_path_prefix
        graphite = []
        for runner, count in RUN_COUNTS.items():
            for window in range(WINDOWS):
                ts = t0 + offsets[runner] + 10 + 10 * window
                graphite.append(f"{prefix}.{runner}.{RUN_SIM}.users.{ALL_USERS}.active 2 {ts}")
                graphite.append(f"{prefix}.{runner}.{RUN_SIM}.allRequests.all.count {count} {ts}")
                graphite.append(f"{prefix}.{runner}.{RUN_SIM}.allRequests.ok.count {count} {ts}")
        with socket.create_connection(("127.0.0.1", server.ports.graphite), timeout=10) as conn:
            conn.sendall(("\n".join(graphite) + "\n").encode())
        measurement = requests_measurement(spec.gatling)
        wait_for(
            lambda: len(server.rows(f'SELECT "count" FROM "{measurement}" WHERE "status" = \'all\'',
                                    spec.influxdb.database)) == WINDOWS * len(RUN_COUNTS),
            30, "the Graphite points in InfluxDB",
        )

        def at(seconds: int) -> dt.datetime:
            return dt.datetime.fromtimestamp(seconds, dt.UTC)

        # The calls the run controller makes, through a writer that does what InfluxClient does.
        writer, db, run_of = HttpWriter(server), spec.influxdb.database, {"namespace": "perf", "monitor": "checkout"}
        for run, runners in RUN_RUNNERS.items():
            assert mark_start(writer, db, **run_of, run=run, at=at(start[run]), runners=runners) is None
        assert mark_end(writer, db, **run_of, run="smoke", at=at(end["smoke"]), verdict="Failed",
                        reason="CriteriaFailed", message='p95 of "checkout" 612 ms > 500 ms',
                        runners=RUN_RUNNERS["smoke"], start=at(start["smoke"])) is None
        assert mark_end(writer, db, **run_of, run="soak", at=at(end["soak"]), verdict="Passed",
                        reason="CriteriaMet", runners=RUN_RUNNERS["soak"], start=at(start["soak"])) is None
        dashboard = build_gatling_dashboard(requests_measurement=measurement, users_measurement=USERS_MEASUREMENT,
                                            write_period=spec.gatling.write_period)
        yield RunsFixture(server, spec.influxdb.database, dashboard, t0, start, end)
    finally:
        server.stop()


def _whole(runs: RunsFixture) -> TimeRange:
    return TimeRange((runs.t0 - 60) * 1000, (runs.t0 + 600) * 1000)


def test_run_variable_lists_the_runs_and_narrows_the_runners(runs_db: RunsFixture) -> None:
    _, options = runs_db.resolve("smoke", _whole(runs_db))
    assert options["run"] == ["smoke", "soak"]
    assert options["run_runner"] == ["smoke-0", "smoke-1"]
    assert options["runner"] == ["smoke-0", "smoke-1"]
    _, options = runs_db.resolve(ALL, _whole(runs_db))
    # All hides nothing: the runner of no run is still there.
    assert options["run_runner"] == sorted(RUN_COUNTS)
    assert options["runner"] == sorted(RUN_COUNTS)


@pytest.mark.parametrize(
    ("run", "runners", "peak_users"),
    [
        ("smoke", RUN_RUNNERS["smoke"], 4),  # 2 users on each of its runners
        ("soak", RUN_RUNNERS["soak"], 2),
        (ALL, tuple(RUN_COUNTS), 6),  # smoke's two runners and adhoc-0 at the same time
    ],
)
def test_run_filter_keeps_only_the_runs_runners(
    runs_db: RunsFixture, run: str, runners: tuple[str, ...], peak_users: int
) -> None:
    panel = next(p for p in runs_db.dashboard["panels"] if p["title"] == "Requests/s (sum over runners)")
    interval = 10
    series = runs_db.run_query(panel["targets"][0]["query"], run, _whole(runs_db), interval)
    assert _counts_from_rate(series, interval) == WINDOWS * sum(RUN_COUNTS[r] for r in runners)
    users = next(p for p in runs_db.dashboard["panels"] if p["title"].startswith("Active users"))
    series = runs_db.run_query(users["targets"][0]["query"], run, _whole(runs_db), interval)
    assert max(points(series)) == peak_users


def _annotations(runs: RunsFixture, run: str, time_range: TimeRange) -> list[dict[str, Any]]:
    query = runs.dashboard["annotations"]["list"][0]["query"]
    out = []
    for s in runs.run_query(query, run, time_range):
        for values in s["values"]:
            out.append(dict(zip(s["columns"], values, strict=True)))
    return sorted(out, key=lambda row: (row["time"], row["event"]))


def test_annotation_query_returns_the_runs_start_and_end_with_its_verdict(runs_db: RunsFixture) -> None:
    rows = _annotations(runs_db, "smoke", _whole(runs_db))
    assert [(r["time"], r["run"], r["event"], r["verdict"]) for r in rows] == [
        (runs_db.start["smoke"], "smoke", "start", None),
        (runs_db.end["smoke"], "smoke", "end", "Failed"),
    ]
    start, end = rows
    assert start["title"] == "smoke started"
    assert start["text"] == "perf/smoke started with 2 runner(s): smoke-0, smoke-1"
    assert start["end_ms"] == runs_db.end["smoke"] * 1000  # the region Grafana draws over the run
    assert end["title"] == "smoke Failed"
    assert end["text"] == 'Failed: CriteriaFailed: p95 of "checkout" 612 ms > 500 ms'
    assert end["end_ms"] is None

    every = _annotations(runs_db, ALL, _whole(runs_db))
    assert [(r["run"], r["event"]) for r in every] == [
        ("smoke", "start"), ("smoke", "end"), ("soak", "start"), ("soak", "end")
    ]
    # The dashboard's time range bounds them: only soak's events around its time.
    around_soak = TimeRange((runs_db.start["soak"] - 30) * 1000, (runs_db.end["soak"] + 30) * 1000)
    assert [(r["run"], r["event"], r["verdict"]) for r in _annotations(runs_db, ALL, around_soak)] == [
        ("soak", "start", None), ("soak", "end", "Passed")
    ]
