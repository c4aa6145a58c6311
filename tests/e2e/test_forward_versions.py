"""Realtime metrics for current Gatling, proven with real runs of every supported 3.12+ version.

For each version: the runner image's layout built from hack/harness/gatling-project against that
Gatling, started by the image's own run.sh (flush agent, --add-opens, runner identity), two runners
at once, each with `loadtest-monitor forward` running beside it WHILE Gatling runs (as the sidecar
of manifests/examples/gatling-job-current.yaml does), all into one real influxd with the rendered
influxdb.conf. The numbers in InfluxDB are compared with Gatling's own report of each run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest_monitor.graphite import ALL_REQUESTS, ALL_USERS
from loadtest_monitor.spec.monitor import parse_spec
from ltm_harness.datapath import RAW_SPEC, RUNNERS
from ltm_harness.forwarded_run import SIDECAR_RUNNER, ForwardedRun, run_forwarded
from ltm_harness.gatling_run import SIMULATION_ID
from ltm_harness.http_target import TargetServer
from ltm_harness.runner_home import FORWARDER_VERSIONS, build_agent
from ltm_harness.tools import MissingTool
from tests.e2e.datapath_support import Resolved, count_sums, expected_counts, gatling_dashboard, points
from tests.e2e.grafana_interp import TimeRange, interpolate

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def flush_agent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_agent(tmp_path_factory.mktemp("agent"))


@pytest.fixture(scope="module", params=FORWARDER_VERSIONS)
def forwarded(
    request: pytest.FixtureRequest,
    e2e_tools: None,
    http_target: TargetServer,
    flush_agent: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ForwardedRun]:
    version = request.param
    try:
        run = run_forwarded(
            version, parse_spec(RAW_SPEC), http_target, tmp_path_factory.mktemp(f"fwd-{version}"), RUNNERS, flush_agent
        )
    except (RuntimeError, MissingTool) as exc:
        pytest.fail(f"Gatling {version}: {exc}", pytrace=False)
    yield run
    run.influxd.stop()


def test_request_and_error_counts_equal_gatlings_report_exactly(forwarded: ForwardedRun) -> None:
    sums = count_sums(forwarded)
    expected = expected_counts(forwarded)
    assert set(sums) == set(expected), {
        "only in InfluxDB": sorted(set(sums) - set(expected), key=str),
        "only in Gatling": sorted(set(expected) - set(sums), key=str),
    }
    wrong = {k: (sums[k], n) for k, n in expected.items() if sums[k] != n}
    assert not wrong, f"Gatling {forwarded.version}: (InfluxDB, report) counts differ: {wrong}"


def test_two_runners_stay_apart_and_sum_to_the_totals(forwarded: ForwardedRun) -> None:
    sums = count_sums(forwarded)
    per_runner = {
        runner: (sums[(runner, None, ALL_REQUESTS, "all")], sums[(runner, None, ALL_REQUESTS, "ko")])
        for runner in RUNNERS
    }
    for runner, results in forwarded.results.items():
        assert per_runner[runner] == (results.all_requests.total, results.all_requests.ko), runner
    # Different loads per runner: a series credited to the wrong runner would show here.
    assert per_runner["runner-a"] != per_runner["runner-b"]
    total = sum(n for n, _ in per_runner.values())
    errors = sum(k for _, k in per_runner.values())
    assert total > 100 and errors > 10
    # A third witness: what the HTTP target answered to both runners together.
    assert (total, errors) == (forwarded.target_total, forwarded.target_errors)


def test_groups_one_and_two_levels_deep(forwarded: ForwardedRun) -> None:
    sums = count_sums(forwarded)
    groups_by_request: dict[str, set[str | None]] = defaultdict(set)
    per_group: dict[tuple[str, str | None], int] = defaultdict(int)
    for (runner, group, request, status), n in sums.items():
        if request != ALL_REQUESTS:
            groups_by_request[request].add(group)
            if status == "all":
                per_group[(runner, group)] += n
    assert groups_by_request["item"] == {None, "shop", "shop.cart", "checkout"}
    assert groups_by_request["pay"] == {"shop.cart"}
    assert groups_by_request["flaky"] == {"shop"}
    # Per group: the requests of each group path add up to the report's.
    for runner, results in forwarded.results.items():
        want: dict[str | None, int] = defaultdict(int)
        for req in results.requests:
            want[req.graphite_group] += req.total
        got = {g: n for (r, g), n in per_group.items() if r == runner}
        assert got == dict(want), runner


def test_users_done_per_scenario(forwarded: ForwardedRun) -> None:
    rows = forwarded.influxd.rows(
        f'SELECT last("done") AS done FROM "users" WHERE {forwarded.time_filter} '
        'GROUP BY "runner", "simulation", "scenario"',
        forwarded.db,
    )
    got = {(r["runner"], r["scenario"]): r["done"] for r in rows}
    for runner, users in forwarded.expected_users.items():
        for scenario, n in users.items():
            assert got.get((runner, scenario)) == n, (runner, scenario, got)
    assert {r["simulation"] for r in rows} == {SIMULATION_ID}
    assert {(runner, ALL_USERS) for runner in RUNNERS} <= set(got)


def test_data_arrived_while_gatling_ran(forwarded: ForwardedRun) -> None:
    # Live, not after the fact: each runner's first request counts were queryable in InfluxDB
    # well before its Gatling process ended (the runs last ~10 s; the report takes ~1-2 s more).
    for runner in RUNNERS:
        seen = forwarded.first_data_seen.get(runner)
        assert seen is not None, f"{runner}: no data in InfluxDB while Gatling ran"
        lead = forwarded.gatling_exited[runner] - seen
        assert lead >= 4, f"{runner}: first data only {lead:.1f}s before Gatling ended"


def test_flush_agent_was_active_and_forwarders_ended_cleanly(forwarded: ForwardedRun) -> None:
    for runner in RUNNERS:
        console = forwarded.gatling_consoles[runner]
        assert f"run.sh: runner {runner}, Gatling {forwarded.version}" in console
        assert "[log-flush-agent] installed" in console
        assert "timed flushes" in console and "unknown shape" not in console and "disabled" not in console
        assert "error" not in forwarded.forwarder_logs[runner].lower(), forwarded.forwarder_logs[runner]


def test_every_dashboard_panel_query_returns_data(forwarded: ForwardedRun) -> None:
    # The unchanged dashboard, its variables and every panel query resolved as Grafana does.
    dashboard = gatling_dashboard(forwarded)
    time_range = TimeRange(int(forwarded.started - 5) * 1000, int(forwarded.finished + 5) * 1000)
    res = Resolved(forwarded, dashboard, time_range, {})
    for variable in dashboard["templating"]["list"]:
        query = interpolate(variable["query"], res.values({"simulation": [SIMULATION_ID]}), time_range, 5)
        res.options[variable["name"]] = sorted(
            str(v[-1]) for s in forwarded.influxd.series(query, forwarded.db) for v in s.get("values", [])
        )
    assert res.options["runner"] == sorted(RUNNERS)
    empty = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            series, _ = res.run_target(panel, target)
            if not points(series):
                empty.append(f"{panel['title']} / {target['refId']}")
    assert not empty, f"Gatling {forwarded.version}: panels without data: {empty}"


def test_sidecar_mode_waits_for_sigterm_and_ends_cleanly(forwarded: ForwardedRun) -> None:
    # --until-sigterm (the Job's sidecar): still running 3 s after Gatling exited, then SIGTERM
    # ends it with exit 0 (run_forwarded fails the run otherwise); its counts are checked above.
    assert forwarded.sidecar_alive_at_sigterm == {SIDECAR_RUNNER: True}
