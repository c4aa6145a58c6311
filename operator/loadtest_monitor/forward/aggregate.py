"""Per-window aggregation equal to what Gatling 3.11.5's Graphite writer sent.

Facts from Gatling 3.11.5 (io.gatling.graphite.GraphiteDataWriter and its buffers):

- A flush every writePeriod, starting one period after the run starts; each flush is one payload
  of `path value epochSeconds` lines. Here window k holds the records whose time (a response's
  end, a user's start or end) falls in [k, k+1) x writePeriod after the run start, and is stamped
  with the epoch second of its end: the LOG's time, so a finished log gives the same series as a
  live one, and two windows never share a second.
- Users, per scenario and for `allUsers`: `active` = users started up to this window minus users
  ended up to the PREVIOUS window (a user ending now still counts once), `done` = users ended so
  far. `waiting` (the injection profile's total minus those started) is not sent: the log does not
  carry the profile's total, and a guessed number would be wrong.
- Requests: one buffer per request path (groups + name) and one for allRequests, created at the
  first response; from then on every window sends its ok/ko/all statistics (histogram.py), or only
  `count 0` for a status without responses in that window. Group and error records are not sent.
- light = true keeps allRequests and users only.

Bounded for any log (a request name with an id in it gives one name per response): at most
`max_series` distinct request paths and as many scenarios get their own series; the records of
any further name are counted in the request (or scenario) `_other`, with one warning. So every
window has at most about 27 x (max_series + 2) request lines and 2 x (max_series + 2) users lines,
and the forwarder's memory does not grow with the number of names. Names are made path segments
by the Graphite contract (loadtest_monitor.graphite): two names with the same segment share it.

A record can arrive after its window was sent (Gatling logs a response when it completes, and
the log grows in buffered chunks): the window is re-sent with the full numbers, together with
every later window already sent (the user counts are cumulative). InfluxDB keeps one point per
series and timestamp, so the re-sent window replaces the early one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from loadtest_monitor.forward import histogram as hist
from loadtest_monitor.forward.records import FORGOTTEN, Record, RequestRecord, RunHeader, UserRecord
from loadtest_monitor.graphite import (
    ALL_REQUESTS,
    ALL_USERS,
    OVERFLOW,
    SEPARATOR,
    STATUSES,
    percentile_names,
    prefix_path,
    request_segment,
    scenario_segment,
    segment,
)

log = logging.getLogger("loadtest_monitor.forward")

#: Distinct request paths (and, apart, scenarios) with their own series; the rest go to `_other`.
DEFAULT_MAX_SERIES = 1000
#: A request path longer than this (groups nested very deep) is counted in `_other`: its line
#: must fit in one UDP datagram and its measurement in InfluxDB's 64 KiB series key.
MAX_PATH_CHARS = 4000
#: The memo of names already turned into paths is dropped when it holds this many per series
#: (many raw names can share one sanitised path, so the memo is bounded on its own).
_MEMO_PER_SERIES = 4
# Memory bound of the sent windows kept for corrections (about 100 bytes per bucket).
MAX_HISTOGRAM_ENTRIES = 200_000
MIN_KEPT_WINDOWS = 5


@dataclass(frozen=True)
class WindowSettings:
    prefix: str  # rootPathPrefix with the runner segment, as Gatling used it (not sanitised)
    simulation_id: str
    write_period_ms: int = 1000
    light: bool = False
    percentiles: tuple[float, ...] = (50.0, 75.0, 95.0, 99.0)
    max_series: int = DEFAULT_MAX_SERIES


@dataclass(frozen=True)
class Payload:
    """One window's lines, ready for Graphite."""

    window: int
    epoch: int
    data: bytes
    lines: int
    resend: bool


class _Window:
    __slots__ = ("all", "requests", "users")

    def __init__(self) -> None:
        self.users: dict[str, list[int]] = {}  # scenario -> [started, ended] in this window
        self.requests: dict[str, tuple[hist.Histogram, hist.Histogram]] = {}  # path -> (ok, ko)
        self.all: tuple[hist.Histogram, hist.Histogram] | None = None

    def entries(self) -> int:
        """Histogram buckets held: what the window costs in memory."""
        total = sum(len(ok) + len(ko) for ok, ko in self.requests.values())
        return total + (len(self.all[0]) + len(self.all[1]) if self.all else 0)


