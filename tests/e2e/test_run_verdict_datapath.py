"""A LoadtestRun's verdict data path, end to end, with real parts only (issue 16, part A).

One real influxd, started as the monitor's pod starts it (the rendered influxdb.conf and its
Graphite templates, HTTP authentication on). For Gatling 3.15.1 and 3.11.5: three runners with
different names run the runner image's run.sh at once (different loads), each with the real
`loadtest-monitor forward` beside it in its default mode (3.15.1: live windows + the whole-run
summary; 3.11.5: Gatling's own Graphite writer sends the live lines, the forwarder only the
summary). Then the operator's side: `collect` reads the summaries back through InfluxClient, and
`compute` + `judge` make the results and the verdict.

Checked against what Gatling itself produced: request counts per request and status equal the
sum of the three runners' own reports EXACTLY; min, max, mean and percentiles equal those of the
merged raw response times of the three simulation.logs under HdrHistogram's bucket rules
(tests/hdr_reference.py, not the product's histogram code).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadtest_monitor.forward.logformat import choose_decoder
from loadtest_monitor.forward.records import RequestRecord, UserRecord
from loadtest_monitor.render.gatling import SUMMARY_MEASUREMENT, render_gatling_conf, requests_measurement
from loadtest_monitor.runs.influx import InfluxClient, InfluxError, any_tag_equals
from loadtest_monitor.runs.model import Criterion, Metric, Outcome, RunnerData, RunnerOutcome, RunResults
from loadtest_monitor.runs.results import collect, freshness, silent_runners
from loadtest_monitor.runs.stats import compute
from loadtest_monitor.runs.verdict import judge
from loadtest_monitor.spec.monitor import MonitorSpec, parse_spec
from ltm_harness.datapath import RAW_SPEC
from ltm_harness.forwarder import Forwarder
from ltm_harness.gatling_binary_log import BinaryLog
from ltm_harness.gatling_report import load_report
from ltm_harness.gatling_run import GatlingResults, sanitize
from ltm_harness.http_target import TargetServer
from ltm_harness.influx_bootstrap import Credentials, start_influxd
from ltm_harness.influxd import Influxd
from ltm_harness.runner_home import RunnerProcess, build_runner_home
from ltm_harness.tools import MissingTool
from tests import hdr_reference
from tests.unit.forward_support import binary_log_started_at, real_log, report_totals, text_log_started_at

pytestmark = pytest.mark.e2e

VERSIONS = ("3.15.1", "3.11.5")
# Three loads, so that a runner's data counted twice or not at all changes the totals.
LOADS = (
    {"e2e.browseUsers": "4", "e2e.loops": "6", "e2e.checkoutRate": "2", "e2e.checkoutSeconds": "4"},
    {"e2e.browseUsers": "3", "e2e.loops": "5", "e2e.checkoutRate": "1", "e2e.checkoutSeconds": "5"},
    {"e2e.browseUsers": "2", "e2e.loops": "4", "e2e.checkoutRate": "1", "e2e.checkoutSeconds": "3"},
)
SPEC: MonitorSpec = parse_spec(RAW_SPEC)


@dataclass
class VersionRun:
    version: str
    influxd: Influxd
    client: InfluxClient
    runners: tuple[str, ...]
    since_ms: int
    reports: dict[str, GatlingResults]
    logs: dict[str, Path]
    forwarder_logs: dict[str, str]
    seconds: float  # wall time of the three runs, forwarders included

    @property
    def db(self) -> str:
        return SPEC.influxdb.database


@pytest.fixture(scope="module")
def influxd(e2e_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    server = start_influxd(SPEC, tmp_path_factory.mktemp("verdict-influxd"))
    yield server
    server.stop()


@pytest.fixture(scope="module", params=VERSIONS)
def run(
    request: pytest.FixtureRequest,
    influxd: Influxd,
    http_target: TargetServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> VersionRun:
    version: str = request.param
    workdir = tmp_path_factory.mktemp(f"verdict-{version}")
    conf = render_gatling_conf(SPEC, graphite_host="127.0.0.1", graphite_port=influxd.ports.graphite)
    runners = tuple(f"v{version.replace('.', '')}-runner-{i}" for i in range(len(LOADS)))
    forwarders: list[Forwarder] = []
    gatlings: list[RunnerProcess] = []
    try:
        home = build_runner_home(workdir / "runner", version, conf, agent_jar=None)
        since_ms = int(time.time() * 1000)
        started = time.monotonic()
        for runner, load in zip(runners, LOADS, strict=True):
            results = workdir / f"results-{runner}"
            results.mkdir()
            forwarders.append(Forwarder(home.conf, results, runner).start())
            gatlings.append(RunnerProcess(home, runner, {"target.baseUrl": http_target.base_url, **load}, results))
        for g in gatlings:
            g.start()
        run_dirs = {g.runner: g.wait() for g in gatlings}
        codes = {f.runner: f.wait() for f in forwarders}  # each ends by itself once the report is written
        seconds = time.monotonic() - started
        assert codes == dict.fromkeys(runners, 0), {f.runner: f.tail() for f in forwarders}
        influxd.wait_quiet(lambda: influxd.graphite_stats().get("tcp", {}).get("pointsTx", 0))
    except (RuntimeError, MissingTool) as exc:
        pytest.fail(f"Gatling {version}: {exc}", pytrace=False)
    finally:
        for f in forwarders:
            f.stop()
        for g in gatlings:
            g.stop()
    return VersionRun(
        version=version,
        influxd=influxd,
        # Reading results needs no more than the read-only user the monitor generates for Grafana.
        client=InfluxClient(influxd.url, *Credentials().reader),
        runners=runners,
        since_ms=since_ms,
        reports={r: load_report(d, r) for r, d in run_dirs.items()},
        logs={r: d / "simulation.log" for r, d in run_dirs.items()},
        forwarder_logs={f.runner: f.log.read_text(errors="replace") for f in forwarders},
        seconds=seconds,
    )


def _results(run: VersionRun) -> RunResults:
    data = collect(run.client, run.db, run.runners, run.since_ms)
    assert [(d.runner, d.found) for d in data] == [(r, True) for r in run.runners]
    return compute(data)


def _raw_times(run: VersionRun) -> tuple[dict[str, list[int]], tuple[int, int]]:
    """Response times per request name (groups / name, Gatling's segment mapping) from the three
    simulation.logs, and the earliest start and latest end of the runs (epoch ms)."""
    times: dict[str, list[int]] = defaultdict(list)
    starts, ends = [], []
    for path in run.logs.values():
        data = path.read_bytes()
        decoder = choose_decoder(data)
        assert decoder is not None
        records = decoder.feed(data)
        assert decoder.header is not None
        start = decoder.header.start_ms
        last = 0
        for r in records:
            if isinstance(r, RequestRecord):
                name = " / ".join(sanitize(part) for part in (*r.groups, r.name))
                times[name].append(max(r.end - r.start, 1))
                last = max(last, r.end)
            elif isinstance(r, UserRecord):
                last = max(last, r.time)
        starts.append(start)
        ends.append(start + last)
    return times, (min(starts), max(ends))


def test_totals_equal_the_sum_of_the_runners_own_reports_exactly(run: VersionRun) -> None:
    results = _results(run)
    want: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for report in run.reports.values():
        for req in report.requests:
            name = " / ".join(sanitize(part) for part in (*req.groups, req.name))
            want[name][0] += req.ok
            want[name][1] += req.ko
    got = {r.name: [r.ok, r.ko] for r in results.requests}
    assert got == dict(want), run.version
    total_ok = sum(r.all_requests.ok for r in run.reports.values())
    total_ko = sum(r.all_requests.ko for r in run.reports.values())
    assert (results.total.ok, results.total.ko) == (total_ok, total_ko)
    assert results.total.count > 150 and results.total.ko > 10
    assert results.total.error_ratio == total_ko / (total_ok + total_ko)
    assert results.runners == tuple(sorted(run.runners))


def test_percentiles_equal_those_of_the_merged_raw_times(run: VersionRun) -> None:
    results = _results(run)
    times, (first, last) = _raw_times(run)
    everything = [t for ts in times.values() for t in ts]
    rows = [(results.total, everything)] + [(r, times[r.name]) for r in results.requests]
    for stats, raw in rows:
        expected = (
            len(raw), hdr_reference.minimum(raw), hdr_reference.maximum(raw),
            hdr_reference.percentile(raw, 50), hdr_reference.percentile(raw, 75),
            hdr_reference.percentile(raw, 95), hdr_reference.percentile(raw, 99),
        )
        got = (stats.count, stats.min_ms, stats.max_ms, stats.p50_ms, stats.p75_ms, stats.p95_ms, stats.p99_ms)
        assert got == expected, (run.version, stats.name)
        assert stats.mean_ms == pytest.approx(hdr_reference.mean(raw), rel=1e-9), stats.name
    # Throughput over the whole run: earliest start to latest end of the three runners.
    assert results.duration_s == (last - first) / 1000
    assert results.total.throughput_rps == pytest.approx(len(everything) / ((last - first) / 1000))


def test_the_verdict_over_all_runners(run: VersionRun) -> None:
    results = _results(run)
    data = collect(run.client, run.db, run.runners, run.since_ms)
    done = {r: RunnerOutcome(started=True, exit_code=0) for r in run.runners}
    loose = [Criterion(Metric.P95, max_value=results.total.p95_ms), Criterion(Metric.ERROR_RATIO, max_value=0.9)]
    passed = judge(run.runners, data, done, results, loose, {})
    assert passed.outcome == Outcome.PASSED, passed.message
    tight = [Criterion(Metric.ERROR_RATIO, max_value=0.0)]  # the simulation's `flaky` request fails on purpose
    failed = judge(run.runners, data, done, results, tight, {})
    assert (failed.outcome, failed.reason) == (Outcome.FAILED, "CriteriaFailed")
    # A fourth runner that was expected but never reported: no verdict on part of the run.
    missing = "v-runner-never-seen"
    data4 = collect(run.client, run.db, (*run.runners, missing), run.since_ms)
    partial = judge((*run.runners, missing), data4, {**done, missing: RunnerOutcome(True, 0)}, results, loose, {})
    assert (partial.outcome, partial.reason) == (Outcome.FAILED, "NoData") and missing in partial.message


def test_the_forwarder_sent_live_lines_only_where_gatling_does_not(run: VersionRun) -> None:
    live_rows = run.influxd.rows(
        f'SELECT sum("count") AS n FROM "{requests_measurement(SPEC.gatling)}" WHERE "request" = \'allRequests\' '
        f"AND \"status\" = 'all' AND time >= {run.since_ms}ms GROUP BY \"runner\"",
        run.db,
    )
    assert {r["runner"] for r in live_rows if r["n"]} == set(run.runners)  # live data from every runner
    for runner, text in run.forwarder_logs.items():
        if run.version == "3.11.5":  # Gatling's own writer sent those: the forwarder must not repeat them
            assert "only the whole-run summary" in text and "records, 0 windows sent" in text, text
        else:
            assert "records, 0 windows sent" not in text, text
        assert "whole-run summary of" in text, (runner, text)


def test_every_runner_is_fresh_right_after_its_run(run: VersionRun) -> None:
    ages = freshness(run.client, run.db, run.runners)
    assert set(ages) == set(run.runners)
    assert all(age is not None and age < 60 for age in ages.values()), ages
    assert silent_runners(ages) == []
    assert silent_runners({**ages, run.runners[0]: 61.0}) == [run.runners[0]]
    assert freshness(run.client, run.db, ["nobody"]) == {"nobody": None}


def test_summary_cardinality_is_one_series_per_runner_request_and_status(run: VersionRun) -> None:
    results = _results(run)
    rows = run.influxd.series(
        f'SHOW SERIES FROM "{SUMMARY_MEASUREMENT}" WHERE "runner" =~ /^v{run.version.replace(".", "")}-/',
        run.db,
    )
    keys = [v[0] for s in rows for v in s.get("values", [])]
    pairs = sum((r.ok > 0) + (r.ko > 0) for r in results.requests)
    assert len(keys) <= len(run.runners) * pairs
    assert len(keys) >= pairs
    stats = run.influxd.graphite_stats().get("tcp", {})
    assert stats.get("pointsParseFail", 0) == 0 and stats.get("batchesTxFail", 0) == 0


def test_hostile_runner_names_are_data_not_influxql(run: VersionRun) -> None:
    hostile = ["x' OR 'a'='a", 'we"ird\\', "a\nb", "/.*/", run.runners[0] + "' OR '1'='1"]
    data = collect(run.client, run.db, hostile, 0)
    assert [(d.runner, d.found) for d in data] == [(h, False) for h in hostile]
    # The quoting itself, against InfluxDB's parser: hostile values match nothing and break nothing.
    q = f'SELECT * FROM "{SUMMARY_MEASUREMENT}" WHERE '
    assert run.client.query(run.db, q + any_tag_equals("runner", hostile)) == []
    assert run.client.query(run.db, q + any_tag_equals("runner", [run.runners[0]]))
    with pytest.raises(InfluxError, match="error parsing query"):
        run.client.query(run.db, "SELEC nothing")


def test_e2e_duration_is_reported(run: VersionRun, record_property: Callable[[str, object], None]) -> None:
    # Three runners at once plus their forwarders; printed with -rP, recorded for the junit report.
    record_property(f"runs_seconds_{run.version}", round(run.seconds, 1))
    print(f"Gatling {run.version}: three runners and their forwarders took {run.seconds:.1f} s")
    assert run.seconds < 300


@pytest.mark.parametrize("version", ["3.12.0", "3.15.1"])
def test_a_summary_sent_over_udp_arrives_whole(influxd: Influxd, tmp_path: Path, version: str) -> None:
    # A finished run's log (tests/unit/data/forward, moved to now so the retention keeps it),
    # forwarded once over UDP with live lines off: the summary alone, in datagrams of whole lines.
    spec = parse_spec({**RAW_SPEC, "graphite": {"protocol": "udp"}})
    conf = tmp_path / "gatling.conf"
    conf.write_text(render_gatling_conf(spec, graphite_host="127.0.0.1", graphite_port=influxd.ports.graphite))
    since_ms = int(time.time() * 1000) - 60_000
    moved = text_log_started_at if version == "3.12.0" else binary_log_started_at
    folder = tmp_path / "results" / str(report_totals(version)["runFolder"])
    folder.mkdir(parents=True)
    (folder / "simulation.log").write_bytes(moved(real_log(version), since_ms + 1000))
    runner = f"udp-{version.replace('.', '')}"
    forwarder = Forwarder(conf, tmp_path / "results", runner, ("--once", "--live", "off")).start()
    assert forwarder.wait() == 0, forwarder.tail()
    assert influxd.auth is not None
    client = InfluxClient(influxd.url, *influxd.auth)
    data: list[RunnerData] = []
    for _ in range(40):  # the UDP listener batches for up to 100 ms
        data = collect(client, SPEC.influxdb.database, [runner], since_ms)
        if data[0].found:
            break
        time.sleep(0.25)
    assert data[0].found, forwarder.tail()
    totals = report_totals(version)
    results = compute(data)
    assert (results.total.count, results.total.ko) == (totals["total"], totals["ko"])


def test_a_worst_case_summary_stays_within_the_monitors_influxdb_limits(influxd: Influxd, tmp_path: Path) -> None:
    # 1,500 request names (beyond the default --max-series 1000), response times from 1 ms to a
    # minute (every bucket), ok and ko: one runner's summary against the rendered default limits
    # (max-series-per-database 200000, max-values-per-tag 10000).
    start_ms = int(time.time() * 1000) - 120_000
    log = BinaryLog(start_ms=start_ms).user(0, True, 1)
    n = 30_000
    for i in range(n):
        end = 1000 + i * 3
        log.request(("shop",), f"item {i % 1500}", end - (i * 7919) % 60_000 - 1, end, i % 7 != 0)
    log.user(0, False, 1000 + n * 3)
    folder = tmp_path / "results" / "bigsimulation-20261206120000000"
    folder.mkdir(parents=True)
    (folder / "simulation.log").write_bytes(bytes(log.data))
    conf = tmp_path / "gatling.conf"
    conf.write_text(render_gatling_conf(SPEC, graphite_host="127.0.0.1", graphite_port=influxd.ports.graphite))
    runner = "worst-case-runner"
    sent = time.monotonic()
    forwarder = Forwarder(conf, tmp_path / "results", runner, ("--once", "--live", "off")).start()
    assert forwarder.wait() == 0, forwarder.tail()
    forwarded_s = time.monotonic() - sent
    influxd.wait_quiet(lambda: influxd.graphite_stats().get("tcp", {}).get("pointsTx", 0), quiet_seconds=1.0)
    assert influxd.auth is not None
    client = InfluxClient(influxd.url, *influxd.auth)  # the default 10 s timeout must be enough
    queried = time.monotonic()
    data = collect(client, SPEC.influxdb.database, [runner], start_ms)
    collect_s = time.monotonic() - queried
    assert data[0].found, influxd.log_tail()
    results = compute(data)
    assert results.total.count == n and results.total.ko == (n + 6) // 7
    assert len(results.requests) == 1001  # 1000 names of their own, the rest in `_other`
    assert sum(r.count for r in results.requests if r.name == "_other") == n // 3
    series = influxd.series(f"SHOW SERIES FROM \"{SUMMARY_MEASUREMENT}\" WHERE \"runner\" = '{runner}'",
                            SPEC.influxdb.database)
    n_series = sum(len(s.get("values", [])) for s in series)
    fields = influxd.series(f'SHOW FIELD KEYS FROM "{SUMMARY_MEASUREMENT}"', SPEC.influxdb.database)
    n_fields = sum(len(s.get("values", [])) for s in fields)
    buckets = sum(len(h) for d in data for h in d.histograms.values())
    print(f"worst-case summary: {n_series} series, {n_fields} fields, {buckets} bucket points; "
          f"forwarder {forwarded_s:.1f} s, collect {collect_s:.2f} s")
    assert n_series == 2 * 1001 <= SPEC.influxdb.max_series_per_database // 50
    assert n_fields == 2  # bucket and count: a query reads one row per bucket, not series x buckets
    assert collect_s < 5
    assert "exceeded" not in influxd.log_tail(400)


def test_write_lines_and_query_round_trip_and_errors_carry_influxdbs_message(influxd: Influxd) -> None:
    # The interface the dashboard annotations use (wt-rd): line protocol in, series out.
    assert influxd.auth is not None
    client = InfluxClient(influxd.url, *influxd.auth)
    now_ns = time.time_ns()
    client.write_lines(SPEC.influxdb.database, [
        f'run_events,run=nightly-42 text="started \\"checkout\\"",title="LoadtestRun" {now_ns}',
        f"run_events,run=nightly-42 text=\"ended\",title=\"LoadtestRun\" {now_ns + 1_000_000}",
    ])
    series = client.query(SPEC.influxdb.database, "SELECT \"text\" FROM \"run_events\" WHERE \"run\" = 'nightly-42'")
    assert [v[1] for v in series[0]["values"]] == ['started "checkout"', "ended"]
    with pytest.raises(InfluxError, match="unable to parse"):
        client.write_lines(SPEC.influxdb.database, ["no fields here"])
    with pytest.raises(InfluxError, match="database not found"):
        client.query("no_such_db", 'SELECT * FROM "x"')
    wrong = InfluxClient(influxd.url, "admin", "not-the-password")
    with pytest.raises(InfluxError, match="HTTP 401"):
        wrong.query(SPEC.influxdb.database, "SHOW MEASUREMENTS")
    unreachable = InfluxClient("http://127.0.0.1:9", "a", "b", timeout_s=2)
    with pytest.raises(InfluxError, match="unreachable"):
        unreachable.query(SPEC.influxdb.database, "SHOW MEASUREMENTS")
