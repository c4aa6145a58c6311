"""What the e2e data-path tests share: InfluxDB's counts per series and Gatling's, and the
dashboard's queries resolved as Grafana resolves them (used by the 3.11 and the forwarder tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtest_monitor.graphite import ALL_REQUESTS
from loadtest_monitor.render.dashboard import build_gatling_dashboard
from loadtest_monitor.render.gatling import USERS_MEASUREMENT, requests_measurement
from ltm_harness.datapath import DataPathRun
from ltm_harness.gatling_run import SIMULATION_ID
from tests.e2e.grafana_interp import ALL, TimeRange, format_value, interpolate

Series = list[dict[str, Any]]


def tag_of(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    return value if value else None  # GROUP BY gives "" for a tag the series does not have


def request_rows(run: DataPathRun, select: str) -> list[dict[str, Any]]:
    measurement = requests_measurement(run.spec.gatling)
    return run.influxd.rows(
        f'SELECT {select} FROM "{measurement}" WHERE {run.time_filter} '
        'GROUP BY "runner", "simulation", "group", "request", "status"',
        run.db,
    )


def count_sums(run: DataPathRun) -> dict[tuple[str, str | None, str, str], int]:
    """sum(count) per (runner, group, request, status)."""
    sums: dict[tuple[str, str | None, str, str], int] = {}
    for row in request_rows(run, 'sum("count") AS n'):
        assert row["simulation"] == SIMULATION_ID
        key = (row["runner"], tag_of(row, "group"), row["request"], row["status"])
        assert key not in sums, f"duplicate series {key}"
        sums[key] = int(row["n"])
    return sums


def expected_counts(run: DataPathRun) -> dict[tuple[str, str | None, str, str], int]:
    expected: dict[tuple[str, str | None, str, str], int] = {}
    for runner, results in run.results.items():
        for req in [*results.requests, results.all_requests]:
            request = ALL_REQUESTS if req is results.all_requests else req.graphite_request
            group = None if req is results.all_requests else req.graphite_group
            for status, n in (("ok", req.ok), ("ko", req.ko), ("all", req.total)):
                expected[(runner, group, request, status)] = n
    return expected


@dataclass
class Resolved:
    run: DataPathRun
    dashboard: dict[str, Any]
    time_range: TimeRange
    options: dict[str, list[str]]  # what each variable's own query returned

    def variable(self, name: str) -> dict[str, Any]:
        return next(v for v in self.dashboard["templating"]["list"] if v["name"] == name)

    def values(self, selection: dict[str, list[str]]) -> dict[str, str]:
        return {
            name: format_value(self.variable(name), selection.get(name, [ALL]), self.options.get(name, []))
            for name in ("simulation", "run", "run_runner", "runner", "scenario", "request")
            if name in self.options
        }

    def run_target(
        self, panel: dict[str, Any], target: dict[str, Any], selection: dict[str, list[str]] | None = None
    ) -> tuple[Series, int]:
        interval = self.time_range.interval_seconds(panel)
        sel = {"simulation": [SIMULATION_ID], **(selection or {})}
        query = interpolate(target["query"], self.values(sel), self.time_range, interval)
        return self.run.influxd.series(query, self.run.db), interval


def gatling_dashboard(run: DataPathRun) -> dict[str, Any]:
    return build_gatling_dashboard(
        requests_measurement=requests_measurement(run.spec.gatling),
        users_measurement=USERS_MEASUREMENT,
        datasource_uid="influxdb-gatling",
        write_period=run.spec.gatling.write_period,
    )


def points(series: Series, column: int = 1) -> list[float]:
    return [float(v[column]) for s in series for v in s["values"] if v[column] is not None]
