"""The Graphite contract (issue 14, items 4 and 5): the one allow-list sanitiser, the runner rule,
reserved names, and the forwarder's lines for hostile names and for more names than its cap."""

from __future__ import annotations

import logging
import re
import struct
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from loadtest_monitor.forward import textlog
from loadtest_monitor.forward.aggregate import DEFAULT_MAX_SERIES, Aggregator, WindowSettings
from loadtest_monitor.forward.binlog import BinaryLogDecoder
from loadtest_monitor.forward.records import RequestRecord, RunHeader, UserRecord
from loadtest_monitor.forward.sender import UDP_DATAGRAM_BYTES, GraphiteSender
from loadtest_monitor.graphite import (
    ALL_REQUESTS,
    ALL_USERS,
    MAX_SEGMENT_CHARS,
    OVERFLOW,
    prefix_path,
    request_segment,
    runner_segment,
    scenario_segment,
    segment,
)
from ltm_harness.gatling_binary_log import BinaryLog

# Every code point, surrogates and control characters included.
ANY_CHAR = st.characters(codec=None, categories=None)
NAMES = st.text(ANY_CHAR, max_size=40) | st.text(ANY_CHAR, min_size=190, max_size=260)
HEADER = RunHeader("binary", "3.15.1", "x.Sim", None, 1_700_000_000_000, ("browse",))


def _is_safe(out: str) -> bool:
    """What InfluxDB needs of a segment: no separator, no whitespace of any kind (Go's strings.Fields
    splits on them), only printable characters (its storage drops a line holding any other)."""
    return bool(out) and "." not in out and "\\" not in out and all(
        not c.isspace() and unicodedata.category(c)[0] not in "CZ" for c in out
    )


@given(NAMES)
@settings(max_examples=400)
def test_segment_is_safe_bounded_idempotent_and_never_empty(name):
    out = segment(name)
    assert _is_safe(out), (name, out)
    assert 1 <= len(out) <= MAX_SEGMENT_CHARS
    assert segment(out) == out


@given(st.text(st.sampled_from("abcXYZ019 _-.\\/:?=&()#,'\"*+%@"), min_size=1, max_size=60))
def test_ordinary_names_get_gatling_3_11_5s_own_mapping(name):
    """Gatling's writer: space -> `_`, `.` and `\\` -> `-`, everything else as it is."""
    assert segment(name) == name.replace(" ", "_").replace(".", "-").replace("\\", "-")


def test_hostile_characters_are_mapped_and_long_names_stay_apart():
    assert segment("a\nb\tc\rd\u00a0e\u0085f\u2028g") == "a_b_c_d_e_f_g"
    assert segment("x\x00y\u200bz\ufffd") == "x-y-z-"
    assert segment("") == "_"
    assert segment("Café 日本 ÿ") == "Café_日本_ÿ"  # letters of any script are kept
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    assert len(segment(long_a)) == MAX_SEGMENT_CHARS and segment(long_a) != segment(long_b)


def test_the_published_prefix_stays_and_a_hand_written_one_becomes_safe_segments():
    assert prefix_path("gatling.checkout-load-0-x7k2p") == "gatling.checkout-load-0-x7k2p"
    assert prefix_path("my prefix..a\nb") == "my_prefix._.a_b"


def test_a_lone_surrogate_in_a_binary_log_name_is_decoded_and_mapped():
    """Java strings may hold one; strict UTF-16 decoding used to stop the forwarder."""
    log = BinaryLog()
    name = "a".encode("utf-16-le") + b"\x00\xd8"  # "a" and a lone high surrogate, coder 1 (UTF-16)
    log.data += b"\x01" + struct.pack(">iii", 0, 1, len(name)) + name + b"\x01"  # no groups, string #1
    log.data += struct.pack(">ii?ii", 0, 5, True, 2, 0)  # times, ok, message: string #2, empty
    (record,) = BinaryLogDecoder().feed(bytes(log.data))
    assert isinstance(record, RequestRecord) and record.name == "a\ud800"
    assert request_segment(record.name) == "a-"


@given(NAMES)
def test_reserved_totals_are_never_written_by_a_request_or_a_scenario(name):
    assert request_segment(name) not in (ALL_REQUESTS, OVERFLOW)
    assert scenario_segment(name) not in (ALL_USERS, OVERFLOW)
    assert request_segment(ALL_REQUESTS) == "allRequests_" and scenario_segment(ALL_USERS) == "allUsers_"


@given(st.text(ANY_CHAR.filter(lambda c: not 0xD800 <= ord(c) <= 0xDFFF), max_size=80))
def test_runner_is_one_short_ascii_segment(name):
    out = runner_segment(name)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,63}", out) and segment(out) == out


def _lines(agg: Aggregator) -> list[str]:
    return [line for p in agg.finish() for line in p.data.decode("utf-8").split("\n") if line]


