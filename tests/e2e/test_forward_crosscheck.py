"""Cross-check on Gatling 3.11.5, where both realtime paths exist: ONE run, Gatling's own Graphite
writer into one influxd and `loadtest-monitor forward` (following the same run's simulation.log)
into a second influxd, both with the rendered config. The two must land the same numbers.

What differs, and why (each asserted, the measured figures printed):
- Totals: equal, per request, per status and in all (exact).
- Where a window starts. The writer's windows are cut by its flush timer, which starts when the
  writer actor initialises, some hundreds of milliseconds after the run start that the log
  records; it counts a response in the window in which its message reached the writer. The
  forwarder cuts windows at run start + k x writePeriod by the response's end time in the log
  (3.12+ have no writer to copy the phase from). So the two grids are shifted by a constant phase,
  and per-window counts differ by the responses that ended in that phase. Measured here (busy
  2-core machine, ~45 responses per window): no window equal, running sums apart by up to ~20
  responses, totals equal. Proven, not assumed: the forwarder's windows equal the log's
  responses bucketed by end time on its grid EXACTLY, and the writer's windows equal the same
  responses bucketed at its own flush instants, up to the few that were still in flight to the
  writer at a flush.
- Timestamps: both stamp whole seconds at the end of a window (writer: wall clock at the flush;
  forwarder: end of the window in the log's time); the series line up with an offset of at most 1 s.
- `users.*.waiting` is not sent by the forwarder (the log does not carry the injection profile).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadtest_monitor.graphite import ALL_REQUESTS
from loadtest_monitor.render.gatling import render_gatling_conf, requests_measurement
from loadtest_monitor.spec.monitor import MonitorSpec, parse_spec
from ltm_harness.datapath import RAW_SPEC, RUNNERS
from ltm_harness.forwarder import Forwarder
from ltm_harness.gatling_report import load_report
from ltm_harness.gatling_run import EmittedWindow, GatlingResults, emitted_windows, lossy_same_second_flushes
from ltm_harness.http_target import TargetServer
from ltm_harness.influx_bootstrap import start_influxd
from ltm_harness.influxd import Influxd
from ltm_harness.runner_home import GRAPHITE_VERSION, RunnerProcess, build_runner_home
from ltm_harness.tools import MissingTool

pytestmark = pytest.mark.e2e

RUNNER = "runner-a"
MAX_ATTEMPTS = 3


@dataclass
class CrossCheck:
    spec: MonitorSpec
    writer_db: Influxd  # Gatling 3.11.5's Graphite writer wrote here
    forward_db: Influxd  # the forwarder wrote here
    results: GatlingResults
    started: float
    finished: float
    simulation_log: Path
    emitted: list[EmittedWindow]  # every payload the writer handed to its sender, in order

    def windows(self, server: Influxd, group: str | None, request: str, status: str) -> dict[int, int]:
        measurement = requests_measurement(self.spec.gatling)
        group_cond = f"\"group\" = '{group}'" if group else "\"group\" = ''"
        rows = server.rows(
            f'SELECT "count" FROM "{measurement}" WHERE time >= {int(self.started) - 5}s AND '
            f"time <= {int(self.finished) + 5}s AND \"runner\" = '{RUNNER}' AND \"request\" = '{request}' "
            f"AND \"status\" = '{status}' AND {group_cond}",
            self.spec.influxdb.database,
        )
        return {int(r["time"]): int(r["count"]) for r in rows}


def _tcp_points_written(server: Influxd) -> int:
    return server.graphite_stats().get("tcp", {}).get("pointsTx", 0)


def _one_run(spec: MonitorSpec, target: TargetServer, workdir: Path) -> tuple[CrossCheck, dict[int, list[int]]]:
    writer_db = start_influxd(spec, workdir / "influxd-writer")
    forward_db = start_influxd(spec, workdir / "influxd-forward")
    try:
        conf = render_gatling_conf(spec, graphite_host="127.0.0.1", graphite_port=writer_db.ports.graphite)
        home = build_runner_home(workdir / "runner", GRAPHITE_VERSION, conf, agent_jar=None)
        forward_conf = workdir / "forward-gatling.conf"
        forward_conf.write_text(
            render_gatling_conf(spec, graphite_host="127.0.0.1", graphite_port=forward_db.ports.graphite)
        )
        results = workdir / "results"
        results.mkdir()
        forwarder = Forwarder(forward_conf, results, RUNNER, ("--live", "on")).start()  # auto: summary only on 3.11
        props = {"target.baseUrl": target.base_url, **RUNNERS[RUNNER]}
        started = time.time()
        gatling = RunnerProcess(home, RUNNER, props, results).start()
        run_dir = gatling.wait()
        finished = time.time()
        rc = forwarder.wait()
        if rc != 0:
            raise RuntimeError(f"forwarder exited {rc}:\n{forwarder.tail()}")
        for server in (writer_db, forward_db):
            server.wait_quiet(functools.partial(_tcp_points_written, server))
        collided = lossy_same_second_flushes(emitted_windows(workdir, RUNNER))
    except BaseException:
        writer_db.stop()
        forward_db.stop()
        raise
    check = CrossCheck(
        spec, writer_db, forward_db, load_report(run_dir, RUNNER), started, finished,
        run_dir / "simulation.log", emitted_windows(workdir, RUNNER),
    )
    return check, collided


@pytest.fixture(scope="module")
def crosscheck(
    e2e_tools: None, http_target: TargetServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CrossCheck]:
    spec = parse_spec(RAW_SPEC)
    notes = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            check, collided = _one_run(spec, http_target, tmp_path_factory.mktemp(f"crosscheck-{attempt}"))
        except (RuntimeError, MissingTool) as exc:
            pytest.fail(str(exc), pytrace=False)
        if not collided:
            break
        # Gatling's writer stamped two non-empty payloads with one second: InfluxDB kept only the
        # later, so the writer's side lost counts (a 3.11 writer defect the forwarder does not have).
        notes.append(f"attempt {attempt}: writer payloads collided in one second: {collided}")
        check.writer_db.stop()
        check.forward_db.stop()
    else:
        pytest.fail("\n".join(notes), pytrace=False)
    yield check
    check.writer_db.stop()
    check.forward_db.stop()


def _aligned(a: dict[int, int], b: dict[int, int]) -> tuple[int, list[tuple[int, int, int]]]:
    """The constant offset (-1, 0, +1 s) that best lines up b's timestamps with a's, and the
    (time, a, b) triples with that offset (0 where a side has no point)."""
    def score(off: int) -> int:
        return sum(1 for t, n in a.items() if n and b.get(t + off) == n)

    offset = max((0, -1, 1), key=score)
    times = sorted(set(a) | {t - offset for t in b})
    return offset, [(t, a.get(t, 0), b.get(t + offset, 0)) for t in times]


def test_totals_equal_on_both_paths_and_the_report(crosscheck: CrossCheck) -> None:
    for status, want in (("all", crosscheck.results.all_requests.total), ("ko", crosscheck.results.all_requests.ko)):
        writer = sum(crosscheck.windows(crosscheck.writer_db, None, ALL_REQUESTS, status).values())
        forward = sum(crosscheck.windows(crosscheck.forward_db, None, ALL_REQUESTS, status).values())
        assert (writer, forward) == (want, want), status


def test_per_request_totals_equal_on_both_paths(crosscheck: CrossCheck) -> None:
    c = crosscheck
    for req in c.results.requests:
        for status, want in (("all", req.total), ("ok", req.ok), ("ko", req.ko)):
            writer = sum(c.windows(c.writer_db, req.graphite_group, req.graphite_request, status).values())
            forward = sum(c.windows(c.forward_db, req.graphite_group, req.graphite_request, status).values())
            assert (writer, forward) == (want, want), (req.groups, req.name, status)


def _text_log(path: Path) -> tuple[int, list[int]]:
    """Run start and the end times (epoch ms) of every response in a 3.11/3.12 text simulation.log."""
    start, ends = 0, []
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if fields[0] == "RUN":
            start = int(fields[3])
        elif fields[0] == "REQUEST":
            ends.append(int(fields[4]))
    assert start and ends
    return start, ends


def _ms(logged_at: str) -> int:
    return int(dt.datetime.fromisoformat(logged_at).timestamp() * 1000)


def test_forwarder_windows_are_the_logs_responses_by_end_time_exactly(crosscheck: CrossCheck) -> None:
    start, ends = _text_log(crosscheck.simulation_log)
    period = crosscheck.spec.gatling.write_period * 1000
    predicted = Counter((start + ((end - start) // period + 1) * period) // 1000 for end in ends)
    forward = crosscheck.windows(crosscheck.forward_db, None, ALL_REQUESTS, "all")
    assert {t: n for t, n in forward.items() if n} == dict(predicted)


def test_writer_windows_are_the_same_responses_cut_at_its_flush_instants(crosscheck: CrossCheck) -> None:
    _start, ends = _text_log(crosscheck.simulation_log)
    ends.sort()
    flushes = [(_ms(w.logged_at), w.value("allRequests.all.count") or 0) for w in crosscheck.emitted]
    in_flight_ms = 250  # a response's message may still be on its way to the writer at a flush
    previous = 0
    explained = 0
    for at, count in flushes:
        predicted = sum(1 for e in ends if previous < e <= at)
        near = sum(1 for e in ends if at - in_flight_ms < e <= at) + sum(
            1 for e in ends if previous - in_flight_ms < e <= previous
        )
        assert abs(predicted - count) <= near, (at, predicted, count)
        explained += predicted == count
        previous = at
    assert sum(c for _, c in flushes) == len(ends)
    print(f"\n3.11.5 writer: {explained} of {len(flushes)} payloads equal the log cut at the flush instants")


def test_per_window_counts_differ_only_by_the_phase_of_the_window_grid(crosscheck: CrossCheck) -> None:
    writer = crosscheck.windows(crosscheck.writer_db, None, ALL_REQUESTS, "all")
    forward = crosscheck.windows(crosscheck.forward_db, None, ALL_REQUESTS, "all")
    offset, triples = _aligned(writer, forward)
    busy = [(t, a, b) for t, a, b in triples if a or b]
    assert len(busy) >= 5, triples
    equal = sum(1 for _, a, b in busy if a == b)
    drift, worst = 0, 0
    for _, a, b in triples:
        drift += a - b
        worst = max(worst, abs(drift))
    start, _ = _text_log(crosscheck.simulation_log)
    period = crosscheck.spec.gatling.write_period * 1000
    phases = sorted((_ms(w.logged_at) - start) % period for w in crosscheck.emitted)
    print(
        f"\n3.11.5 cross-check: {len(busy)} windows with responses, {equal} with equal counts, "
        f"timestamp offset {offset:+d} s, largest running-sum gap {worst} responses, "
        f"writer flush phase after the run start: median {phases[len(phases) // 2]} ms"
    )
    # The grids are shifted by less than one window: the running sums can never be further apart
    # than one window's responses, and they end equal.
    assert worst <= max(max(writer.values()), max(forward.values())), triples
    assert drift == 0
