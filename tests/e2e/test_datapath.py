"""The realtime data path, proven with real software: Gatling 3.11 -> Graphite (TCP) -> InfluxDB 1.x.

Two Gatling processes run at once with the rendered gatling.conf (runner identity from
GATLING_RUNNER); InfluxDB runs with the rendered influxdb.conf and its Graphite templates. The
numbers in InfluxDB are compared with Gatling's own results (its stats.json for the run) and with
what the HTTP target itself answered.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from loadtest_monitor.graphite import ALL_REQUESTS, ALL_USERS
from loadtest_monitor.render.gatling import requests_measurement
from ltm_harness.datapath import DataPathRun
from ltm_harness.gatling_run import SIMULATION_ID
from tests.e2e.datapath_support import count_sums, expected_counts, request_rows, tag_of

pytestmark = pytest.mark.e2e

STATUSES = ("ok", "ko", "all")
METRIC_FIELDS = (
    "count", "min", "max", "mean", "stdDev", "percentiles50", "percentiles75", "percentiles95", "percentiles99",
)
USER_FIELDS = ("active", "waiting", "done")


def test_graphite_listener_parsed_and_wrote_every_line(two_runner_run: DataPathRun) -> None:
    stats = two_runner_run.influxd.graphite_stats()["tcp"]
    assert stats["pointsRx"] > 0
    assert stats["pointsParseFail"] == 0, stats
    assert stats["pointsNaNFail"] == 0, stats
    assert stats["batchesTxFail"] == 0, stats
    assert stats["pointsTx"] == stats["pointsRx"], stats
    # The same counters as stored by InfluxDB's own monitor, once it has written them (every 10 s).
    internal = two_runner_run.influxd.rows(
        'SELECT max("pointsParseFail") AS parse_fail, max("batchesTxFail") AS tx_fail '
        'FROM "_internal"."monitor"."graphite"'
    ) if _has_internal_graphite(two_runner_run) else []
    for row in internal:
        assert (row["parse_fail"], row["tx_fail"]) == (0, 0), row


def _has_internal_graphite(run: DataPathRun) -> bool:
    dbs = {v[0] for s in run.influxd.series("SHOW DATABASES") for v in s.get("values", [])}
    if "_internal" not in dbs:
        return False
    names = {v[0] for s in run.influxd.series("SHOW MEASUREMENTS ON \"_internal\"") for v in s.get("values", [])}
    return "graphite" in names


def test_every_request_has_ok_ko_all_series_with_every_metric(two_runner_run: DataPathRun) -> None:
    selects = ", ".join(f'count("{f}") AS "{f}"' for f in METRIC_FIELDS)
    present = {
        (row["runner"], tag_of(row, "group"), row["request"], row["status"]): row
        for row in request_rows(two_runner_run, selects)
    }
    expected = expected_counts(two_runner_run)
    for key, n in expected.items():
        assert key in present, f"no series for {key} in InfluxDB"
        row = present[key]
        # A status with responses in a window sends every metric; one without sends only count 0.
        missing = [f for f in METRIC_FIELDS if not row[f]] if n > 0 else ([] if row["count"] else ["count"])
        assert not missing, f"{key}: no points for fields {missing}"


def test_request_and_error_counts_equal_gatlings_own_exactly(two_runner_run: DataPathRun) -> None:
    sums = count_sums(two_runner_run)
    expected = expected_counts(two_runner_run)
    # Nothing mis-assigned: the very same set of (runner, group, request, status) series, no extra
    # ones (a wrong template would invent groups or requests), and every count equal.
    assert set(sums) == set(expected), {
        "only in InfluxDB": sorted(set(sums) - set(expected), key=str),
        "only in Gatling": sorted(set(expected) - set(sums), key=str),
    }
    wrong = {k: (sums[k], n) for k, n in expected.items() if sums[k] != n}
    assert not wrong, f"(InfluxDB, Gatling) counts differ: {wrong}"


def test_totals_agree_with_gatling_and_with_the_http_target(two_runner_run: DataPathRun) -> None:
    sums = count_sums(two_runner_run)
    total_influx = sum(n for (_, _, req, status), n in sums.items() if req == ALL_REQUESTS and status == "all")
    errors_influx = sum(n for (_, _, req, status), n in sums.items() if req == ALL_REQUESTS and status == "ko")
    total_gatling = sum(r.all_requests.total for r in two_runner_run.results.values())
    errors_gatling = sum(r.all_requests.ko for r in two_runner_run.results.values())
    assert total_gatling > 100 and errors_gatling > 10
    assert (total_influx, errors_influx) == (total_gatling, errors_gatling)
    # A third witness: what the target answered (every non-2xx answer is a KO for Gatling here).
    assert (two_runner_run.target_total, two_runner_run.target_errors) == (total_gatling, errors_gatling)
    # allRequests equals the sum of the per-request series, per runner and status.
    per_request: dict[tuple[str, str], int] = defaultdict(int)
    for (runner, _, req, status), n in sums.items():
        if req != ALL_REQUESTS:
            per_request[(runner, status)] += n
    for (runner, _, req, status), n in sums.items():
        if req == ALL_REQUESTS:
            assert per_request[(runner, status)] == n, (runner, status)


def test_grouped_requests_land_with_their_group_and_name(two_runner_run: DataPathRun) -> None:
    sums = count_sums(two_runner_run)
    groups_by_request: dict[str, set[str | None]] = defaultdict(set)
    for (_, group, request, _), _n in sums.items():
        groups_by_request[request].add(group)
    # The same name "item" outside groups, in a 1-level group and in a 2-level group: all apart.
    assert groups_by_request["item"] == {None, "shop", "shop.cart", "checkout"}
    assert groups_by_request["pay"] == {"shop.cart"}
    assert groups_by_request["flaky"] == {"shop"}
    assert groups_by_request["confirm"] == {"checkout"}
    assert groups_by_request["broken"] == {None}
    assert groups_by_request["search_page"] == {None}  # Gatling's sanitising: space -> "_"
    # Requests that always fail (pay in shop.cart) vs never fail (item in shop.cart): no mixing.
    for runner, results in two_runner_run.results.items():
        by_key = results.by_key()
        pay, item = by_key[("shop.cart", "pay")], by_key[("shop.cart", "item")]
        assert sums[(runner, "shop.cart", "pay", "ko")] == pay.total > 0
        assert sums[(runner, "shop.cart", "item", "ko")] == 0
        assert sums[(runner, "shop.cart", "item", "ok")] == item.total > 0


def test_max_response_time_matches_gatling(two_runner_run: DataPathRun) -> None:
    """The largest per-window max is the run's max (HdrHistogram with 2 digits: exact below 256 ms)."""
    rows = request_rows(two_runner_run, 'max("max") AS mx')
    got = {(r["runner"], tag_of(r, "group"), r["request"], r["status"]): r["mx"] for r in rows}
    for runner, results in two_runner_run.results.items():
        for req in results.requests:
            want = int(req.stats["maxResponseTime"]["total"])
            have = got[(runner, req.graphite_group, req.graphite_request, "all")]
            tolerance = 0 if want < 256 else want // 100 + 1
            assert abs(have - max(want, 1)) <= tolerance, (runner, req.groups, req.name, have, want)


