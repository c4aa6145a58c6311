"""Decoders of simulation.log: real logs of Gatling 3.11.5 to 3.15.1 and hand-made corner cases."""

from __future__ import annotations

import struct

import pytest

from loadtest_monitor.forward.binlog import (
    MAX_HEADER_BYTES,
    BinaryLogDecoder,
    LayoutChangedError,
    UnsupportedVersionError,
)
from loadtest_monitor.forward.logformat import choose_decoder
from loadtest_monitor.forward.records import (
    ErrorRecord,
    GroupRecord,
    LogFormatError,
    Record,
    RequestRecord,
    RunHeader,
    UserRecord,
)
from loadtest_monitor.forward.textlog import TextLogDecoder
from ltm_harness.gatling_binary_log import BinaryLog
from tests.unit.forward_support import BINARY_VERSIONS, TEXT_VERSIONS, real_log, report_totals


def decode(data: bytes, chunk: int | None = None) -> tuple[list[Record], RunHeader]:
    decoder = choose_decoder(data)
    assert decoder is not None
    records: list[Record] = []
    step = chunk or len(data)
    for i in range(0, len(data), step):
        records += decoder.feed(data[i : i + step])
    decoder.check_complete()
    assert decoder.header is not None
    return records, decoder.header


@pytest.mark.parametrize("version", TEXT_VERSIONS + BINARY_VERSIONS)
def test_real_logs_hold_the_requests_of_gatlings_own_report(version):
    records, header = decode(real_log(version))
    totals = report_totals(version)
    requests = [r for r in records if isinstance(r, RequestRecord)]
    assert header.gatling_version == version
    assert header.log_format == ("text" if version in TEXT_VERSIONS else "binary")
    assert len(requests) == totals["total"]
    assert sum(r.ok for r in requests) == totals["ok"]
    assert sum(not r.ok for r in requests) == totals["ko"]
    # DataPathSimulation: groups one and two deep, the same name in all of them, a space in a name.
    names = {(r.groups, r.name) for r in requests}
    assert {((), "item"), (("shop",), "item"), (("shop", "cart"), "item"), ((), "search page")} <= names
    assert {(("shop", "cart"), "pay"), (("checkout",), "confirm")} <= names
    assert all(r.end >= r.start >= 0 for r in requests)
    users = [r for r in records if isinstance(r, UserRecord)]
    assert {u.scenario for u in users} == {"browse", "checkout"}
    assert sum(u.start for u in users) == sum(not u.start for u in users) > 0
    assert any(isinstance(r, GroupRecord) and r.groups == ("shop", "cart") for r in records)
    ko = [r for r in requests if not r.ok]
    assert all("found 500" in r.message for r in ko)


def test_binary_logs_name_their_scenarios_text_logs_their_simulation_id():
    _, text = decode(real_log("3.12.0"))
    _, binary = decode(real_log("3.15.1"))
    assert text.simulation_id == "datapathsimulation" and text.scenarios is None
    assert binary.simulation_id is None and binary.scenarios == ("browse", "checkout")
    assert binary.simulation_class == text.simulation_class == "loadtestmonitor.e2e.DataPathSimulation"


@pytest.mark.parametrize("version", ["3.12.0", "3.15.1"])
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_a_log_read_in_pieces_decodes_as_a_whole(version, chunk):
    """Gatling writes 8 KiB chunks that end anywhere, even inside a number or a string."""
    whole, _ = decode(real_log(version))
    pieces, _ = decode(real_log(version), chunk)
    assert pieces == whole


def test_a_record_split_across_reads_waits_for_the_rest():
    log = BinaryLog(scenarios=("a",)).user(0, True, 5).request(("g",), "req", 10, 30, False, "boom")
    data = bytes(log.data)
    decoder = BinaryLogDecoder()
    assert decoder.feed(data[:-3]) == [UserRecord("a", True, 5)]
    assert decoder.pending_bytes > 0
    with pytest.raises(LogFormatError, match="truncated"):
        decoder.check_complete()
    assert decoder.feed(data[-3:]) == [RequestRecord(("g",), "req", 10, 30, False, "boom")]
    decoder.check_complete()


