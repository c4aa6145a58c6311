"""Reads what the runners sent back from the monitor's InfluxDB: whole-run summaries and freshness.

The summaries are the forwarder's (forward/summary.py), split by the InfluxDB templates the
operator renders (render/gatling.py): measurement `run_summary` (tags runner, simulation, request,
status; one point per HdrHistogram bucket with fields bucket and count, graphite.py says why) and
`run_span` (fields start_ms, end_ms, responses). A runner's summary counts only when it arrived
whole: its span is there and its bucket counts add up to the number of responses the span
announces (UDP may lose lines).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest_monitor.graphite import BUCKET_FIELDS, SPAN_FIELDS, runner_segment, summary_request_parts
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
#: A runner whose last live point is older than this is not sending (writePeriod is at most 60 s).
FRESH_WITHIN_S = 60.0
_START, _END, _RESPONSES = SPAN_FIELDS
_BUCKET, _COUNT = BUCKET_FIELDS


@dataclass
class _Rows:
    """One runner's rows: spans by their time, and every bucket point with its time."""

    spans: dict[int, dict[str, float]] = field(default_factory=dict)
    buckets: list[tuple[int, tuple[str, str], float | None, float | None]] = field(default_factory=list)


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
    is_span = series.get("name") == SPAN_MEASUREMENT
    key = (request_name(summary_request_parts(str(tags.get(TAG_REQUEST, "")))), str(tags.get(TAG_STATUS, "")))
    for values in series.get("values") or []:
        row = dict(zip(columns, values, strict=True))
        stamp = int(row.pop("time"))
        if is_span:
            rows.spans.setdefault(stamp, {}).update({k: float(v) for k, v in row.items() if v is not None})
        elif key[1]:
            rows.buckets.append((stamp, key, row.get(_BUCKET), row.get(_COUNT)))


def _runner_data(runner: str, rows: _Rows | None) -> RunnerData:
    """The latest complete summary of the runner: its span and the bucket points stamped from the
    span's time on (a runner forwarded twice writes the same points again)."""
    if rows is None:
        return RunnerData(runner, found=False)
    complete = [stamp for stamp, span in rows.spans.items() if all(name in span for name in SPAN_FIELDS)]
    if not complete:
        return RunnerData(runner, found=False)
    stamp = max(complete)
    span = rows.spans[stamp]
    histograms: dict[tuple[str, str], Histogram] = {}
    for time_ms, key, bucket, count in rows.buckets:
        if time_ms < stamp:
            continue  # an earlier run of a runner of the same name
        if bucket is None or count is None:
            return RunnerData(runner, found=False)  # half a point: lines lost on the way
        counts = histograms.setdefault(key, {})
        counts[int(bucket)] = counts.get(int(bucket), 0) + round(count)
    if sum(sum(h.values()) for h in histograms.values()) != int(span[_RESPONSES]):
        return RunnerData(runner, found=False)  # lines lost on the way: judging it would judge part of the run
    return RunnerData(runner, True, histograms, int(span[_START]), int(span[_END]))


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


def silent_runners(ages: Mapping[str, float | None], within_s: float = FRESH_WITHIN_S) -> list[str]:
    """The runners of `freshness` whose data is not flowing: nothing seen, or nothing for within_s."""
    return [runner for runner, age in ages.items() if age is None or age > within_s]
