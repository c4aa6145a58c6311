"""The forwarder's whole-run summary (issue 16 A): the histograms and span a runner sends at the end
of a complete run, checked against real logs of every Gatling version, counted independently."""

from __future__ import annotations

import signal
import socket
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest_monitor.forward.logformat import choose_decoder
from loadtest_monitor.forward.records import RequestRecord, UserRecord
from loadtest_monitor.forward.run import has_graphite_writer
from loadtest_monitor.forward.sender import GraphiteSender
from loadtest_monitor.forward.summary import LINES_PER_PAYLOAD, RunSummary, SummarySettings
from loadtest_monitor.graphite import OVERFLOW, summary_request, summary_request_parts
from tests.unit.forward_support import (
    BINARY_VERSIONS,
    TEXT_VERSIONS,
    GraphiteSink,
    finish,
    forward,
    real_log,
    report_totals,
    run_folder,
    write_conf,
)


def decoded(version: str) -> tuple[int, list[RequestRecord | UserRecord]]:
    data = real_log(version)
    decoder = choose_decoder(data)
    assert decoder is not None
    records = [r for r in decoder.feed(data) if isinstance(r, RequestRecord | UserRecord)]
    assert decoder.header is not None
    return decoder.header.start_ms, records


def parse(payloads: list[bytes]) -> list[tuple[list[str], int, str]]:
    out = []
    for payload in payloads:
        assert payload.endswith(b"\n")
        for line in payload.decode().splitlines():
            path, value, epoch = line.split(" ")
            out.append((path.split("."), int(value), epoch))
    return out


def histograms(payloads: list[bytes]) -> dict[tuple[str, str], dict[int, int]]:
    """(request, status) -> {bucket: count}, pairing each bucket line with the count line of the
    same series and timestamp (what InfluxDB makes one point of)."""
    points: dict[tuple[str, str, str], dict[str, int]] = {}
    for segments, value, epoch in parse(payloads):
        if segments[0] == "run_summary":
            request, status, field = segments[3:6]
            points.setdefault((request, status, epoch), {})[field] = value
    out: dict[tuple[str, str], dict[int, int]] = {}
    for (request, status, _), point in points.items():
        assert set(point) == {"bucket", "count"}
        buckets = out.setdefault((request, status), {})
        assert point["bucket"] not in buckets
        buckets[point["bucket"]] = point["count"]
    return out