def test_string_cache_and_every_record_type():
    log = BinaryLog(scenarios=("s1", "s2"))
    log.user(1, True, 0).request(("g", "g"), "g", 1, 2, True).group(("g",), 0, 5, 3, True)
    log.error("boom", 7).request((), "g", 3, 4, False, "boom")
    records, _ = decode(bytes(log.data))
    assert records == [
        UserRecord("s2", True, 0),
        RequestRecord(("g", "g"), "g", 1, 2, True, ""),
        GroupRecord(("g",), 0, 5, 3, True),
        ErrorRecord("boom", 7),
        RequestRecord((), "g", 3, 4, False, "boom"),
    ]


def test_utf16_strings_and_line_breaks_in_names():
    log = BinaryLog(scenarios=("scénario ✓",)).request(("grüppe ✓",), "a\tb\nc", 0, 1, True)
    records, header = decode(bytes(log.data))
    assert header.scenarios == ("scénario ✓",)
    # Gatling's own reader turns tabs and line breaks into spaces; a raw one would break a Graphite line.
    assert records == [RequestRecord(("grüppe ✓",), "a b c", 0, 1, True, "")]


def test_a_newer_version_with_the_known_layout_is_decoded_with_a_warning(caplog):
    data = bytes(BinaryLog(version="3.16.0").user(0, True, 1).data)
    decoder = BinaryLogDecoder()
    assert decoder.feed(data) == [UserRecord("scn", True, 1)]
    assert decoder.untested_version == "3.16.0"
    assert "Gatling 3.16.0" in caplog.text and "3.13.0 to 3.15.1" in caplog.text
    with pytest.raises(UnsupportedVersionError, match=r"Gatling 3\.16\.0.*3\.13\.0 to 3\.15\.1"):
        BinaryLogDecoder(allow_untested_version=False).feed(data)


@pytest.mark.parametrize(
    ("mutate", "what"),
    [
        # version "3.16.0" and class "a.S": the start time at bytes 20-27, the scenario count at 32-35
        (lambda log: log.data.__setitem__(slice(20, 28), b"\x7f" * 8), "run start"),  # not a time
        (lambda log: log.data.__setitem__(slice(32, 36), b"\x00" * 4), "scenario count 0"),
    ],
)
def test_a_newer_version_whose_run_record_differs_is_refused_naming_it(mutate, what):
    log = BinaryLog(version="3.16.0", simulation_class="a.S")
    mutate(log)
    with pytest.raises(UnsupportedVersionError, match=rf"{what}.*layout of Gatling 3\.13\.0 to 3\.15\.1"):
        BinaryLogDecoder().feed(bytes(log.data))


def test_a_newer_version_whose_records_differ_fails_as_a_changed_layout():
    log = BinaryLog(version="4.0.0").user(0, True, 1)
    data = bytes(log.data) + b"\x09"
    with pytest.raises(LayoutChangedError, match=r"unknown record type 9.*Gatling 4\.0\.0.*differ"):
        BinaryLogDecoder().feed(data)


def test_a_run_record_larger_than_the_bound_is_refused_not_buffered():
    """100,000 scenario names of 8 KiB would fit the layout: 800 MB held waiting for the end."""
    log = BinaryLog(scenarios=("x" * 8000,) * 600, simulation_class="a.S")
    log.data[32:36] = struct.pack(">i", 100_000)  # the scenario count: many more names to come
    decoder = BinaryLogDecoder()
    with pytest.raises(LogFormatError, match="run record is still incomplete"):
        for start in range(0, len(log.data), 1 << 20):
            assert decoder.feed(bytes(log.data[start : start + (1 << 20)])) == []
    assert len(log.data) > MAX_HEADER_BYTES


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d, at: d.__setitem__(at, 9), "unknown record type 9"),
        (lambda d, at: d.__setitem__(at + 5, 7), "boolean byte 7"),  # the user record's start flag
        (lambda d, at: d.__setitem__(slice(at + 1, at + 5), struct.pack(">i", 5)), "scenario index 5"),
    ],
)
def test_corrupt_binary_records_are_refused(mutate, message):
    log = BinaryLog().request((), "a", 0, 1, True)
    at = len(log.data)
    log.user(0, True, 2)
    data = bytearray(log.data)
    mutate(data, at)
    with pytest.raises(LogFormatError, match=message):
        BinaryLogDecoder().feed(bytes(data))


