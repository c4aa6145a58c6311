"""Cross-check on Gatling 3.11.5, where both realtime paths exist: ONE run, Gatling's own Graphite
writer into one influxd and `loadtest-monitor forward` (following the same run's simulation.log)
into a second influxd, both with the rendered config. The two must land the same numbers.

What may differ, and why (asserted as such, measured figures printed):
- which window a response falls in: Gatling's writer counts a response in the window in which its
  message reached the writer actor, the forwarder in the window of the response's end time in the
  log. A response that ends a few milliseconds before a window boundary can be counted one window
  later by the writer. Totals are equal; a shifted response moves between two ADJACENT windows,
  so the running sums of the two paths never drift apart by more than a few responses.
- the timestamps: the writer stamps each payload with the wall-clock second of its flush, the
  forwarder with the end of the window in the log's time; both stamp whole seconds, so the series
  line up with a constant offset of at most one second.
- `users.*.waiting` is not sent by the forwarder (the log does not carry the injection profile).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import RAW_SPEC, RUNNERS, start_influxd
from forward_run import Forwarder
from gatling_report import load_report
from gatling_run import GatlingResults, emitted_windows, lossy_same_second_flushes
from gatling_runner_home import GRAPHITE_VERSION, RunnerProcess, build_runner_home
from http_target import TargetServer
from influxd import Influxd, MissingTool

from loadtest_monitor.render.gatling import ALL_REQUESTS, render_gatling_conf, requests_measurement
from loadtest_monitor.spec import MonitorSpec, parse_spec

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
        forwarder = Forwarder(forward_conf, results, RUNNER).start()
        props = {"target.baseUrl": target.base_url, **RUNNERS[RUNNER]}
        started = time.time()
        gatling = RunnerProcess(home, RUNNER, props, results).start()
        run_dir = gatling.wait()
        finished = time.time()
        rc = forwarder.wait()
        if rc != 0:
            raise RuntimeError(f"forwarder exited {rc}:\n{forwarder.tail()}")
        for server in (writer_db, forward_db):
            server.wait_quiet(lambda s=server: s.graphite_stats().get("tcp", {}).get("pointsTx", 0))
        collided = lossy_same_second_flushes(emitted_windows(workdir, RUNNER))
    except BaseException:
        writer_db.stop()
        forward_db.stop()
        raise
    return CrossCheck(spec, writer_db, forward_db, load_report(run_dir, RUNNER), started, finished), collided


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


def test_same_per_window_counts_up_to_boundary_shifts(crosscheck: CrossCheck) -> None:
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
    print(
        f"\n3.11.5 cross-check: {len(busy)} windows with responses, {equal} with equal counts, "
        f"timestamp offset {offset:+d} s, largest running-sum gap {worst} responses"
    )
    # Most windows carry exactly the same count; the others differ by responses moved to the
    # adjacent window, so the running sums stay within a few responses of each other.
    assert equal >= 0.6 * len(busy), triples
    assert worst <= 5, triples
    assert drift == 0