@pytest.mark.parametrize("version", TEXT_VERSIONS + BINARY_VERSIONS)
def test_summary_of_a_real_log_holds_every_response_once_by_request_and_status(version):
    start_ms, records = decoded(version)
    summary = RunSummary(SummarySettings("runner.1", "datapathsimulation"), start_ms)
    summary.add(records)
    payloads = summary.payloads()
    lines = parse(payloads)
    for segments, _, _ in lines:
        assert segments[:3] in (["run_summary", "runner-1", "datapathsimulation"],
                                ["run_span", "runner-1", "datapathsimulation"])
    got = Counter({key: sum(h.values()) for key, h in histograms(payloads).items()})
    assert all(bucket >= 1 for h in histograms(payloads).values() for bucket in h)
    span = {segments[3]: value for segments, value, _ in lines if segments[0] == "run_span"}
    # Counted independently from the log's records.
    want: Counter[tuple[str, str]] = Counter()
    for r in records:
        if isinstance(r, RequestRecord):
            want[(summary_request(r.groups, r.name), "ok" if r.ok else "ko")] += 1
    assert got == want
    totals = report_totals(version)
    assert sum(n for (_, s), n in got.items() if s == "ok") == totals["ok"]
    assert sum(n for (_, s), n in got.items() if s == "ko") == totals["ko"]
    last = max(r.end if isinstance(r, RequestRecord) else r.time for r in records)
    assert span == {"start_ms": start_ms, "end_ms": start_ms + last, "responses": totals["total"]}
    # Stamped from the run's end rounded up to a second (never before the run): the span at T, the
    # buckets of a histogram 1 ms apart from T on. Re-sending writes the same points.
    end_s = -(-(start_ms + last) // 1000)
    assert {epoch for segments, _, epoch in lines if segments[0] == "run_span"} == {str(end_s)}
    assert all(end_s <= float(epoch) < end_s + 4 for _, _, epoch in lines)
    # The span comes last: over TCP its arrival means the histograms arrived before it.
    assert [s[0] for s, _, _ in lines[-3:]] == ["run_span"] * 3


def test_buckets_are_hdrhistogram_buckets_of_the_response_times():
    summary = RunSummary(SummarySettings("r", "sim"), 1_000_000)
    times = [0, 1, 2, 255, 256, 257, 258, 1000, 1003, 70_000]
    summary.add([RequestRecord(("g",), "req", 10, 10 + t, True, "") for t in times])
    buckets = histograms(summary.payloads())[("g|req", "ok")]
    # < 256 ms exact (0 counts as 1 ms, as Gatling records it); 256-511: 2 ms wide; 1000: 4 ms wide.
    assert buckets == {1: 2, 2: 1, 255: 1, 256: 2, 258: 1, 1000: 2, 69632: 1}


def test_names_beyond_max_series_are_counted_in_other_and_nothing_is_lost():
    summary = RunSummary(SummarySettings("r", "sim", max_series=2), 0)
    summary.add([RequestRecord((), f"item-{i % 5}", 0, 5, i % 3 != 0, "") for i in range(50)])
    found = histograms(summary.payloads())
    assert {request for request, _ in found} == {"item-0", "item-1", OVERFLOW}
    assert sum(sum(h.values()) for h in found.values()) == 50
    assert summary.overflowed == 30


def test_a_large_summary_is_cut_into_payloads_of_whole_lines():
    summary = RunSummary(SummarySettings("r", "sim"), 0)
    summary.add([RequestRecord((), f"r{i % 40}", 0, (i // 40) % 200 + 1, True, "") for i in range(8000)])
    payloads = summary.payloads()
    assert len(payloads) > 1
    assert all(p.endswith(b"\n") and p.count(b"\n") <= LINES_PER_PAYLOAD for p in payloads)
    # A bucket's two lines never go apart: every payload pairs up on its own.
    assert all(histograms([p]) or p.startswith(b"run_span") for p in payloads)
    assert sum(sum(h.values()) for h in histograms(payloads).values()) == 8000


def test_over_udp_no_line_is_cut_across_datagrams():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    summary = RunSummary(SummarySettings("r", "sim"), 0)
    long_name = "x" * 180
    summary.add([RequestRecord(tuple(f"group{g}-{long_name}" for g in range(8)), "req", 0, t, True, "")
                 for t in range(1, 20)])
    payloads = summary.payloads()
    sender = GraphiteSender("127.0.0.1", receiver.getsockname()[1], "udp")
    for p in payloads:
        sender.put(p)
    assert sender.drain(5)
    sent = sum(p.count(b"\n") for p in payloads)
    lines = 0
    while lines < sent:
        datagram = receiver.recv(65536)
        assert datagram.endswith(b"\n")
        for line in datagram.decode().splitlines():
            path, value, _ = line.split(" ")
            assert path.startswith(("run_summary.r.sim.", "run_span.r.sim.")) and int(value) >= 0
            lines += 1
    sender.close()
    receiver.close()


@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=5))
def test_the_request_segment_splits_back_into_its_sanitised_parts(parts):
    groups, name = tuple(parts[:-1]), parts[-1]
    joined = summary_request(groups, name)
    assert "." not in joined and " " not in joined
    back = summary_request_parts(joined)
    assert len(back) == len(parts)
    assert summary_request(back[:-1], back[-1]) == joined


@pytest.fixture
def sink():
    server = GraphiteSink()
    yield server
    server.close()


def test_gatling_3_11_auto_mode_sends_only_the_summary(tmp_path, sink):
    # Gatling 3.11's own Graphite writer sends the live lines: the forwarder must not send them again.
    (run_folder(tmp_path / "results", "3.11.5") / "simulation.log").write_bytes(real_log("3.11.5"))
    rc, err = finish(forward(write_conf(tmp_path, sink.port), tmp_path / "results", "--once"))
    assert rc == 0, err
    points = sink.points()
    assert points and all(path.startswith(("run_summary.", "run_span.")) for path, _ in points)
    totals = report_totals("3.11.5")
    assert sum(v for (p, _), v in points.items() if p.startswith("run_summary.") and p.endswith(".count")) == (
        totals["total"]
    )
    assert "only the whole-run summary" in err


def test_gatling_3_15_sends_live_windows_and_the_summary(tmp_path, sink):
    (run_folder(tmp_path / "results", "3.15.1") / "simulation.log").write_bytes(real_log("3.15.1"))
    rc, err = finish(forward(write_conf(tmp_path, sink.port), tmp_path / "results", "--once"))
    assert rc == 0, err
    points = sink.points()
    totals = report_totals("3.15.1")
    live = sum(v for (p, _), v in points.items() if p.endswith(".allRequests.all.count"))
    summary = sum(v for (p, _), v in points.items() if p.startswith("run_summary.") and p.endswith(".count"))
    assert live == summary == totals["total"]


def test_live_off_forces_summary_only(tmp_path, sink):
    (run_folder(tmp_path / "results", "3.15.1") / "simulation.log").write_bytes(real_log("3.15.1"))
    rc, err = finish(forward(write_conf(tmp_path, sink.port), tmp_path / "results", "--once", "--live", "off"))
    assert rc == 0, err
    points = sink.points()
    assert points and all(path.startswith(("run_summary.", "run_span.")) for path, _ in points)


def test_a_run_stopped_before_its_end_sends_no_summary(tmp_path, sink):
    # SIGTERM before Gatling wrote its report: a summary of part of the run would be judged as the whole.
    (run_folder(tmp_path / "results", "3.15.1") / "simulation.log").write_bytes(real_log("3.15.1"))
    proc = forward(write_conf(tmp_path, sink.port), tmp_path / "results")
    try:
        assert sink.wait_for(lambda: any(".allRequests.all.count" in p for p, _ in sink.points()), timeout=15)
        proc.send_signal(signal.SIGTERM)
        rc, err = finish(proc)
    finally:
        proc.kill()
    assert rc == 0, err
    assert not [p for p, _ in sink.points() if p.startswith(("run_summary.", "run_span."))]
    assert "summary not sent" in err


@pytest.mark.parametrize(
    ("version", "writer"),
    [("3.11.5", True), ("3.10.3", True), ("3.11.0-SNAPSHOT", True), ("3.12.0", False), ("3.15.1", False),
     ("4.0.0", False), ("unknown", False)],
)
def test_only_gatling_up_to_3_11_has_its_own_graphite_writer(version, writer):
    assert has_graphite_writer(version) is writer