def test_a_cached_string_out_of_order_is_corruption():
    log = BinaryLog().request((), "a", 0, 1, True)
    data = bytes(log.data) + b"\x01" + struct.pack(">i", 0) + struct.pack(">i", -9)
    with pytest.raises(LogFormatError, match="string #9 referenced before it was written"):
        BinaryLogDecoder().feed(data)
    skipped = bytes(log.data) + b"\x01" + struct.pack(">i", 0) + struct.pack(">i", 7)
    with pytest.raises(LogFormatError, match=r"new string numbered 7, expected 3"):
        BinaryLogDecoder().feed(skipped)


def test_a_real_binary_log_cut_short_or_flipped():
    data = real_log("3.15.1")
    decoder = BinaryLogDecoder()
    records = decoder.feed(data[: len(data) // 2])
    assert 0 < len(records) < len(decode(data)[0])
    with pytest.raises(LogFormatError, match=r"truncated: record \d+ at byte \d+ is incomplete"):
        decoder.check_complete()
    flipped = bytearray(data)
    flipped[len(data) // 2 :] = bytes(b ^ 0x5A for b in flipped[len(data) // 2 :])
    with pytest.raises(LogFormatError, match="corrupt"):
        BinaryLogDecoder().feed(bytes(flipped))


TEXT_HEAD = b"RUN\tcom.example.Sim\tsim\t1000\t \t3.12.0\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"REQUEST\t\tname\t1\t2\tOK\n", "line 2: a REQUEST record has 6 fields, Gatling writes 7"),
        (b"REQUEST\t\tname\t1\tx\tOK\t \n", "line 2: a REQUEST record has a time that is not a number"),
        (b"REQUEST\t\tname\t1\t2\tMAYBE\t \n", "status 'MAYBE' is neither OK nor KO"),
        (b"USER\tscn\tPAUSE\t5\n", "neither START nor END"),
        (b"BOGUS\t1\n", "unknown record type 'BOGUS'"),
        (b"RUN\tx\ty\t1\t \t3.12.0\n", "a second RUN line"),
        (b"\xff\xfe\n", "line 2 is not valid utf-8 text"),
    ],
)
def test_malformed_text_lines_are_refused_with_their_line_number(line, message):
    with pytest.raises(LogFormatError, match=message):
        TextLogDecoder().feed(TEXT_HEAD + line)


def test_text_records_before_the_run_line_are_refused():
    with pytest.raises(LogFormatError, match="before the RUN line"):
        TextLogDecoder().feed(b"USER\tscn\tSTART\t5\n")


def test_text_log_times_are_relative_to_the_run_start_and_a_cut_line_waits():
    decoder = TextLogDecoder()
    assert decoder.feed(b"ASSERTION\tAAAA\n" + TEXT_HEAD + b"REQUEST\tg1,g2\tn\t1500\t17") == []
    with pytest.raises(LogFormatError, match="truncated: line 3"):
        decoder.check_complete()
    assert decoder.feed(b"50\tKO\tboom\r\n") == [RequestRecord(("g1", "g2"), "n", 500, 750, False, "boom")]
    decoder.check_complete()


def test_what_is_no_simulation_log_is_refused_and_a_short_start_waits():
    with pytest.raises(LogFormatError, match=r"not a Gatling simulation\.log"):
        choose_decoder(b"<html>hello</html>")
    assert choose_decoder(b"") is None
    assert choose_decoder(b"ASSER") is None
    assert isinstance(choose_decoder(b"\x00"), BinaryLogDecoder)
