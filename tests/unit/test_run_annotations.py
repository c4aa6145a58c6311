"""The run annotation points (runs/annotations.py), as InfluxDB line protocol. Their round trip
through a real InfluxDB and the dashboard's queries: tests/e2e/test_dashboard_queries.py."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Sequence

import pytest

from loadtest_monitor.runs import annotations as run_annotations
from loadtest_monitor.runs.annotate import mark_end, mark_runners, mark_start
from ltm_harness.ports import free_port

START = dt.datetime(2026, 12, 6, 10, 0, 0, 250000, tzinfo=dt.UTC)
END = dt.datetime(2026, 12, 6, 10, 5, 7, tzinfo=dt.UTC)
START_NS = 1796551200_250000000
END_NS = 1796551507_000000000


def test_start_lines_are_the_event_and_one_point_per_runner() -> None:
    lines = run_annotations.start_lines("perf", "checkout", "smoke", START, ["smoke-1", "smoke-0", "smoke-1"])
    assert lines == [
        'run_events,event=start,monitor=checkout,namespace=perf,run=smoke '
        f'text="perf/smoke started with 2 runner(s): smoke-0, smoke-1",title="smoke started" {START_NS}',
        f"run_runners,monitor=checkout,namespace=perf,run=smoke,runner=smoke-0 present=1i {START_NS}",
        f"run_runners,monitor=checkout,namespace=perf,run=smoke,runner=smoke-1 present=1i {START_NS}",
    ]


def test_start_without_known_runners_is_just_the_event() -> None:
    (line,) = run_annotations.start_lines("perf", "checkout", "smoke", START)
    assert 'text="perf/smoke started",' in line


def test_end_lines_carry_the_verdict_and_make_the_start_a_region() -> None:
    lines = run_annotations.end_lines(
        "perf", "checkout", "smoke", END, "Failed", reason="CriteriaFailed",
        message='p95 of "checkout" 612 ms > 500 ms\nerror ratio 7 % > 1 %', runners=["smoke-0"], start=START,
    )
    assert lines == [
        "run_events,event=end,monitor=checkout,namespace=perf,run=smoke,verdict=Failed "
        'text="Failed: CriteriaFailed: p95 of \\"checkout\\" 612 ms > 500 ms error ratio 7 % > 1 %",'
        f'title="smoke Failed",verdict="Failed" {END_NS}',
        # The start point again, same series and time: InfluxDB adds the field to it.
        f"run_events,event=start,monitor=checkout,namespace=perf,run=smoke end_ms={END_NS // 1_000_000}i {START_NS}",
        f"run_runners,monitor=checkout,namespace=perf,run=smoke,runner=smoke-0 present=1i {START_NS}",
    ]


def test_end_without_start_writes_runners_at_the_end() -> None:
    lines = run_annotations.end_lines("perf", "checkout", "smoke", END, "Error", runners=["smoke-0"])
    assert len(lines) == 2 and 'text="Error",' in lines[0]
    assert lines[1].endswith(f"present=1i {END_NS}")


def test_values_are_escaped_for_line_protocol() -> None:
    (line,) = run_annotations.start_lines("my ns", "a,b", "x=y", START)
    assert line.startswith(r"run_events,event=start,monitor=a\,b,namespace=my\ ns,run=x\=y ")
    (line, _) = run_annotations.end_lines("perf", "m", "r", END, "Failed", message="C:\\tmp", start=None, runners=["w"])
    assert 'text="Failed: C:\\\\tmp"' in line


def test_long_messages_are_cut() -> None:
    (line,) = run_annotations.end_lines("perf", "m", "r", END, "Failed", message="x" * 5000)
    text = line.split('text="')[1].split('"')[0]
    assert len(text) == run_annotations.MAX_TEXT_CHARS


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: run_annotations.start_lines("perf", "", "smoke", START), "monitor must not be empty"),
        (lambda: run_annotations.start_lines("perf", "m", "smoke", START, [""]), "runner must not be empty"),
        (lambda: run_annotations.start_lines("perf", "m", "smoke", START.replace(tzinfo=None)), "time zone"),
        (lambda: run_annotations.end_lines("perf", "m", "smoke", START, "Passed", start=END), "after its end"),
        (lambda: run_annotations.end_lines("perf", "m", "smoke", END, ""), "verdict must not be empty"),
    ],
)
def test_bad_values_are_refused_with_what_is_wrong(call, words) -> None:
    with pytest.raises(ValueError, match=words):
        call()


# --- the controller's calls: a failed write is reported, never raised ----------------------------


class _RefusedWriter:
    """Writes to a loopback port nobody listens on: a real connection refusal, as an InfluxDB
    that is down gives."""

    def __init__(self) -> None:
        self.sent: list[list[str]] = []

    def write_lines(self, database: str, lines: Sequence[str]) -> None:
        self.sent.append(list(lines))
        port = free_port()
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass


def test_a_failed_write_is_reported_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    writer = _RefusedWriter()
    why = mark_start(writer, "gatling", namespace="perf", monitor="m", run="smoke", at=START, runners=["smoke-0"])
    assert why is not None and why.startswith("perf/smoke start: the annotation was not written to InfluxDB")
    assert "Connection refused" in why or "refused" in why.lower()
    why = mark_end(writer, "gatling", namespace="perf", monitor="m", run="smoke", at=END, verdict="Failed",
                   start=START)
    assert why is not None and why.startswith("perf/smoke end:")
    assert [len(lines) for lines in writer.sent] == [2, 2]  # what would have been written
    assert sum("the annotation was not written" in r.getMessage() for r in caplog.records) == 2


def test_a_successful_write_returns_none() -> None:
    class Collect:
        def __init__(self) -> None:
            self.got: list[tuple[str, list[str]]] = []

        def write_lines(self, database: str, lines: Sequence[str]) -> None:
            self.got.append((database, list(lines)))

    writer = Collect()
    assert mark_end(writer, "gatling", namespace="perf", monitor="m", run="r", at=END, verdict="Passed") is None
    assert writer.got == [("gatling", run_annotations.end_lines("perf", "m", "r", END, "Passed"))]


def test_runners_seen_later_are_recorded_at_the_start() -> None:
    class Collect:
        def __init__(self) -> None:
            self.got: list[list[str]] = []

        def write_lines(self, database: str, lines: Sequence[str]) -> None:
            self.got.append(list(lines))

    writer = Collect()
    assert mark_runners(writer, "gatling", namespace="perf", monitor="m", run="r", start=START,
                        runners=["r-2", "r-2"]) is None
    assert writer.got == [[f"run_runners,monitor=m,namespace=perf,run=r,runner=r-2 present=1i {START_NS}"]]
    assert mark_runners(writer, "gatling", namespace="perf", monitor="m", run="r", start=START, runners=[]) is None
    assert len(writer.got) == 1  # nothing to write, no request
