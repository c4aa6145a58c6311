"""Reads what the runners sent back from the monitor's InfluxDB: whole-run summaries and freshness.

The summaries are the forwarder's (forward/summary.py), split by the InfluxDB templates the
operator renders (render/gatling.py): measurement `run_summary` (tags runner, simulation, request,
status; one field per HdrHistogram bucket, its count) and `run_span` (fields start_ms, end_ms,
responses). A runner's summary counts only when it arrived whole: its span is there and its
bucket counts add up to the number of responses the span announces (UDP may lose lines).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest_monitor.graphite import SPAN_FIELDS, runner_segment, summary_request_parts
from loadtest_monitor.render.gatling import (
    SPAN_MEASUREMENT,
    SUMMARY_MEASUREMENT,
    TAG_REQUEST,
    TAG_RUNNER,
    TAG_STATUS,
    USERS_MEASUREMENT,
)
from loadtest_monitor.runs.influx import InfluxClient, any_tag_equals, quote_ident
from loadtest_monitor.runs.model import Histogram, RunnerData
from loadtest_monitor.runs.stats import request_name

#: How far back freshness looks for a runner's last live point.
FRESHNESS_LOOKBACK_S = 3600
_START, _END, _RESPONSES = SPAN_FIELDS


@dataclass
class _Rows:
    """One runner's rows, by the time they were stamped with (the run's end second)."""

    spans: dict[int, dict[str, float]] = field(default_factory=dict)
    histograms: dict[int, dict[tuple[str, str], Histogram]] = field(default_factory=dict)


def collect(client: InfluxClient, database: str, runners: Sequence[str], since_ms: int) -> list[RunnerData]:
    """Every runner's whole-run summary stamped at or after since_ms, in one query; a runner
    without a complete summary comes back with found=False."""
    if not runners:
        return []
    segments = {runner_segment(r): r for r in runners}
    q = (
        f"SELECT * FROM {quote_ident(SUMMARY_MEASUREMENT)}, {quote_ident(SPAN_MEASUREMENT)} "
        f"WHERE time >= {int(since_ms)}ms AND {any_tag_equals(TAG_RUNNER, sorted(segments))} GROUP BY *"
    )
    rows: dict[str, _Rows] = {}
    for series in client.query(database, q):
        tags = series.get("tags") or {}
        runner = segments.get(str(tags.get(TAG_RUNNER, "")))
        if runner is None:
            continue
        _add_series(rows.setdefault(runner, _Rows()), series)
    return [_runner_data(r, rows.get(r)) for r in runners]


def _add_series(rows: _Rows, series: Mapping[str, Any]) -> None:
    columns: list[str] = list(series.get("columns") or [])
    tags = series.get("tags") or {}
    for values in series.get("values") or []:
        row = dict(zip(columns, values, strict=True))
        stamp = int(row.pop("time"))
        present = {k: float(v) for k, v in row.items() if v is not None}
        if series.get("name") == SPAN_MEASUREMENT:
            rows.spans.setdefault(stamp, {}).update(present)
            continue
        request, status = str(tags.get(TAG_REQUEST, "")), str(tags.get(TAG_STATUS, ""))
        if not request or not status:
            continue
        counts = rows.histograms.setdefault(stamp, {}).setdefault(
            (request_name(summary_request_parts(request)), status), {}
        )
        for name, value in present.items():
            if name.isdigit():
                counts[int(name)] = counts.get(int(name), 0) + round(value)


def _runner_data(runner: str, rows: _Rows | None) -> RunnerData:
    """The latest complete summary of the runner (a runner forwarded twice writes the same points)."""
    if rows is None:
        return RunnerData(runner, found=False)
    for stamp in sorted(rows.spans, reverse=True):
        span = rows.spans[stamp]
        if not all(name in span for name in SPAN_FIELDS):
            continue
        histograms = {k: v for k, v in rows.histograms.get(stamp, {}).items() if v}
        if sum(sum(h.values()) for h in histograms.values()) != int(span[_RESPONSES]):
            continue  # lines lost on the way: judging it would judge part of the run
        return RunnerData(runner, True, histograms, int(span[_START]), int(span[_END]))
    return RunnerData(runner, found=False)


def freshness(
    client: InfluxClient, database: str, runners: Sequence[str], now_ms: int | None = None
) -> dict[str, float | None]:
    """Seconds since each runner's last live point (its user counts, sent every writePeriod by
    Gatling <= 3.11 and by the forwarder alike); None when none arrived within the lookback."""
    if not runners:
        return {}
    segments = {runner_segment(r): r for r in runners}
    q = (
        f'SELECT last("active") FROM {quote_ident(USERS_MEASUREMENT)} '
        f"WHERE time > now() - {FRESHNESS_LOOKBACK_S}s AND {any_tag_equals(TAG_RUNNER, sorted(segments))} "
        f"GROUP BY {quote_ident(TAG_RUNNER)}"
    )
    now = int(time.time() * 1000) if now_ms is None else now_ms
    ages: dict[str, float | None] = dict.fromkeys(runners)
    for series in client.query(database, q):
        runner = segments.get(str((series.get("tags") or {}).get(TAG_RUNNER, "")))
        values = series.get("values") or []
        if runner is not None and values:
            ages[runner] = max(0.0, (now - int(values[-1][0])) / 1000.0)
    return ages
