"""The run controller's marks at phase changes (controller/run_marks.py): the dashboard's start and
end points go to the monitor's InfluxDB writer, the run metrics to the operator's registry, and a
failing InfluxDB never raises into the reconcile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from loadtest_monitor.controller import metrics
from loadtest_monitor.controller.run_marks import InfluxMarks
from loadtest_monitor.runs.influx import InfluxError

RUN: dict[str, Any] = {
    "metadata": {"namespace": "perf", "name": "smoke"},
    "spec": {"monitorRef": {"name": "checkout"}},
}
RUNNING = {"phase": "Running", "startTime": "2026-12-06T10:00:00Z", "startAt": "2026-12-06T10:00:05.000Z"}
ENDED = {**RUNNING, "phase": "Failed", "reason": "CriteriaFailed", "message": "p95", "endTime": "2026-12-06T10:01:40Z"}


class Writer:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.lines: list[str] = []

    def write_lines(self, database: str, lines: Sequence[str]) -> object:
        if self.fail:
            raise InfluxError("HTTP 401: authorization failed")
        assert database == "gatling"
        self.lines.extend(lines)
        return None


def sample(name: str, **labels: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(name, labels)


def test_start_and_end_points_carry_the_runners_and_the_verdict() -> None:
    writer = Writer()
    marks = InfluxMarks(lambda ns, mon: (writer, "gatling"))
    marks.phase_changed(RUN, {"phase": "Starting"}, RUNNING, ["smoke-0-a", "smoke-1-b"])
    assert any(line.startswith("run_events,event=start") for line in writer.lines), writer.lines
    assert sum(line.startswith("run_runners,") for line in writer.lines) == 2
    marks.phase_changed(RUN, RUNNING, ENDED, ["smoke-0-a", "smoke-1-b"])
    end = [line for line in writer.lines if line.startswith("run_events,event=end")]
    assert len(end) == 1 and "verdict=Failed" in end[0]
    labels = {"namespace": "perf", "monitor": "checkout", "run": "smoke"}
    assert sample("loadtest_run_passed", **labels) == 0
    assert sample("loadtest_run_duration_seconds", **labels) == 100


def test_a_failing_influxdb_or_a_gone_monitor_never_raises() -> None:
    InfluxMarks(lambda ns, mon: (Writer(fail=True), "gatling")).phase_changed(RUN, RUNNING, ENDED, [])

    def gone(ns: str, mon: str) -> tuple[Writer, str]:
        raise InfluxError("LoadtestMonitor perf/checkout is gone")

    InfluxMarks(gone).phase_changed(RUN, RUNNING, ENDED, [])  # the metrics are still recorded
    assert sample("loadtest_run_passed", namespace="perf", monitor="checkout", run="smoke") == 0


def test_runs_by_phase_and_a_deleted_runs_series_go() -> None:
    marks = InfluxMarks(lambda ns, mon: (Writer(), "gatling"))
    marks.seen("perf", "a", "checkout", "Running")
    marks.seen("perf", "b", "checkout", "Running")
    marks.seen("perf", "c", "checkout", "")
    assert sample("loadtest_runs", phase="Running") == 2 and sample("loadtest_runs", phase="Pending") == 1
    run_a = {**RUN, "metadata": {"namespace": "perf", "name": "a"}}
    marks.phase_changed(run_a, RUNNING, {**ENDED, "phase": "Passed"}, [])
    marks.seen("perf", "a", "checkout", "Passed")
    assert sample("loadtest_run_passed", namespace="perf", monitor="checkout", run="a") == 1
    marks.seen("perf", "a", "", None)
    assert sample("loadtest_run_passed", namespace="perf", monitor="checkout", run="a") is None
    assert sample("loadtest_runs", phase="Passed") == 0 and sample("loadtest_runs", phase="Running") == 1


@pytest.fixture(autouse=True)
def _clean() -> None:
    metrics.set_runs_by_phase({})
