"""The Gatling realtime dashboard for Grafana, built as data (InfluxQL over the Graphite series).

One source for every consumer: the operator puts ``json.dumps(build_gatling_dashboard(...),
sort_keys=True)`` in the Grafana provisioning ConfigMap, and a pre-baked Grafana image runs
``python -m loadtest_monitor.render.dashboard > gatling.json``.

What the series are (see render/gatling.py): Gatling sends, every ``writePeriod`` seconds and per
runner, one point per request/status with ``count`` = responses in that window (not per second)
and the window's min/max/mean/stdDev/percentiles, plus user gauges per scenario.

How the panels combine runners, and which numbers are exact:

- counts (requests/s, errors/s, error ratio, table totals) are sums over runners and windows:
  exact. A rate is ``sum(count)`` over a time bucket divided by the bucket's length.
- active users: per runner, the last value in the bucket, then summed over runners: exact at
  the bucket's end (Gatling counts a user active in every window it was alive in).
- mean response time: ``sum(mean * count) / sum(count)``: the exact weighted mean, up to Gatling
  truncating each window's mean to whole milliseconds.
- percentiles cannot be combined from per-window values. The panels show the largest window
  percentile over runners and windows in the bucket, which is an upper bound of the true pooled
  percentile (if every window has at most 5 % of its responses above M, so has their union).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadtest_monitor.graphite import ALL_REQUESTS, ALL_USERS
from loadtest_monitor.render.gatling import (
    TAG_GROUP,
    TAG_REQUEST,
    TAG_RUNNER,
    TAG_SCENARIO,
    TAG_SIMULATION,
    TAG_STATUS,
)
from loadtest_monitor.runs.annotations import (
    EVENTS_MEASUREMENT,
    FIELD_END_MS,
    RUNNERS_MEASUREMENT,
    TAG_EVENT,
    TAG_RUN,
    TAG_VERDICT,
)

Json = dict[str, Any]

DASHBOARD_UID = "loadtest-monitor-gatling"
DASHBOARD_TITLE = "Gatling realtime (loadtest-monitor)"
REFRESH = "5s"
# The smallest time bucket of the graphs, rounded up to whole Gatling windows (writePeriod): a
# bucket holding sometimes N and sometimes N+1 windows would make rates jump.
MIN_INTERVAL_SECONDS = 5
GRID_WIDTH = 24
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


def _q(name: str) -> str:
    """An InfluxQL identifier."""
    return '"' + name.replace('"', '\\"') + '"'


def _s(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _matches(tag: str, variable: str) -> str:
    return f"{_q(tag)} =~ /^${variable}$/"


def _equals(tag: str, value: str) -> str:
    return f"{_q(tag)} = {_s(value)}"


def _where(*conditions: str) -> str:
    return " AND ".join([*conditions, "$timeFilter"])


def _group_by(*tags: str, by_time: bool = True) -> str:
    parts = (["time($__interval)"] if by_time else []) + [_q(t) for t in tags]
    return "GROUP BY " + ", ".join(parts) if parts else ""


@dataclass(frozen=True)
class Queries:
    """The InfluxQL of every panel, for the given measurement names."""

    requests: str
    users: str

    def _run_filter(self) -> list[str]:
        return [
            _matches(TAG_SIMULATION, VAR_SIMULATION),
            _matches(TAG_RUNNER, VAR_RUN_RUNNER),
            _matches(TAG_RUNNER, VAR_RUNNER),
        ]

    def _totals(self, status: str) -> list[str]:
        return [*self._run_filter(), _equals(TAG_REQUEST, ALL_REQUESTS), _equals(TAG_STATUS, status)]

    def _per_request(self, status: str) -> list[str]:
        return [
            *self._run_filter(),
            f"{_q(TAG_REQUEST)} != {_s(ALL_REQUESTS)}",
            _matches(TAG_REQUEST, VAR_REQUEST),
            _equals(TAG_STATUS, status),
        ]

    def _from(self, measurement: str) -> str:
        return f"FROM {_q(measurement)}"

    def active_users(self) -> str:
        inner = (
            f'SELECT last("active") AS "active" {self._from(self.users)} '
            f"WHERE {_where(*self._run_filter(), _matches(TAG_SCENARIO, VAR_SCENARIO))} "
            f"{_group_by(TAG_RUNNER, TAG_SCENARIO)}"
        )
        return f'SELECT sum("active") AS "active" FROM ({inner}) WHERE $timeFilter {_group_by(TAG_SCENARIO)} fill(none)'

    def rate(self, status: str) -> str:
        """Responses per second, summed over runners: a bucket's counts over the bucket's length."""
        return (
            f'SELECT sum("count") * 1000 / $__interval_ms AS "{status}" {self._from(self.requests)} '
            f"WHERE {_where(*self._totals(status))} {_group_by()} fill(none)"
        )

    def request_rate(self) -> str:
        return (
            f'SELECT sum("count") * 1000 / $__interval_ms AS "rate" {self._from(self.requests)} '
            f"WHERE {_where(*self._per_request('all'))} {_group_by(TAG_GROUP, TAG_REQUEST)} fill(none)"
        )

    def percentiles(self) -> str:
        fields = ", ".join(f'max("percentiles{p}") AS "p{p}"' for p in PERCENTILES)
        return (
            f'SELECT {fields}, max("max") AS "max" {self._from(self.requests)} '
            f"WHERE {_where(*self._totals('all'))} {_group_by()} fill(none)"
        )

    def request_p95(self) -> str:
        return (
            f'SELECT max("percentiles95") AS "p95" {self._from(self.requests)} '
            f"WHERE {_where(*self._per_request('all'))} {_group_by(TAG_GROUP, TAG_REQUEST)} fill(none)"
        )

    def mean_response_time(self) -> str:
        inner = (
            f'SELECT "mean" * "count" AS "weighted", "count" AS "n" {self._from(self.requests)} '
            f"WHERE {_where(*self._totals('all'))}"
        )
        return f'SELECT sum("weighted") / sum("n") AS "mean" FROM ({inner}) WHERE $timeFilter {_group_by()} fill(none)'

    def _ko_over_all(self, conditions: Callable[[str], list[str]], select: str, group_by: str) -> str:
        ko = f'SELECT "count" AS "ko" {self._from(self.requests)} WHERE {_where(*conditions("ko"))}'
        all_ = (
            f'SELECT "count" AS "all", "percentiles95" AS "p95", "max" AS "max", '
            f'"mean" * "count" AS "weighted" {self._from(self.requests)} WHERE {_where(*conditions("all"))}'
        )
        return f"SELECT {select} FROM ({all_}), ({ko}) WHERE $timeFilter {group_by}".rstrip()

    def error_ratio(self) -> str:
        return self._ko_over_all(
            self._totals, 'sum("ko") * 100 / sum("all") AS "error ratio"', f"{_group_by()} fill(none)"
        )

    def error_ratio_overall(self) -> str:
        return self._ko_over_all(self._totals, 'sum("ko") * 100 / sum("all") AS "error ratio"', "")

    def request_table(self) -> str:
        select = (
            'sum("all") AS "requests", sum("ko") AS "errors", sum("ko") * 100 / sum("all") AS "error %", '
            'sum("weighted") / sum("all") AS "mean", max("p95") AS "p95 (upper bound)", max("max") AS "max"'
        )
        return self._ko_over_all(self._per_request, select, _group_by(TAG_GROUP, TAG_REQUEST, by_time=False))


def _datasource(uid: str) -> Json:
    return {"type": "influxdb", "uid": uid}


def _target(ref_id: str, query: str, datasource_uid: str, *, alias: str = "", table: bool = False) -> Json:
    target: Json = {
        "refId": ref_id,
        "datasource": _datasource(datasource_uid),
        "query": query,
        "rawQuery": True,
        "resultFormat": "table" if table else "time_series",
    }
    if alias:
        target["alias"] = alias
    return target


@dataclass
class _Layout:
    """Places panels left to right in rows of GRID_WIDTH columns, and numbers them."""

    interval: str = f"{MIN_INTERVAL_SECONDS}s"
    x: int = 0
    y: int = 0
    row_height: int = 0
    next_id: int = 1

    def place(self, width: int, height: int) -> tuple[int, Json]:
        if self.x + width > GRID_WIDTH:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = {"x": self.x, "y": self.y, "w": width, "h": height}
        self.x += width
        self.row_height = max(self.row_height, height)
        panel_id, self.next_id = self.next_id, self.next_id + 1
        return panel_id, pos


def _panel(
    layout: _Layout,
    kind: str,
    title: str,
    description: str,
    targets: list[Json],
    datasource_uid: str,
    *,
    unit: str,
    width: int,
    height: int = 8,
    options: Json | None = None,
) -> Json:
    panel_id, pos = layout.place(width, height)
    panel: Json = {
        "id": panel_id,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": _datasource(datasource_uid),
        "gridPos": pos,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": options or {},
    }
    if kind == "timeseries":
        panel["interval"] = layout.interval
        panel["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
            **(options or {}),
        }
    return panel


def _variable(name: str, label: str, query: str, datasource_uid: str, *, multi: bool, include_all: bool) -> Json:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": _datasource(datasource_uid),
        "query": query,
        "definition": query,
        # Re-read on every time range change: runners and requests appear while the test runs.
        "refresh": 2,
        "multi": multi,
        "includeAll": include_all,
        # `.*` also matches values that appear after the variable was last refreshed.
        "allValue": ".*" if include_all else None,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
        "skipUrlSync": False,
    }


def run_runners_query(users_measurement: str) -> str:
    """The runner tags of the selected run. With run = All (`.*`), the users measurement's runners
    come too: a series without the `run` tag has it empty, which `/^.*$/` matches and a run's name
    does not; so All hides nothing, not even runners of Jobs that are not runs."""
    return (
        f"SHOW TAG VALUES FROM {_q(RUNNERS_MEASUREMENT)}, {_q(users_measurement)} "
        f"WITH KEY = {_q(TAG_RUNNER)} WHERE {_matches(TAG_RUN, VAR_RUN)}"
    )


def run_annotation_query() -> str:
    """Start and end of the selected run(s) in the time range, with text, title and verdict."""
    return (
        f'SELECT "text", "title", {_q(FIELD_END_MS)}, {_q(TAG_RUN)}, {_q(TAG_EVENT)}, {_q(TAG_VERDICT)} '
        f"FROM {_q(EVENTS_MEASUREMENT)} WHERE {_where(_matches(TAG_RUN, VAR_RUN))}"
    )


def _annotations(uid: str) -> list[Json]:
    query = run_annotation_query()
    columns = {
        "textColumn": "text",
        "titleColumn": "title",
        "tagsColumn": f"{TAG_RUN},{TAG_EVENT},{TAG_VERDICT}",
        # The start point carries the run's end once it ended: the run shows as a region.
        "timeEndColumn": FIELD_END_MS,
    }
    return [
        {
            "name": "Test runs",
            "datasource": _datasource(uid),
            "enable": True,
            "hide": False,
            "iconColor": "purple",
            # The legacy fields and the target Grafana migrates them to, so every version reads it.
            "query": query,
            **columns,
            "target": {"query": query, "rawQuery": True, "fromAnnotations": True, "queryType": "tags", **columns},
        }
    ]


def _variables(q: Queries, uid: str) -> list[Json]:
    sim = _matches(TAG_SIMULATION, VAR_SIMULATION)
    run_runners = _variable(
        VAR_RUN_RUNNER, "Runners of the run", run_runners_query(q.users), uid, multi=True, include_all=True
    )
    # Hidden and always "All", with no allValue: Grafana then sends every option, (a|b|c), i.e.
    # exactly the runners of the selected run.
    run_runners.update({"hide": 2, "allValue": None})
    return [
        _variable(
            VAR_SIMULATION,
            "Simulation",
            f"SHOW TAG VALUES FROM {_q(q.users)} WITH KEY = {_q(TAG_SIMULATION)}",
            uid,
            multi=False,
            include_all=False,
        ),
        _variable(
            VAR_RUN,
            "Test run",
            f"SHOW TAG VALUES FROM {_q(EVENTS_MEASUREMENT)} WITH KEY = {_q(TAG_RUN)}",
            uid,
            multi=False,
            include_all=True,
        ),
        run_runners,
        _variable(
            VAR_RUNNER,
            "Runner",
            f"SHOW TAG VALUES FROM {_q(q.users)} WITH KEY = {_q(TAG_RUNNER)} "
            f"WHERE {sim} AND {_matches(TAG_RUNNER, VAR_RUN_RUNNER)}",
            uid,
            multi=True,
            include_all=True,
        ),
        _variable(
            VAR_SCENARIO,
            "Scenario",
            f"SHOW TAG VALUES FROM {_q(q.users)} WITH KEY = {_q(TAG_SCENARIO)} WHERE {sim}",
            uid,
            multi=True,
            include_all=True,
        ),
        _variable(
            VAR_REQUEST,
            "Request",
            f"SHOW TAG VALUES FROM {_q(q.requests)} WITH KEY = {_q(TAG_REQUEST)} "
            f"WHERE {sim} AND {_q(TAG_REQUEST)} != {_s(ALL_REQUESTS)}",
            uid,
            multi=True,
            include_all=True,
        ),
    ]


def min_interval_seconds(write_period: int) -> int:
    """The graphs' smallest bucket: MIN_INTERVAL_SECONDS rounded up to a multiple of writePeriod."""
    if write_period < 1:
        raise ValueError(f"writePeriod must be at least 1 second, got {write_period}")
    return -(-MIN_INTERVAL_SECONDS // write_period) * write_period


def _panels(q: Queries, uid: str, write_period: int) -> list[Json]:
    layout = _Layout(interval=f"{min_interval_seconds(write_period)}s")
    exact = "Exact: summed over the selected runners."
    return [
        _panel(
            layout,
            "timeseries",
            "Active users (sum over runners)",
            f"Per scenario; '{ALL_USERS}' is every scenario. Per runner the last value in the bucket, "
            "summed over runners. Gatling counts a user active in each window it was alive in.",
            [_target("A", q.active_users(), uid, alias="$tag_scenario")],
            uid,
            unit="short",
            width=12,
        ),
        _panel(
            layout,
            "timeseries",
            "Requests/s (sum over runners)",
            f"{exact} Responses in each bucket divided by its length (Gatling's count is per window).",
            [_target("A", q.rate("all"), uid, alias="all"), _target("B", q.rate("ok"), uid, alias="ok")],
            uid,
            unit="reqps",
            width=12,
        ),
        _panel(
            layout,
            "timeseries",
            "Errors/s (KO, sum over runners)",
            exact,
            [_target("A", q.rate("ko"), uid, alias="ko")],
            uid,
            unit="reqps",
            width=8,
        ),
        _panel(
            layout,
            "timeseries",
            "Error ratio (KO / all)",
            exact,
            [_target("A", q.error_ratio(), uid, alias="error ratio")],
            uid,
            unit="percent",
            width=8,
        ),
        _panel(
            layout,
            "stat",
            "Error ratio over the time range",
            exact,
            [_target("A", q.error_ratio_overall(), uid, table=True)],
            uid,
            unit="percent",
            width=8,
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value",
                "graphMode": "none",
                "textMode": "value",
            },
        ),
        _panel(
            layout,
            "timeseries",
            "Response time percentiles (approximation: upper bound across runners)",
            "Percentiles cannot be combined across runners or windows. Each line is the largest window "
            "percentile over the selected runners in the bucket: an upper bound of the true percentile.",
            [_target("A", q.percentiles(), uid)],
            uid,
            unit="ms",
            width=12,
        ),
        _panel(
            layout,
            "timeseries",
            "Mean response time (weighted over runners)",
            "sum(mean * count) / sum(count): exact up to Gatling's whole-millisecond window means.",
            [_target("A", q.mean_response_time(), uid, alias="mean")],
            uid,
            unit="ms",
            width=12,
        ),
        _panel(
            layout,
            "timeseries",
            "Requests/s per request (sum over runners)",
            exact,
            [_target("A", q.request_rate(), uid, alias="$tag_group $tag_request")],
            uid,
            unit="reqps",
            width=12,
        ),
        _panel(
            layout,
            "timeseries",
            "p95 per request (approximation: upper bound across runners)",
            "Largest window p95 over the selected runners: an upper bound of the true p95.",
            [_target("A", q.request_p95(), uid, alias="$tag_group $tag_request")],
            uid,
            unit="ms",
            width=12,
        ),
        _panel(
            layout,
            "table",
            "Requests over the time range",
            "Counts and error % exact (summed over runners); mean weighted; p95 an upper bound; max exact.",
            [_target("A", q.request_table(), uid, table=True)],
            uid,
            unit="short",
            width=24,
            height=10,
            options={"showHeader": True, "sortBy": [{"desc": True, "displayName": "requests"}]},
        ),
    ]


def build_gatling_dashboard(
    *,
    requests_measurement: str = "gatling",
    users_measurement: str = "users",
    datasource_uid: str = "influxdb-gatling",
    write_period: int = 1,
) -> dict[str, Any]:
    """The Grafana dashboard JSON model; deterministic for equal arguments.

    write_period is Gatling's graphite writePeriod (seconds): graph buckets are whole windows.
    """
    q = Queries(requests=requests_measurement, users=users_measurement)
    return {
        "uid": DASHBOARD_UID,
        "title": DASHBOARD_TITLE,
        "tags": ["gatling", "loadtest-monitor"],
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": REFRESH,
        "time": {"from": "now-15m", "to": "now"},
        "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m", "5m"]},
        "annotations": {"list": _annotations(datasource_uid)},
        "links": [],
        "templating": {"list": _variables(q, datasource_uid)},
        "panels": _panels(q, datasource_uid, write_period),
    }


def main(argv: list[str] | None = None) -> int:
    """Prints the dashboard with default names, for images that provision it from a file."""
    del argv
    print(json.dumps(build_gatling_dashboard(), sort_keys=True, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
