"""The Gatling dashboard model: deterministic data, the variables, panels and queries it promises.
(Its queries are executed against a real InfluxDB in tests/e2e/test_dashboard_queries.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from loadtest_monitor.render.dashboard import (
    DASHBOARD_UID,
    GRID_WIDTH,
    REFRESH,
    build_gatling_dashboard,
)


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [t["query"] for p in dashboard["panels"] for t in p["targets"]]


def _panel(dashboard: dict[str, Any], starts: str) -> dict[str, Any]:
    return next(p for p in dashboard["panels"] if p["title"].startswith(starts))


@pytest.fixture
def dashboard() -> dict[str, Any]:
    return build_gatling_dashboard()


def test_deterministic_and_json_serialisable() -> None:
    a, b = build_gatling_dashboard(), build_gatling_dashboard()
    assert a == b
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a is not b and a["panels"] is not b["panels"]  # fresh data each call, safe to mutate


def test_module_prints_the_same_dashboard() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loadtest_monitor.render.dashboard"], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == build_gatling_dashboard()


def test_identity_refresh_and_time(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == DASHBOARD_UID
    assert dashboard["refresh"] == REFRESH == "5s"
    assert REFRESH in dashboard["timepicker"]["refresh_intervals"]
    assert dashboard["time"]["to"] == "now"


def test_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    # Each variable after the ones its query uses (Grafana resolves them in this order).
    assert list(variables) == ["simulation", "run", "run_runner", "runner", "scenario", "request"]
    assert not variables["simulation"]["multi"] and not variables["simulation"]["includeAll"]
    for name in ("runner", "scenario", "request"):
        assert variables[name]["multi"] and variables[name]["includeAll"], name
        assert variables[name]["allValue"] == ".*"
        assert "/^$simulation$/" in variables[name]["query"]
    for v in variables.values():
        assert v["type"] == "query" and v["refresh"] == 2
        assert v["query"].startswith("SHOW TAG VALUES FROM")
    assert "!= 'allRequests'" in variables["request"]["query"]
    # The run: one at a time or All (then nothing is hidden), listed from the run events.
    run = variables["run"]
    assert not run["multi"] and run["includeAll"] and run["allValue"] == ".*"
    assert run["query"] == 'SHOW TAG VALUES FROM "run_events" WITH KEY = "run"'
    # Its runners: hidden, always All and without allValue, so Grafana sends the list itself.
    run_runner = variables["run_runner"]
    assert run_runner["hide"] == 2 and run_runner["includeAll"] and run_runner["allValue"] is None
    assert run_runner["current"]["value"] == ["$__all"]
    assert run_runner["query"] == (
        'SHOW TAG VALUES FROM "run_runners", "users" WITH KEY = "runner" WHERE "run" =~ /^$run$/'
    )
    assert "/^$run_runner$/" in variables["runner"]["query"]


def test_run_annotations_come_from_influxdb_filtered_by_the_run(dashboard: dict[str, Any]) -> None:
    (annotation,) = dashboard["annotations"]["list"]
    query = annotation["query"]
    assert query.startswith('SELECT "text", "title", "end_ms", "run", "event", "verdict" FROM "run_events" ')
    assert query.endswith('WHERE "run" =~ /^$run$/ AND $timeFilter')
    assert annotation["enable"] and not annotation["hide"]
    columns = {"textColumn": "text", "titleColumn": "title", "tagsColumn": "run,event,verdict",
               "timeEndColumn": "end_ms"}
    assert {k: annotation[k] for k in columns} == columns
    target = annotation["target"]
    assert target["query"] == query and target["rawQuery"] and target["fromAnnotations"]
    assert {k: target[k] for k in columns} == columns


def test_panels_titles_say_what_is_exact_and_what_is_approximate(dashboard: dict[str, Any]) -> None:
    titles = [p["title"] for p in dashboard["panels"]]
    assert "Active users (sum over runners)" in titles
    assert "Requests/s (sum over runners)" in titles
    assert "Errors/s (KO, sum over runners)" in titles
    assert any(t.startswith("Error ratio") for t in titles)
    percentile_panels = [p for p in dashboard["panels"] if "percentile" in p["title"].lower() or "p95" in p["title"]]
    assert len(percentile_panels) == 2
    for p in percentile_panels:
        assert "approximation" in p["title"] and "upper bound" in p["title"]
    assert _panel(dashboard, "Requests over the time range")["type"] == "table"


def test_layout_ids_and_grid(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= GRID_WIDTH
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, f"{p['title']} overlaps another panel"
        cells |= area


def test_every_query_is_bounded_in_time_and_raw_influxql(dashboard: dict[str, Any]) -> None:
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            q = target["query"]
            assert target["rawQuery"] is True
            assert target["datasource"] == {"type": "influxdb", "uid": "influxdb-gatling"}
            assert "$timeFilter" in q and q.count("(") == q.count(")")
            assert "/^$simulation$/" in q and "/^$runner$/" in q and "/^$run_runner$/" in q
            if panel["type"] == "timeseries":
                assert "GROUP BY time($__interval)" in q and panel["interval"] == "5s"
            else:
                assert "time($__interval)" not in q and target["resultFormat"] == "table"


def test_rates_divide_window_counts_by_the_bucket_length(dashboard: dict[str, Any]) -> None:
    for title in ("Requests/s (sum", "Errors/s", "Requests/s per request"):
        for target in _panel(dashboard, title)["targets"]:
            assert 'sum("count") * 1000 / $__interval_ms' in target["query"]


def test_totals_use_allrequests_and_per_request_panels_exclude_it(dashboard: dict[str, Any]) -> None:
    for title in ("Requests/s (sum", "Errors/s", "Error ratio", "Response time percentiles", "Mean"):
        for target in _panel(dashboard, title)["targets"]:
            assert "\"request\" = 'allRequests'" in target["query"], title
    for title in ("Requests/s per request", "p95 per request", "Requests over the time range"):
        q = _panel(dashboard, title)["targets"][0]["query"]
        assert "\"request\" != 'allRequests'" in q and "/^$request$/" in q, title
        assert 'GROUP BY "group", "request"' in q or 'GROUP BY time($__interval), "group", "request"' in q


def test_active_users_take_last_per_runner_then_sum(dashboard: dict[str, Any]) -> None:
    q = _panel(dashboard, "Active users")["targets"][0]["query"]
    assert q.startswith('SELECT sum("active")')
    assert 'last("active")' in q and 'GROUP BY time($__interval), "runner", "scenario"' in q
    assert "/^$scenario$/" in q


def test_measurement_and_datasource_names_are_parameters() -> None:
    d = build_gatling_dashboard(requests_measurement="perf", users_measurement="vu", datasource_uid="ds1")
    queries = _queries(d) + [v["query"] for v in d["templating"]["list"]]
    assert not any('"gatling"' in q or 'FROM "users"' in q for q in queries)
    assert any('FROM "perf"' in q for q in queries) and any('FROM "vu"' in q for q in queries)
    assert {p["datasource"]["uid"] for p in d["panels"]} == {"ds1"}
    assert {v["datasource"]["uid"] for v in d["templating"]["list"]} == {"ds1"}


def test_identifiers_are_quoted() -> None:
    d = build_gatling_dashboard(requests_measurement='we"ird')
    assert any('FROM "we\\"ird"' in q for q in _queries(d))


@pytest.mark.parametrize(("write_period", "interval"), [(1, "5s"), (2, "6s"), (3, "6s"), (5, "5s"), (7, "7s")])
def test_graph_buckets_hold_whole_gatling_windows(write_period: int, interval: str) -> None:
    d = build_gatling_dashboard(write_period=write_period)
    assert {p["interval"] for p in d["panels"] if p["type"] == "timeseries"} == {interval}


def test_write_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="writePeriod"):
        build_gatling_dashboard(write_period=0)


# Core panel types of current Grafana; Angular panels (graph, singlestat, table-old …) were removed in 12.
CORE_PANEL_TYPES = {"timeseries", "stat", "table", "text", "bargauge", "gauge"}


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every JSON object in the model, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def test_only_current_core_panel_types(dashboard: dict[str, Any]) -> None:
    types = {p["type"] for p in dashboard["panels"]}
    assert types <= CORE_PANEL_TYPES, types - CORE_PANEL_TYPES
    assert not {"graph", "singlestat", "table-old"} & {o.get("type") for o in _walk(dashboard)}


def test_datasource_referenced_by_uid_everywhere(dashboard: dict[str, Any]) -> None:
    refs = [o["datasource"] for o in _walk(dashboard) if "datasource" in o]
    assert len(refs) == (
        sum(1 + len(p["targets"]) for p in dashboard["panels"])
        + len(dashboard["templating"]["list"])
        + len(dashboard["annotations"]["list"])
    )
    for ref in refs:
        assert ref == {"type": "influxdb", "uid": "influxdb-gatling"}, ref  # never a name string