def test_users_per_scenario_and_all_users(two_runner_run: DataPathRun) -> None:
    rows = two_runner_run.influxd.rows(
        'SELECT last("done") AS done, last("active") AS active_end, last("waiting") AS waiting_end, '
        'max("active") AS active_max '
        f'FROM "users" WHERE {two_runner_run.time_filter} GROUP BY "runner", "simulation", "scenario"',
        two_runner_run.db,
    )
    got = {(r["runner"], r["scenario"]): r for r in rows}
    expected_keys = {
        (runner, scenario) for runner, users in two_runner_run.expected_users.items() for scenario in users
    }
    assert set(got) == expected_keys
    assert {(runner, ALL_USERS) for runner in two_runner_run.results} <= set(got)
    for (runner, scenario), row in got.items():
        assert row["simulation"] == SIMULATION_ID
        assert row["done"] == two_runner_run.expected_users[runner][scenario], (runner, scenario, row)
        # Gatling counts a user as active in every window it was alive in, so the last window can
        # still show the users that ended in it: only waiting must be back to 0.
        assert row["waiting_end"] == 0, row
        assert row["active_end"] <= row["done"], row
        assert row["active_max"] >= 1, row
    fields = {
        v[0] for s in two_runner_run.influxd.series('SHOW FIELD KEYS FROM "users"', two_runner_run.db)
        for v in s["values"]
    }
    assert fields == set(USER_FIELDS)


def test_two_runners_write_the_same_seconds_without_overwriting(two_runner_run: DataPathRun) -> None:
    run = two_runner_run
    runners = {
        v[1] for s in run.influxd.series('SHOW TAG VALUES FROM "users" WITH KEY = "runner"', run.db)
        for v in s["values"]
    }
    assert runners == set(run.results)
    # They really ran at once: many seconds hold points of both runners for the same series names.
    rows = run.influxd.rows(
        f'SELECT "count" FROM "{requests_measurement(run.spec.gatling)}" WHERE {run.time_filter} '
        f"AND \"request\" = '{ALL_REQUESTS}' AND \"status\" = 'all' GROUP BY \"runner\"",
        run.db,
    )
    seconds: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        if row["count"]:
            seconds[row["runner"]].add(row["time"])
    shared = set.intersection(*seconds.values())
    # Each runner has about 6 non-empty windows and the second starts a moment later on a busy
    # machine; 3 shared seconds already prove simultaneous writes of the same series.
    assert len(shared) >= 3, seconds
    # Sums over runners equal the totals (each runner's equals its own Gatling count, see above).
    total = sum(row["count"] for row in rows)
    assert total == sum(r.all_requests.total for r in run.results.values())