@given(st.lists(st.tuples(st.lists(NAMES, max_size=3), NAMES, NAMES), min_size=1, max_size=5), NAMES, NAMES)
@settings(max_examples=150)
def test_forwarder_lines_for_hostile_names_are_exactly_the_lines_it_means(requests, simulation, runner):
    """Each line is `path value epoch`, and its path has exactly the segments of its names: a name
    can neither add a line nor shift a segment."""
    header = RunHeader("binary", "3.15.1", "x.Sim", None, 1_700_000_000_000, tuple(s for _, _, s in requests))
    agg = Aggregator(WindowSettings(prefix=f"gatling.{runner_segment(runner)}", simulation_id=simulation), header)
    agg.add(UserRecord(s, True, 5) for _, _, s in requests)
    agg.add(RequestRecord(tuple(groups), name, 0, 10, True, "") for groups, name, _ in requests)
    lines = _lines(agg)
    expected_paths = {4 + len(groups) + 2 for groups, _, _ in requests} | {6}
    for line in lines:
        path, value, epoch = line.split(" ")
        assert value.lstrip("-").isdigit() and epoch.isdigit()
        assert len(line.split()) == 3  # no other whitespace anywhere (InfluxDB splits on all of it)
        parts = path.split(".")
        assert all(_is_safe(p) for p in parts), line
        assert len(parts) in expected_paths, line


def test_distinct_names_beyond_the_cap_go_to_one_overflow_series_with_one_warning(caplog):
    caplog.set_level(logging.WARNING)
    names = 3 * DEFAULT_MAX_SERIES
    agg = Aggregator(WindowSettings(prefix="gatling.r", simulation_id="sim"), HEADER)
    for window in range(3):
        agg.add(RequestRecord((), f"/item/{i}", window * 1000, window * 1000 + 10, True, "") for i in range(names))
    payloads = agg.finish()
    paths = {line.split(" ")[0].rsplit(".", 2)[0] for p in payloads for line in p.data.decode().splitlines()}
    assert len(paths) <= DEFAULT_MAX_SERIES + 4  # the cap, _other, allRequests and users
    assert "gatling.r.sim._other" in paths and agg.overflowed == 3 * (names - DEFAULT_MAX_SERIES)
    # Lines per window are bounded by the cap, not by the names seen: 27 per active path at most.
    assert max(p.lines for p in payloads) <= 27 * (DEFAULT_MAX_SERIES + 2) + 4
    assert len([r for r in caplog.records if "_other" in r.getMessage()]) == 1


def test_a_binary_log_with_more_strings_than_the_cache_keeps_counts_later_names_in_other(monkeypatch):
    monkeypatch.setattr("loadtest_monitor.forward.binlog.MAX_CACHED_STRINGS", 10)
    log = BinaryLog()
    for i in range(30):  # strings 1, 3, 5, ... (the empty message is string 2): r0-r4 are kept
        log.request((), f"r{i}", 0, 5, True)
    log.request((), "r3", 10, 15, True)  # a name kept in the cache: still itself
    log.request((), "r20", 10, 15, True)  # a name no longer held: counted in _other
    decoder = BinaryLogDecoder()
    records = decoder.feed(bytes(log.data))
    agg = Aggregator(WindowSettings(prefix="gatling.r", simulation_id="sim"), HEADER)
    agg.add(records)
    counts = {ln.split(" ")[0]: int(ln.split(" ")[1]) for ln in _lines(agg) if ln.split(" ")[0].endswith(".all.count")}
    assert counts["gatling.r.sim.r3.all.count"] == 2
    assert counts["gatling.r.sim.r20.all.count"] == 1 and counts["gatling.r.sim._other.all.count"] == 1
    assert len(decoder._cache) <= 11 and decoder.forgotten_strings == 31 - 10


def test_an_overlong_text_line_is_skipped_with_a_warning_not_buffered(monkeypatch, caplog):
    monkeypatch.setattr(textlog, "MAX_LINE_BYTES", 1000)
    decoder = textlog.TextLogDecoder()
    decoder.feed(b"RUN\tx.Sim\tsim\t1700000000000\t \t3.12.0\n")
    for _ in range(50):
        assert decoder.feed(b"REQUEST\t\t" + b"x" * 500) == []
        assert decoder.pending_bytes <= 2000
    records = decoder.feed(b"\tend\nUSER\tscn\tSTART\t1700000000005\n")
    assert records == [UserRecord("scn", True, 5)] and decoder.skipped_lines == 1
    assert "longer than 1000 bytes" in caplog.text


class _Datagrams:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, _addr: object) -> None:
        self.sent.append(data)


def test_udp_never_cuts_a_line_in_two():
    sender = GraphiteSender("127.0.0.1", 9, "udp")
    fake = _Datagrams()
    sender._sock, sender._udp_addr = fake, ("127.0.0.1", 9)  # type: ignore[assignment]
    long_line = b"gatling.r.sim." + b"x" * 3000 + b".ok.count 1 1700000000\n"
    payload = b"a.b 1 1\n" * 100 + long_line + b"c.d 1 1\n" * 10
    sender._send_udp(payload)
    assert b"".join(fake.sent) == payload
    assert all(d.endswith(b"\n") for d in fake.sent) and long_line in fake.sent
    assert all(len(d) <= UDP_DATAGRAM_BYTES for d in fake.sent if d != long_line)
