"""The whole-run summary a runner sends at the end of a complete run: what the verdict is made of.

Per request (with its groups) and status (ok, ko), the histogram of every response time of the
run, in the HdrHistogram buckets Gatling's own statistics use (histogram.py), plus the span of
the run: the log's start and its latest record. The operator merges the runners' histograms and
computes every figure from them (runs/stats.py); counts are sums of integers, so they are exact.

Paths and measurements are the Graphite contract's (graphite.SUMMARY_ROOT, SPAN_ROOT). Bounded for
any log: at most `max_series` distinct request paths get their own histograms, the responses of
any further name are counted under `_other` (as the live lines do), and a histogram holds at most
one entry per bucket (~1,300 for times up to a minute, ~3,200 up to 2^31 ms). Every line is short
(MAX_PATH_CHARS), and the lines are handed to the sender in payloads of whole lines, which the
UDP sender cuts only at line ends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from loadtest_monitor.forward import histogram as hist
from loadtest_monitor.forward.aggregate import DEFAULT_MAX_SERIES, MAX_PATH_CHARS
from loadtest_monitor.forward.records import FORGOTTEN, Record, RequestRecord, UserRecord
from loadtest_monitor.graphite import (
    OVERFLOW,
    SEPARATOR,
    SPAN_FIELDS,
    SPAN_ROOT,
    SUMMARY_ROOT,
    SUMMARY_STATUSES,
    runner_segment,
    segment,
    summary_request,
)

log = logging.getLogger("loadtest_monitor.forward")

#: Lines per payload handed to the sender: a few hundred KiB, so one slow request never holds a
#: large buffer, and the oldest-first dropping of a full buffer never takes a whole summary.
LINES_PER_PAYLOAD = 2000


@dataclass(frozen=True)
class SummarySettings:
    runner: str
    simulation_id: str
    max_series: int = DEFAULT_MAX_SERIES


class RunSummary:
    """Whole-run histograms of one runner's log, fed with the same records as the live windows."""

    def __init__(self, settings: SummarySettings, start_ms: int) -> None:
        self.settings = settings
        self.start_ms = start_ms
        self._root = SEPARATOR.join((runner_segment(settings.runner), segment(settings.simulation_id)))
        # request segment -> (ok, ko) histograms; at most max_series + 1 (`_other`) keys
        self._histograms: dict[str, tuple[hist.Histogram, hist.Histogram]] = {}
        self._keys: dict[tuple[tuple[str, ...], str], str] = {}  # memo, bounded like aggregate's
        self.last_ms = 0  # latest record time (ms after the start)
        self.responses = 0
        self.overflowed = 0

    def add(self, records: Iterable[Record]) -> None:
        last = self.last_ms
        for record in records:
            kind = type(record)
            if kind is RequestRecord:
                self._add_response(record)  # type: ignore[arg-type]
                time = record.end  # type: ignore[union-attr]
            elif kind is UserRecord:
                time = record.time  # type: ignore[union-attr]
            else:
                continue
            if time > last:
                last = time
        self.last_ms = last

    def _add_response(self, record: RequestRecord) -> None:
        key = self._keys.get((record.groups, record.name)) or self._key(record.groups, record.name)
        pair = self._histograms.get(key)
        if pair is None:
            pair = self._histograms[key] = ({}, {})
        elapsed = record.end - record.start
        # Gatling: responseTime = max(1, end - start), and the histogram records max(time, 1).
        bucket = hist.bucket_of(elapsed) if elapsed > 1 else 1
        counts = pair[0 if record.ok else 1]
        counts[bucket] = counts.get(bucket, 0) + 1
        self.responses += 1
        if key == OVERFLOW:
            self.overflowed += 1

    def _key(self, groups: tuple[str, ...], name: str) -> str:
        if name == FORGOTTEN or FORGOTTEN in groups:
            key = OVERFLOW
        else:
            key = summary_request(groups, name)
            if len(key) + len(self._root) + len(SUMMARY_ROOT) > MAX_PATH_CHARS or (
                key not in self._histograms and len(self._histograms) >= self.settings.max_series
            ):
                key = OVERFLOW
        if len(self._keys) >= 4 * self.settings.max_series:
            self._keys.clear()
        self._keys[(groups, name)] = key
        return key

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.last_ms

    def payloads(self) -> list[bytes]:
        """The summary's lines, stamped with the epoch second of the run's end: forwarding the same
        log again writes the same points, which InfluxDB keeps once."""
        suffix = f" {self.end_ms // 1000}\n"
        lines: list[str] = []
        for key in sorted(self._histograms):
            for status, counts in zip(SUMMARY_STATUSES, self._histograms[key], strict=True):
                base = f"{SUMMARY_ROOT}.{self._root}.{key}.{status}."
                lines.extend(f"{base}{bucket} {count}{suffix}" for bucket, count in sorted(counts.items()))
        # Last, so that over TCP (in order, whole payloads re-sent) the span means "all arrived".
        span = f"{SPAN_ROOT}.{self._root}."
        values = (self.start_ms, self.end_ms, self.responses)
        lines.extend(f"{span}{name} {value}{suffix}" for name, value in zip(SPAN_FIELDS, values, strict=True))
        return [
            "".join(lines[i : i + LINES_PER_PAYLOAD]).encode("utf-8")
            for i in range(0, len(lines), LINES_PER_PAYLOAD)
        ]
