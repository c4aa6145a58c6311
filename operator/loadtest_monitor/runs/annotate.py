"""The calls the run controller makes to mark a run's start and end in the monitor's InfluxDB.

The lines come from runs/annotations.py (pure); the writer is the InfluxDB client of runs/influx.py
(`InfluxClient.write_lines(database, lines)`), or anything with that method. A mark is a
convenience for people looking at the dashboard: a write that fails is logged and reported back,
never raised, so it cannot change a run's phase or verdict.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from loadtest_monitor.runs.annotations import end_lines, runner_lines, start_lines

log = logging.getLogger(__name__)


class LineWriter(Protocol):
    def write_lines(self, database: str, lines: Sequence[str]) -> object: ...


def _write(writer: LineWriter, database: str, lines: list[str], what: str) -> str | None:
    try:
        writer.write_lines(database, lines)
    except Exception as err:  # any client failure (refused, auth, 4xx/5xx): the run goes on
        message = f"{what}: the annotation was not written to InfluxDB database {database}: {err}"
        log.warning(message)
        return message
    return None


def mark_start(
    writer: LineWriter,
    database: str,
    *,
    namespace: str,
    monitor: str,
    run: str,
    at: dt.datetime,
    runners: Iterable[str] = (),
) -> str | None:
    """Writes the start annotation and the runners known so far; None, or why it was not written."""
    lines = start_lines(namespace, monitor, run, at, runners)
    return _write(writer, database, lines, f"{namespace}/{run} start")


def mark_end(
    writer: LineWriter,
    database: str,
    *,
    namespace: str,
    monitor: str,
    run: str,
    at: dt.datetime,
    verdict: str,
    reason: str = "",
    message: str = "",
    runners: Iterable[str] = (),
    start: dt.datetime | None = None,
) -> str | None:
    """Writes the end annotation with the verdict (and the run's region from `start`); None, or why
    it was not written."""
    lines = end_lines(
        namespace, monitor, run, at, verdict, reason=reason, message=message, runners=runners, start=start
    )
    return _write(writer, database, lines, f"{namespace}/{run} end")


def mark_runners(
    writer: LineWriter,
    database: str,
    *,
    namespace: str,
    monitor: str,
    run: str,
    start: dt.datetime,
    runners: Iterable[str],
) -> str | None:
    """Records runners that appeared after the start (their Graphite runner names, as runnerData
    lists them), at the run's start time, so the dashboard's `run` variable finds them while the
    run goes on. Writing a runner again is harmless (same point)."""
    lines = runner_lines(namespace, monitor, run, runners, start)
    return _write(writer, database, lines, f"{namespace}/{run} runners") if lines else None