class Aggregator:
    """Collects records into windows and renders the windows that are due."""

    def __init__(self, settings: WindowSettings, header: RunHeader, retention_windows: int = 600) -> None:
        self.settings = settings
        self.start_ms = header.start_ms
        self._period = settings.write_period_ms
        self._root = f"{prefix_path(settings.prefix)}{SEPARATOR}{segment(settings.simulation_id)}"
        self._overflow_path = f"{self._root}{SEPARATOR}{OVERFLOW}"
        self._metric_names = ("count", "min", "max", "mean", "stdDev", *percentile_names(settings.percentiles))
        self._retention = max(retention_windows, 2)
        self._windows: dict[int, _Window] = {}
        self._first_retained = 0
        self._base: dict[str, list[int]] = {}  # scenario -> [started, ended] before _first_retained
        self._next = 0  # first window never sent
        self._dirty_from: int | None = None
        self._path_since: dict[str, int] = {}  # path -> first window with a response (<= max_series + 1)
        self._all_since: int | None = None
        self._paths: dict[tuple[tuple[str, ...], str], str] = {}  # memo: (groups, name) -> path
        self._scenario_since: dict[str, int] = {}  # scenario segment -> first window (<= max_series + 1)
        self._scenarios: dict[str, str] = {}  # memo: scenario name -> its segment
        self.overflowed = 0  # records counted in `_other` because their name was beyond the cap
        self._warned_overflow = False
        for scenario in header.scenarios or ():
            self._scenario_since.setdefault(self._scenario_key(scenario), 0)
        self.watermark: int | None = None  # latest record time seen (ms after the run start)
        self.last_window: int | None = None  # latest window holding a record
        self.records = 0
        self.folded_late = 0  # records older than the retained windows, counted in the oldest one

    # -- input -------------------------------------------------------------------------------------

    def add(self, records: Iterable[Record]) -> None:
        period = self._period
        light = self.settings.light
        windows = self._windows
        watermark = self.watermark if self.watermark is not None else -(1 << 62)
        last = self.last_window if self.last_window is not None else -1
        count = 0
        for record in records:
            kind = type(record)
            if kind is RequestRecord:
                time = record.end  # type: ignore[union-attr]
            elif kind is UserRecord:
                time = record.time  # type: ignore[union-attr]
            else:
                continue  # group and error records were never sent to Graphite
            count += 1
            if time > watermark:
                watermark = time
            index = time // period if time > 0 else 0
            if index < self._next:
                index = self._late(index)
            if index > last:
                last = index
            window = windows.get(index)
            if window is None:
                window = windows[index] = _Window()
            if kind is UserRecord:
                self._add_user(window, index, record)  # type: ignore[arg-type]
            else:
                self._add_response(window, index, record, light)  # type: ignore[arg-type]
        self.records += count
        if count:
            self.watermark = watermark
            self.last_window = last

    def _late(self, index: int) -> int:
        if index < self._first_retained:
            self.folded_late += 1
            index = self._first_retained
        if self._dirty_from is None or index < self._dirty_from:
            self._dirty_from = index
        return index

    def _add_user(self, window: _Window, index: int, record: UserRecord) -> None:
        scenario = self._scenarios.get(record.scenario) or self._scenario_key(record.scenario)
        counts = window.users.get(scenario)
        if counts is None:
            counts = window.users[scenario] = [0, 0]
        counts[0 if record.start else 1] += 1
        since = self._scenario_since.get(scenario)
        if since is None or index < since:
            self._scenario_since[scenario] = index

    def _scenario_key(self, name: str) -> str:
        """The scenario's segment, or `_other` once max_series distinct scenarios are known."""
        key = OVERFLOW if name == FORGOTTEN else scenario_segment(name)
        if key not in self._scenario_since and len(self._scenario_since) >= self.settings.max_series:
            key = self._overflow(f"scenario {name[:80]!r}", OVERFLOW)
        if len(self._scenarios) >= _MEMO_PER_SERIES * self.settings.max_series:
            self._scenarios.clear()
        self._scenarios[name] = key
        return key

    def _request_path(self, groups: tuple[str, ...], name: str) -> str:
        """The request's path, or `_other`'s once max_series distinct paths are known."""
        if name == FORGOTTEN or FORGOTTEN in groups:
            path = self._overflow("a request whose name the decoder no longer holds", self._overflow_path)
        else:
            segments = [*(segment(g) for g in groups), request_segment(name)]
            path = SEPARATOR.join([self._root, *segments])
            if len(path) > MAX_PATH_CHARS:
                path = self._overflow(f"a request path of {len(path)} characters", self._overflow_path)
            elif path not in self._path_since and len(self._path_since) >= self.settings.max_series:
                path = self._overflow(f"request {SEPARATOR.join(segments)[:80]!r}", self._overflow_path)
        if len(self._paths) >= _MEMO_PER_SERIES * self.settings.max_series:
            self._paths.clear()
        self._paths[(groups, name)] = path
        return path

    def _overflow(self, what: str, key: str) -> str:
        if not self._warned_overflow:
            self._warned_overflow = True
            log.warning(
                "%s and every further name beyond %d distinct request paths or scenarios are counted in "
                "the series %r (--max-series raises the cap)",
                what, self.settings.max_series, OVERFLOW,
            )
        return key

    def _add_response(self, window: _Window, index: int, record: RequestRecord, light: bool) -> None:
        elapsed = record.end - record.start
        # Gatling: responseTime = max(1, end - start), then the histogram records max(time, 1).
        key = hist.bucket_of(elapsed) if elapsed > 1 else 1
        status = 0 if record.ok else 1
        pair = window.all
        if pair is None:
            pair = window.all = ({}, {})
        counts = pair[status]
        counts[key] = counts.get(key, 0) + 1
        if self._all_since is None or index < self._all_since:
            self._all_since = index
        if light:
            return
        path = self._paths.get((record.groups, record.name)) or self._request_path(record.groups, record.name)
        if path is self._overflow_path:
            self.overflowed += 1
        pair = window.requests.get(path)
        if pair is None:
            pair = window.requests[path] = ({}, {})
        counts = pair[status]
        counts[key] = counts.get(key, 0) + 1
        since = self._path_since.get(path)
        if since is None or index < since:
            self._path_since[path] = index

    # -- output ------------------------------------------------------------------------------------

    def window_end_ms(self, index: int) -> int:
        """End of window `index` in milliseconds after the run start."""
        return (index + 1) * self._period

    def take(self, upto: int) -> list[Payload]:
        """Windows due up to `upto` (inclusive) never sent, plus re-sends of corrected ones."""
        first = self._dirty_from if self._dirty_from is not None else self._next
        last = max(upto, self._next - 1)
        if last < first:
            return []
        payloads = self._render(first, last)
        self._dirty_from = None
        self._next = last + 1
        self._prune()
        return payloads

    def finish(self) -> list[Payload]:
        """Everything left, through the last window holding a record."""
        last = self.last_window if self.last_window is not None else self._next - 1
        return self.take(max(last, self._next - 1))

    def _render(self, first: int, last: int) -> list[Payload]:
        cumulative = {s: list(c) for s, c in self._base.items()}
        payloads = []
        for index in range(self._first_retained, last + 1):
            window = self._windows.get(index)
            ended_before = {s: c[1] for s, c in cumulative.items()}
            if window is not None:
                for scenario, (started, ended) in window.users.items():
                    counts = cumulative.setdefault(scenario, [0, 0])
                    counts[0] += started
                    counts[1] += ended
            if index >= first:
                payloads.append(self._payload(index, window, cumulative, ended_before, resend=index < self._next))
        return payloads

    def _payload(
        self,
        index: int,
        window: _Window | None,
        cumulative: dict[str, list[int]],
        ended_before: dict[str, int],
        resend: bool,
    ) -> Payload:
        epoch = (self.start_ms + self.window_end_ms(index)) // 1000
        suffix = f" {epoch}\n"
        out: list[str] = []
        users_root = f"{self._root}.users."
        all_active = all_done = 0
        for scenario, since in self._scenario_since.items():
            started, ended = cumulative.get(scenario, (0, 0))
            active = started - ended_before.get(scenario, 0)
            all_active += active
            all_done += ended
            if since <= index:
                path = users_root + scenario
                out.append(f"{path}.active {active}{suffix}{path}.done {ended}{suffix}")
        path = users_root + ALL_USERS
        out.append(f"{path}.active {all_active}{suffix}{path}.done {all_done}{suffix}")
        if self._all_since is not None and self._all_since <= index:
            self._status_lines(out, f"{self._root}.{ALL_REQUESTS}", window.all if window else None, suffix)
        for path, since in self._path_since.items():
            if since <= index:
                pair = window.requests.get(path) if window is not None else None
                self._status_lines(out, path, pair, suffix)
        text = "".join(out)
        return Payload(index, epoch, text.encode("utf-8"), text.count("\n"), resend)

    def _status_lines(
        self, out: list[str], path: str, pair: tuple[hist.Histogram, hist.Histogram] | None, suffix: str
    ) -> None:
        ok, ko = pair if pair is not None else ({}, {})
        names = self._metric_names
        for status, counts in zip(STATUSES, (ok, ko, hist.merged(ok, ko)), strict=True):
            metrics = hist.metrics(counts, self.settings.percentiles)
            base = f"{path}.{status}."
            if metrics is None:
                out.append(f"{base}count 0{suffix}")
                continue
            values = (metrics.count, metrics.min, metrics.max, metrics.mean, metrics.std_dev, *metrics.percentiles)
            out.append("".join(f"{base}{name} {value}{suffix}" for name, value in zip(names, values, strict=True)))

    def _prune(self) -> None:
        """Forget windows too old to be corrected; their user counts move into the base.

        Kept: the windows of the retention time, but only as many of the newest sent ones as fit in
        MAX_HISTOGRAM_ENTRIES (a busy run has hundreds of distinct response times per path and
        window), and always the last MIN_KEPT_WINDOWS. At a rate that fills the budget, the log's
        8 KiB chunks arrive within a fraction of a second, so nothing needs a long correction window.
        """
        keep_from = self._next - self._retention
        entries = 0
        for index in range(self._next - 1, max(keep_from, self._first_retained) - 1, -1):
            window = self._windows.get(index)
            if window is not None:
                entries += window.entries()
            if entries > MAX_HISTOGRAM_ENTRIES and index < self._next - MIN_KEPT_WINDOWS:
                keep_from = index + 1
                break
        while self._first_retained < keep_from:
            window = self._windows.pop(self._first_retained, None)
            if window is not None:
                for scenario, (started, ended) in window.users.items():
                    counts = self._base.setdefault(scenario, [0, 0])
                    counts[0] += started
                    counts[1] += ended
            self._first_retained += 1
