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
from dataclasses import dataclass
from typing import Any

from loadtest_monitor.graphite import ALL_REQUESTS, ALL_USERS
from loadtest_monitor.render.dashboard_queries import (
    VAR_REQUEST,
    VAR_RUN,
    VAR_RUN_RUNNER,
    VAR_RUNNER,
    VAR_SCENARIO,
    VAR_SIMULATION,
    Queries,
    ident,
    literal,
    matches,
    where,
)
from loadtest_monitor.render.gatling import (
    TAG_REQUEST,
    TAG_RUNNER,
    TAG_SCENARIO,
    TAG_SIMULATION,
    USERS_MEASUREMENT,
)
from loadtest_monitor.render.gatling import requests_measurement as gatling_requests_measurement
from loadtest_monitor.runs.annotations import (
    EVENTS_MEASUREMENT,
    FIELD_END_MS,
    RUNNERS_MEASUREMENT,
    TAG_EVENT,
    TAG_RUN,
    TAG_VERDICT,
)
from loadtest_monitor.spec.monitor import parse_spec

Json = dict[str, Any]

DASHBOARD_UID = "loadtest-monitor-gatling"
# The uid of the InfluxDB datasource Grafana is provisioned with (render/grafana.py); every panel queries it.
DATASOURCE_UID = "influxdb-gatling"
DASHBOARD_TITLE = "Gatling realtime (loadtest-monitor)"
REFRESH = "5s"
# The smallest time bucket of the graphs, rounded up to whole Gatling windows (writePeriod): a
# bucket holding sometimes N and sometimes N+1 windows would make rates jump.
MIN_INTERVAL_SECONDS = 5
GRID_WIDTH = 24
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
        f"SHOW TAG VALUES FROM {ident(RUNNERS_MEASUREMENT)}, {ident(users_measurement)} "
        f"WITH KEY = {ident(TAG_RUNNER)} WHERE {matches(TAG_RUN, VAR_RUN)}"
    )


def run_annotation_query() -> str:
    """Start and end of the selected run(s) in the time range, with text, title and verdict."""
    return (
        f'SELECT "text", "title", {ident(FIELD_END_MS)}, {ident(TAG_RUN)}, {ident(TAG_EVENT)}, {ident(TAG_VERDICT)} '
        f"FROM {ident(EVENTS_MEASUREMENT)} WHERE {where(matches(TAG_RUN, VAR_RUN))}"
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
    sim = matches(TAG_SIMULATION, VAR_SIMULATION)
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
            f"SHOW TAG VALUES FROM {ident(q.users)} WITH KEY = {ident(TAG_SIMULATION)}",
            uid,
            multi=False,
            include_all=False,
        ),
        _variable(
            VAR_RUN,
            "Test run",
            f"SHOW TAG VALUES FROM {ident(EVENTS_MEASUREMENT)} WITH KEY = {ident(TAG_RUN)}",
            uid,
            multi=False,
            include_all=True,
        ),
        run_runners,
        _variable(
            VAR_RUNNER,
            "Runner",
            f"SHOW TAG VALUES FROM {ident(q.users)} WITH KEY = {ident(TAG_RUNNER)} "
            f"WHERE {sim} AND {matches(TAG_RUNNER, VAR_RUN_RUNNER)}",
            uid,
            multi=True,
            include_all=True,
        ),
        _variable(
            VAR_SCENARIO,
            "Scenario",
            f"SHOW TAG VALUES FROM {ident(q.users)} WITH KEY = {ident(TAG_SCENARIO)} WHERE {sim}",
            uid,
            multi=True,
            include_all=True,
        ),
        _variable(
            VAR_REQUEST,
            "Request",
            f"SHOW TAG VALUES FROM {ident(q.requests)} WITH KEY = {ident(TAG_REQUEST)} "
            f"WHERE {sim} AND {ident(TAG_REQUEST)} != {literal(ALL_REQUESTS)}",
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


# The description of every panel whose numbers are sums over runners.
EXACT = "Exact: summed over the selected runners."


def _single_value() -> Json:
    """Options of a stat panel showing one number: the last value of a query over the whole range.
    (A fresh dict each call: every dashboard built is the caller's to change.)"""
    return {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "none",
        "textMode": "value",
    }


def _panels(q: Queries, uid: str, write_period: int) -> list[Json]:
    """Top to bottom, in the order the layout places them: traffic first, then response times."""
    layout = _Layout(interval=f"{min_interval_seconds(write_period)}s")
    traffic = _traffic_panels(layout, q, uid)
    return [*traffic, *_response_time_panels(layout, q, uid)]


def _traffic_panels(layout: _Layout, q: Queries, uid: str) -> list[Json]:
    """Users, rates and errors."""
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
            f"{EXACT} Responses in each bucket divided by its length (Gatling's count is per window).",
            [_target("A", q.rate("all"), uid, alias="all"), _target("B", q.rate("ok"), uid, alias="ok")],
            uid,
            unit="reqps",
            width=12,
        ),
        _panel(
            layout,
            "timeseries",
            "Errors/s (KO, sum over runners)",
            EXACT,
            [_target("A", q.rate("ko"), uid, alias="ko")],
            uid,
            unit="reqps",
            width=8,
        ),
        _panel(
            layout,
            "timeseries",
            "Error ratio (KO / all)",
            EXACT,
            [_target("A", q.error_ratio(), uid, alias="error ratio")],
            uid,
            unit="percent",
            width=8,
        ),
        _panel(
            layout,
            "stat",
            "Error ratio over the time range",
            EXACT,
            [_target("A", q.error_ratio_overall(), uid, table=True)],
            uid,
            unit="percent",
            width=8,
            options=_single_value(),
        ),
    ]


def _response_time_panels(layout: _Layout, q: Queries, uid: str) -> list[Json]:
    """Percentiles, means and the per-request views."""
    return [
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
            EXACT,
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
    requests_measurement: str | None = None,
    users_measurement: str = USERS_MEASUREMENT,
    datasource_uid: str = DATASOURCE_UID,
    write_period: int | None = None,
) -> dict[str, Any]:
    """The Grafana dashboard JSON model; deterministic for equal arguments.

    write_period is Gatling's graphite writePeriod (seconds): graph buckets are whole windows.
    What is not given is a default spec's (its rootPathPrefix names the requests' measurement).
    """
    if requests_measurement is None or write_period is None:
        defaults = parse_spec({}).gatling
        if requests_measurement is None:
            requests_measurement = gatling_requests_measurement(defaults)
        write_period = defaults.write_period if write_period is None else write_period
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
