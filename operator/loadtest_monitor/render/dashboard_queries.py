"""The InfluxQL of the Gatling dashboard (render/dashboard.py): every panel's query over the Graphite
series, for given measurement names, and the quoting it needs. Run against a real InfluxDB in
tests/e2e/test_dashboard_queries.py; the dashboard module says which numbers are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loadtest_monitor.graphite import ALL_REQUESTS
from loadtest_monitor.render.gatling import (
    TAG_GROUP,
    TAG_REQUEST,
    TAG_RUNNER,
    TAG_SCENARIO,
    TAG_SIMULATION,
    TAG_STATUS,
)

PERCENTILES = (50, 75, 95, 99)

# Grafana's regex-formatted variables: a multi-value selection becomes (a|b), All becomes .*
VAR_SIMULATION = "simulation"
VAR_RUNNER = "runner"
VAR_REQUEST = "request"
VAR_SCENARIO = "scenario"
# A test run (LoadtestRun): its runners, as the operator recorded them in RUNNERS_MEASUREMENT
# (runs/annotations.py), narrow every panel; VAR_RUN_RUNNER is that list, hidden.
VAR_RUN = "run"
VAR_RUN_RUNNER = "run_runner"


def ident(name: str) -> str:
    """An InfluxQL identifier."""
    return '"' + name.replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def matches(tag: str, variable: str) -> str:
    return f"{ident(tag)} =~ /^${variable}$/"


def equals(tag: str, value: str) -> str:
    return f"{ident(tag)} = {literal(value)}"


def where(*conditions: str) -> str:
    return " AND ".join([*conditions, "$timeFilter"])


def group_by(*tags: str, by_time: bool = True) -> str:
    parts = (["time($__interval)"] if by_time else []) + [ident(t) for t in tags]
    return "GROUP BY " + ", ".join(parts) if parts else ""


@dataclass(frozen=True)
class Queries:
    """The InfluxQL of every panel, for the given measurement names."""

    requests: str
    users: str

    def _run_filter(self) -> list[str]:
        return [
            matches(TAG_SIMULATION, VAR_SIMULATION),
            matches(TAG_RUNNER, VAR_RUN_RUNNER),
            matches(TAG_RUNNER, VAR_RUNNER),
        ]

    def _totals(self, status: str) -> list[str]:
        return [*self._run_filter(), equals(TAG_REQUEST, ALL_REQUESTS), equals(TAG_STATUS, status)]

    def _per_request(self, status: str) -> list[str]:
        return [
            *self._run_filter(),
            f"{ident(TAG_REQUEST)} != {literal(ALL_REQUESTS)}",
            matches(TAG_REQUEST, VAR_REQUEST),
            equals(TAG_STATUS, status),
        ]

    def _from(self, measurement: str) -> str:
        return f"FROM {ident(measurement)}"

    def active_users(self) -> str:
        inner = (
            f'SELECT last("active") AS "active" {self._from(self.users)} '
            f"WHERE {where(*self._run_filter(), matches(TAG_SCENARIO, VAR_SCENARIO))} "
            f"{group_by(TAG_RUNNER, TAG_SCENARIO)}"
        )
        return f'SELECT sum("active") AS "active" FROM ({inner}) WHERE $timeFilter {group_by(TAG_SCENARIO)} fill(none)'

    def rate(self, status: str) -> str:
        """Responses per second, summed over runners: a bucket's counts over the bucket's length."""
        return (
            f'SELECT sum("count") * 1000 / $__interval_ms AS "{status}" {self._from(self.requests)} '
            f"WHERE {where(*self._totals(status))} {group_by()} fill(none)"
        )

    def request_rate(self) -> str:
        return (
            f'SELECT sum("count") * 1000 / $__interval_ms AS "rate" {self._from(self.requests)} '
            f"WHERE {where(*self._per_request('all'))} {group_by(TAG_GROUP, TAG_REQUEST)} fill(none)"
        )

    def percentiles(self) -> str:
        fields = ", ".join(f'max("percentiles{p}") AS "p{p}"' for p in PERCENTILES)
        return (
            f'SELECT {fields}, max("max") AS "max" {self._from(self.requests)} '
            f"WHERE {where(*self._totals('all'))} {group_by()} fill(none)"
        )

    def request_p95(self) -> str:
        return (
            f'SELECT max("percentiles95") AS "p95" {self._from(self.requests)} '
            f"WHERE {where(*self._per_request('all'))} {group_by(TAG_GROUP, TAG_REQUEST)} fill(none)"
        )

    def mean_response_time(self) -> str:
        inner = (
            f'SELECT "mean" * "count" AS "weighted", "count" AS "n" {self._from(self.requests)} '
            f"WHERE {where(*self._totals('all'))}"
        )
        return f'SELECT sum("weighted") / sum("n") AS "mean" FROM ({inner}) WHERE $timeFilter {group_by()} fill(none)'

    def _ko_over_all(self, conditions: Callable[[str], list[str]], select: str, group_by: str) -> str:
        ko = f'SELECT "count" AS "ko" {self._from(self.requests)} WHERE {where(*conditions("ko"))}'
        all_ = (
            f'SELECT "count" AS "all", "percentiles95" AS "p95", "max" AS "max", '
            f'"mean" * "count" AS "weighted" {self._from(self.requests)} WHERE {where(*conditions("all"))}'
        )
        return f"SELECT {select} FROM ({all_}), ({ko}) WHERE $timeFilter {group_by}".rstrip()

    def error_ratio(self) -> str:
        return self._ko_over_all(
            self._totals, 'sum("ko") * 100 / sum("all") AS "error ratio"', f"{group_by()} fill(none)"
        )

    def error_ratio_overall(self) -> str:
        return self._ko_over_all(self._totals, 'sum("ko") * 100 / sum("all") AS "error ratio"', "")

    def request_table(self) -> str:
        select = (
            'sum("all") AS "requests", sum("ko") AS "errors", sum("ko") * 100 / sum("all") AS "error %", '
            'sum("weighted") / sum("all") AS "mean", max("p95") AS "p95 (upper bound)", max("max") AS "max"'
        )
        return self._ko_over_all(self._per_request, select, group_by(TAG_GROUP, TAG_REQUEST, by_time=False))