def _oracle(run: DataPathRun, runner: str) -> dict[tuple[str, str | None, str, str, int], dict[str, int]]:
    """What InfluxDB must hold for a runner, derived from Gatling's own payload log, independently
    of the templates: Gatling's path layout, one point per series and second, the later write wins.
    Keys: (kind, group, name, status, epoch) with kind "users" (name = scenario) or "request"."""
    root = f"{run.spec.gatling.root_path_prefix}.{runner}.{SIMULATION_ID}."
    points: dict[tuple[str, str | None, str, str, int], dict[str, int]] = {}
    for window in run.emitted(runner):
        for path, value in window.lines:
            assert path.startswith(root), path
            segments = path[len(root):].split(".")
            key: tuple[str, str | None, str, str, int]
            if segments[0] == "users":
                key = ("users", None, segments[1], "", window.epoch)
            else:
                *groups, request, status, _ = segments
                key = ("request", ".".join(groups) or None, request, status, window.epoch)
            points.setdefault(key, {})[segments[-1]] = value
    return points


def test_influxdb_holds_every_point_gatling_emitted(two_runner_run: DataPathRun) -> None:
    """Every value of every line Gatling sent is in InfluxDB under the right tags and field."""
    run = two_runner_run
    measurement = requests_measurement(run.spec.gatling)
    stored: dict[tuple[str, str | None, str, str, int], dict[str, int]] = {}
    for runner in run.results:
        for row in run.influxd.rows(
            f"SELECT * FROM \"{measurement}\" WHERE {run.time_filter} AND \"runner\" = '{runner}'", run.db
        ):
            key = ("request", row.get("group"), row["request"], row["status"], row["time"])
            stored[key] = {f: row[f] for f in METRIC_FIELDS if row.get(f) is not None}
        for row in run.influxd.rows(
            f"SELECT * FROM \"users\" WHERE {run.time_filter} AND \"runner\" = '{runner}'", run.db
        ):
            stored[("users", None, row["scenario"], "", row["time"])] = {f: row[f] for f in USER_FIELDS}
        expected = _oracle(run, runner)
        got = {k: v for k, v in stored.items() if k in expected}
        missing = sorted(set(expected) - set(stored), key=str)[:10]
        assert not missing, f"{runner}: points emitted by Gatling but not in InfluxDB: {missing}"
        wrong = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
        assert not wrong, f"{runner}: (InfluxDB, Gatling payload) differ: {dict(list(wrong.items())[:10])}"
        stored.clear()


def test_udp_runner_counts_are_exact(udp_run: DataPathRun) -> None:
    """Over UDP each flush is one datagram; at this size (well under 64 KiB) nothing is lost."""
    run = udp_run
    (runner, results), = run.results.items()
    stats = run.influxd.graphite_stats()["udp"]
    windows = run.emitted(runner)
    lines = sum(len(w.lines) for w in windows)
    assert stats["pointsTx"] == lines, stats
    # InfluxDB's UDP listener counts the empty string after a datagram's final newline as a point.
    assert stats["pointsRx"] == lines + len(windows), stats
    assert stats["pointsParseFail"] == 0 and stats["batchesTxFail"] == 0, stats
    largest = max(sum(len(f"{p} {v} {w.epoch}\n") for p, v in w.lines) for w in windows)
    assert largest < 65_507, "a payload larger than one UDP datagram can carry would be dropped whole"
    measurement = requests_measurement(run.spec.gatling)
    rows = run.influxd.rows(
        f'SELECT sum("count") AS n FROM "{measurement}" WHERE {run.time_filter} '
        'GROUP BY "group", "request", "status"',
        run.db,
    )
    got = {(tag_of(r, "group"), r["request"], r["status"]): int(r["n"]) for r in rows}
    assert got[(None, ALL_REQUESTS, "all")] == results.all_requests.total
    assert got[(None, ALL_REQUESTS, "ko")] == results.all_requests.ko
    for req in results.requests:
        key = (req.graphite_group, req.graphite_request)
        assert (got[(*key, "ok")], got[(*key, "ko")], got[(*key, "all")]) == (req.ok, req.ko, req.total), key
