"""The real InfluxDB a runner image writes into, and the numbers a user compares after a run: the
per-request ok/ko/all counts InfluxDB holds for one runner, the same counts in Gatling's own report
of that run, and users done."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest_monitor.graphite import ALL_REQUESTS, ALL_USERS
from loadtest_monitor.render.gatling import requests_measurement
from loadtest_monitor.spec.monitor import MonitorSpec
from ltm_harness.gatling_run import GatlingResults
from ltm_harness.influx_bootstrap import start_influxd
from ltm_harness.influxd import Influxd, default_binary
from ltm_harness.tools import MissingTool


def start_monitor_influxd(spec: MonitorSpec, workdir: Path) -> Influxd:
    """influxd 1.13.2 (the default image's) with the monitor's rendered config; a missing build
    fails the test with the command that makes it."""
    try:
        influxd: Influxd = start_influxd(spec, workdir, default_binary())
    except (MissingTool, RuntimeError) as exc:
        pytest.fail(str(exc), pytrace=False)
    return influxd


Counts = dict[tuple[str, str], int]  # (request, status) -> count


def influx_counts(server: Influxd, spec: MonitorSpec, runner: str) -> Counts:
    """Sum of the per-window counts per request and status, under this runner's tag only."""
    rows = server.rows(
        f'SELECT sum("count") AS n FROM "{requests_measurement(spec.gatling)}" '
        f"WHERE \"runner\" = '{runner}' GROUP BY \"request\", \"status\"",
        spec.influxdb.database,
    )
    return {(row["request"], row["status"]): int(row["n"]) for row in rows}


def gatling_counts(results: GatlingResults) -> Counts:
    """The same keys from Gatling's report (request names as the Graphite path carries them)."""
    counts: Counts = {}
    for req in [*results.requests, results.all_requests]:
        name = ALL_REQUESTS if req is results.all_requests else req.graphite_request
        for status, n in (("ok", req.ok), ("ko", req.ko), ("all", req.total)):
            counts[(name, status)] = n
    return counts


def users_done(server: Influxd, spec: MonitorSpec, runner: str) -> list[dict[str, object]]:
    """The last `done` of all users (cumulative, so its last value is exact)."""
    return server.rows(
        f"SELECT last(\"done\") AS done FROM \"users\" WHERE \"runner\" = '{runner}' "
        f"AND \"scenario\" = '{ALL_USERS}'",
        spec.influxdb.database,
    )
