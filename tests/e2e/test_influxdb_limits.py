"""The rendered series limits hold on a real InfluxDB 1.12: a test that invents request names or
runners past `maxValuesPerTag` / `maxSeriesPerDatabase` gets only that many into the database,
and influxd keeps running (it refuses the new series, not the listener).

Lines are Gatling's request lines (`<prefix>.<runner>.<simulation>.<request>.ok.count 1 epoch`)
over the rendered TCP listener; each (runner, request) pair is one series.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest_monitor.spec.monitor import parse_spec
from ltm_harness.influx_bootstrap import start_bootstrapped
from ltm_harness.influxd import Influxd

pytestmark = pytest.mark.e2e

SPEC = parse_spec({"influxdb": {"maxSeriesPerDatabase": 1_000, "maxValuesPerTag": 100}})
DB = SPEC.influxdb.database
PREFIX = SPEC.gatling.root_path_prefix
BATCH_PAUSE_S = 0.4  # > the rendered batch-timeout (100ms), with room for a busy machine


def _lines(runners: int, requests: int, ts: int) -> list[str]:
    return [
        f"{PREFIX}.w{runner:03d}.Sim.req{request:04d}.ok.count 1 {ts}"
        for runner in range(runners)
        for request in range(requests)
    ]


def _send(server: Influxd, lines: list[str], chunk: int) -> None:
    """Over one connection, `chunk` lines at a time and a pause longer than the listener's batch
    timeout, as Gatling writes once a second: InfluxDB checks a limit against the series it
    already holds, so each chunk is one batch judged after the ones before it."""
    with socket.create_connection(("127.0.0.1", server.ports.graphite), timeout=10) as conn:
        for start in range(0, len(lines), chunk):
            conn.sendall(("\n".join(lines[start : start + chunk]) + "\n").encode())
            time.sleep(BATCH_PAUSE_S)
    server.wait_quiet(lambda: server.graphite_stats().get("tcp", {}).get("pointsRx", 0))


def _count(server: Influxd, query: str) -> int:
    """Rows of a SHOW statement: one per tag value or series."""
    return sum(len(s.get("values", [])) for s in server.series(query, DB))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Influxd]:
    influxd, _ = start_bootstrapped(SPEC, tmp_path)
    try:
        yield influxd
    finally:
        influxd.stop()


def test_request_names_past_max_values_per_tag_are_refused(server: Influxd) -> None:
    _send(server, _lines(runners=1, requests=150, ts=int(time.time()) - 60), chunk=10)
    assert _count(server, 'SHOW TAG VALUES WITH KEY = "request"') == 100
    assert _count(server, "SHOW SERIES") == 100
    assert "max-values-per-tag limit exceeded" in server.log_path.read_text(), "what a user finds in the log"
    assert server.proc is not None and server.proc.poll() is None, "influxd must keep running past a limit"


def test_series_past_max_series_per_database_are_refused(server: Influxd) -> None:
    # 20 runners x 60 requests: 1,200 series, no tag past 100 values. A batch whose new series
    # would cross the limit loses all of them (InfluxDB refuses it whole): 10 batches of 100 fit.
    _send(server, _lines(runners=20, requests=60, ts=int(time.time()) - 60), chunk=100)
    assert _count(server, "SHOW SERIES") == 1_000
    assert "max-series-per-database exceeded" in server.log_path.read_text(), "what a user finds in the log"
    assert server.proc is not None and server.proc.poll() is None, "influxd must keep running past a limit"
