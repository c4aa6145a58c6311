"""Generated names through the forwarder into a real InfluxDB (issue 14, item 5).

Hypothesis draws runner, simulation, scenario, group and request names from all of Unicode
(control characters, every kind of whitespace, `.`, `\\`, reserved names included). The forwarder's
own aggregator renders the lines and its own sender delivers them over TCP to the Graphite listener
of a real influxd (1.12.4, and Debian's 1.6) configured with the operator's rendered templates. Then, per example:

- none dropped: the listener parsed and wrote every line (pointsParseFail, batchesTxFail stay 0,
  pointsTx grows by the number of lines) and the database holds one point per line;
- every line lands in the series it names: the tags are the sanitised names (graphite.segment
  and friends), computed here from the names, not read from the lines;
- none forged: no measurement, tag value or series that was not sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtest_monitor.forward.aggregate import Aggregator, WindowSettings
from loadtest_monitor.forward.records import RequestRecord, RunHeader, UserRecord
from loadtest_monitor.forward.sender import GraphiteSender
from loadtest_monitor.graphite import (
    ALL_REQUESTS,
    ALL_USERS,
    request_segment,
    runner_segment,
    scenario_segment,
    segment,
)
from loadtest_monitor.render.gatling import USERS_MEASUREMENT
from loadtest_monitor.spec.monitor import parse_spec
from ltm_harness.influx_bootstrap import start_bootstrapped
from ltm_harness.influxd import Influxd

pytestmark = pytest.mark.e2e

SPEC = parse_spec({"gatling": {"maxGroupDepth": 2}})
PREFIX = SPEC.gatling.root_path_prefix
DB = SPEC.influxdb.database
HOSTILE = ("\n", "\t", "\r", "\u00a0", "\u0085", "\u2028", "\x00", ".", "\\", " ", ",", "=", '"', "*", "#",
           "users", ALL_REQUESTS, ALL_USERS, "_other", "ok", "active", "\ufffd", "\u200b", "é", "日本")
NAME = st.lists(st.text(st.characters(codec="utf-8"), max_size=6) | st.sampled_from(HOSTILE), max_size=4).map("".join)


@dataclass
class Listener:
    server: Influxd
    sent: int = 0  # lines sent so far
    example: int = 0


@pytest.fixture(scope="module")
def listener(influxd_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    """One influxd per build of the matrix (1.12.4, the default image's, and Debian's 1.6)."""
    server, _ = start_bootstrapped(SPEC, Path(tmp_path_factory.mktemp("graphite-names")), binary=influxd_binary)
    try:
        yield Listener(server)
    finally:
        server.stop()


def _stats(server: Influxd) -> dict[str, int]:
    return server.graphite_stats().get("tcp", {})


def _stored(server: Influxd, epoch: int) -> set[tuple[str, tuple[tuple[str, str], ...], str]]:
    """(measurement, tags, field) of every point at `epoch`, in every measurement."""
    out = set()
    for series in server.series(f"SELECT * FROM /.*/ WHERE time = {epoch}s GROUP BY *", DB):
        tags = tuple(sorted((k, v) for k, v in (series.get("tags") or {}).items() if v))
        for row in series["values"]:
            for column, cell in zip(series["columns"][1:], row[1:], strict=True):
                if cell is not None:
                    out.add((series["name"], tags, column))
    return out


def _expected_series(runner: str, sim: str, scenarios: list[str], requests: list[tuple[list[str], str]]) -> set:
    base = (("runner", runner_segment(runner)), ("simulation", segment(sim)))
    users = {(USERS_MEASUREMENT, tuple(sorted((*base, ("scenario", s))))) for s in
             {*(scenario_segment(s) for s in scenarios), ALL_USERS}}
    reqs = {(PREFIX, tuple(sorted((*base, ("request", ALL_REQUESTS), ("status", st_)))))
            for st_ in ("ok", "ko", "all")}
    for groups, name in requests:
        tags = [*base, ("request", request_segment(name))]
        if groups:
            tags.append(("group", ".".join(segment(g) for g in groups)))
        reqs |= {(PREFIX, tuple(sorted((*tags, ("status", st_))))) for st_ in ("ok", "ko", "all")}
    return users | reqs


@given(
    runner=NAME, sim=NAME, scenarios=st.lists(NAME, min_size=1, max_size=3),
    requests=st.lists(st.tuples(st.lists(NAME, max_size=2), NAME), min_size=1, max_size=4),
)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_generated_names_land_in_the_series_they_name_none_dropped_none_forged(
    listener: Listener, runner: str, sim: str, scenarios: list[str], requests: list[tuple[list[str], str]]
) -> None:
    listener.example += 1
    start_ms = (int(time.time()) - 3600 + listener.example * 10) * 1000  # one second of its own
    header = RunHeader("binary", "3.15.1", "x.Sim", None, start_ms, tuple(scenarios))
    agg = Aggregator(WindowSettings(prefix=f"{PREFIX}.{runner_segment(runner)}", simulation_id=sim), header)
    agg.add([UserRecord(s, True, 1) for s in scenarios])
    agg.add([RequestRecord(tuple(g), n, 0, 5 + i, i % 2 == 0, "") for i, (g, n) in enumerate(requests)])
    (payload,) = agg.finish()

    port = listener.server.ports.graphite
    sender = GraphiteSender("127.0.0.1", port, "tcp")
    try:
        sender.put(payload.data)
        assert sender.drain(10)
    finally:
        sender.close()
    listener.sent += payload.lines
    deadline = time.monotonic() + 15
    while _stats(listener.server).get("pointsTx", 0) < listener.sent and time.monotonic() < deadline:
        time.sleep(0.1)

    stats = _stats(listener.server)
    assert stats.get("pointsParseFail", 0) == 0 and stats.get("batchesTxFail", 0) == 0, stats
    assert stats["pointsRx"] == stats["pointsTx"] == listener.sent, stats  # none dropped
    stored = _stored(listener.server, payload.epoch)
    assert len(stored) == payload.lines  # one point per line: nothing merged or split
    assert {(m, tags) for m, tags, _ in stored} == _expected_series(runner, sim, scenarios, requests)
