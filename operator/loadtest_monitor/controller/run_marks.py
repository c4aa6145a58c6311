"""What the run controller tells the world besides the run's status, at its phase changes:

- the dashboard's run annotations: a start point when the runners are started together, an end
  point with the verdict (runs/annotate.py), written to the monitor's InfluxDB with the admin
  credentials the operator generated for it (a read-only user cannot write);
- the run metrics of /metrics (controller/metrics.py): passed and duration when a run ends, runs
  by phase, a deleted run's series dropped.

Neither may change a run's phase or verdict: a failed write is logged (annotate.py) and the run
goes on. The controller calls `phase_changed` once per phase change it wrote, and `seen` after
every pass (the phase of each run it knows, None once a run is gone).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from loadtest_monitor.controller import metrics
from loadtest_monitor.controller import run_status as rs
from loadtest_monitor.runs import annotate
from loadtest_monitor.runs.annotate import LineWriter
from loadtest_monitor.runs.influx import InfluxError

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class RunMarks(Protocol):
    def phase_changed(
        self, run: Obj, old: Mapping[str, Any], new: Mapping[str, Any], runners: Sequence[str]
    ) -> None: ...

    def seen(self, namespace: str, name: str, monitor: str, phase: str | None) -> None: ...


class NoMarks:
    """For unit tests of the reconciler and anything that runs without a monitor's InfluxDB."""

    def phase_changed(self, run: Obj, old: Mapping[str, Any], new: Mapping[str, Any], runners: Sequence[str]) -> None:
        return None

    def seen(self, namespace: str, name: str, monitor: str, phase: str | None) -> None:
        return None


def _when(value: Any) -> dt.datetime | None:
    epoch = rs.epoch_of(value) if value else None
    return dt.datetime.fromtimestamp(epoch, dt.UTC) if epoch is not None else None


class InfluxMarks:
    """The operator's marks. `writer(namespace, monitor)` gives the monitor's InfluxDB client with
    write rights and its database (InfluxError when it cannot: the monitor is gone, its Secret
    unreadable)."""

    def __init__(self, writer: Callable[[str, str], tuple[LineWriter, str]]) -> None:
        self.writer = writer
        self._phases: dict[tuple[str, str], tuple[str, str]] = {}  # (ns, run) -> (monitor, phase)

    def phase_changed(self, run: Obj, old: Mapping[str, Any], new: Mapping[str, Any], runners: Sequence[str]) -> None:
        meta = run["metadata"]
        namespace, name = str(meta["namespace"]), str(meta["name"])
        monitor = str(((run.get("spec") or {}).get("monitorRef") or {}).get("name") or "")
        phase = str(new.get("phase") or "")
        start = _when(new.get("startAt"))
        if phase == rs.RUNNING and start is not None:
            self._mark(
                namespace, monitor, name,
                lambda w, db: annotate.mark_start(
                    w, db, namespace=namespace, monitor=monitor, run=name, at=start, runners=runners
                ),
            )
        elif phase in rs.ENDED:
            end = _when(new.get("endTime")) or dt.datetime.now(dt.UTC)
            began = _when(new.get("startTime"))
            metrics.record_run_end(namespace, monitor, name, phase, (end - began).total_seconds() if began else 0.0)
            if start is not None:  # a run that never started its runners has no region on the dashboard
                self._mark(
                    namespace, monitor, name,
                    lambda w, db: annotate.mark_end(
                        w, db, namespace=namespace, monitor=monitor, run=name, at=end, verdict=phase,
                        reason=str(new.get("reason") or ""), message=str(new.get("message") or ""),
                        runners=runners, start=start,
                    ),
                )

    def _mark(self, namespace: str, monitor: str, run: str, write: Callable[[LineWriter, str], str | None]) -> None:
        try:
            writer, database = self.writer(namespace, monitor)
        except InfluxError as err:
            log.warning("%s/%s: no run annotation written: %s", namespace, run, err)
            return
        write(writer, database)  # annotate logs a failed write itself and never raises

    def seen(self, namespace: str, name: str, monitor: str, phase: str | None) -> None:
        key = (namespace, name)
        if phase is None:
            gone = self._phases.pop(key, None)
            metrics.forget_run(namespace, gone[0] if gone else monitor, name)
        else:
            self._phases[key] = (monitor, phase or rs.PENDING)
        metrics.set_runs_by_phase(Counter(p for _, p in self._phases.values() if p in metrics.RUN_PHASES))
