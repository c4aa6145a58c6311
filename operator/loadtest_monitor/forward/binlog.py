"""Decoder of the binary simulation.log of Gatling 3.13.0 to 3.15.1.

The layout, as Gatling's io.gatling.core.stats.writer.LogFileDataWriter writes it and its charts
module reads it back (the same in every release from 3.13.0 to 3.15.1; there is no separate
format number, the run record names the Gatling version and Gatling's own reader accepts only
logs of its exact version):

- numbers are big-endian: int = 4 bytes, long = 8 bytes, boolean = 1 byte (0 or 1);
- string = int length, then (when length > 0) the bytes of Java's internal representation and one
  "coder" byte: 0 = Latin-1 (one byte per char), 1 = UTF-16 in the JVM's byte order (little-endian
  on x86-64 and arm64, the platforms Gatling runs on);
- cached string = int index; index >= 0 is a new string (a string follows; the writer numbers them
  1, 2, 3, ...), index < 0 refers back to string number -index;
- every record starts with a type byte: 0 run, 1 request, 2 user, 3 group, 4 error:
  run:     string gatlingVersion, string simulationClass, long start (epoch ms), string description,
           int n + n strings (scenario names, in scenario index order), int n + n (int length + bytes)
           assertions;
  request: int n + n cached strings (groups), cached name, int start, int end, boolean ok,
           cached message;
  user:    int scenario index, boolean start, int time;
  group:   int n + n cached strings, int start, int end, int cumulatedResponseTime, boolean ok;
  error:   cached message, int time.
  Times in records are milliseconds relative to the run start.

Gatling writes through an 8 KiB buffer that it flushes when the next value does not fit, so the
file grows in chunks that end anywhere, even inside a number: a record split across reads waits.

A log of a Gatling release newer than KNOWN_VERSIONS is decoded with a warning when its run record
passes the layout check (a version number, a plausible start time, at least one scenario, every
field where the 3.13-3.15 layout puts it); if the layout then really differs (a record that does
not decode), the error says so (LayoutChangedError) and the forwarder stops loudly.

Bounded memory for any log: the string cache keeps at most MAX_CACHED_STRINGS strings
(MAX_CACHED_CHARS characters); a string written after that is numbered but not kept, and its
records carry records.FORGOTTEN (the aggregator counts them in `_other`). A run record or any
record larger than the layout allows is corruption, not something to buffer.
"""

from __future__ import annotations

import logging
import re
import struct

from loadtest_monitor.forward.records import (
    FORGOTTEN,
    ErrorRecord,
    GroupRecord,
    LogFormatError,
    Record,
    RequestRecord,
    RunHeader,
    UserRecord,
    sanitize_text,
)

# Releases whose writer was read for this decoder (their layouts are identical).
KNOWN_VERSIONS = frozenset(
    [f"3.13.{p}" for p in range(6)] + [f"3.14.{p}" for p in range(10)] + ["3.15.0", "3.15.1"]
)
KNOWN_RANGE = "3.13.0 to 3.15.1"

log = logging.getLogger("loadtest_monitor.forward")

MAX_CACHED_STRINGS = 50_000
MAX_CACHED_CHARS = 2 << 20
# The run record holds at most 100,000 scenario names and assertions; a real one is a few KiB.
MAX_HEADER_BYTES = 4 << 20
_VERSION_RE = re.compile(r"\d+\.\d+(\.\d+)?([.-][0-9A-Za-z.-]*)?")
# Run start between 2000 and 2200 (epoch ms): another layout puts other bytes there.
_PLAUSIBLE_START_MS = (946_684_800_000, 7_258_118_400_000)

RUN, REQUEST, USER, GROUP, ERROR = 0, 1, 2, 3, 4
# Gatling's buffer is 8 KiB and a string must fit in it whole: anything longer is corruption.
_MAX_STRING = 8192
_MAX_GROUP_DEPTH = 1000
# A request record: at most _MAX_GROUP_DEPTH + 2 strings of at most _MAX_STRING bytes.
_MAX_RECORD_BYTES = (_MAX_GROUP_DEPTH + 2) * (_MAX_STRING + 9) + 64
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_TIMES_STATUS = struct.Struct(">iiB")


class _NeedMore(Exception):
    """The record continues beyond the bytes read so far."""


class UnsupportedVersionError(LogFormatError):
    """A binary log whose run record does not have the layout of Gatling 3.13-3.15."""


class LayoutChangedError(LogFormatError):
    """A log of a Gatling release newer than KNOWN_VERSIONS passed the layout check of its run
    record, but a later record does not decode: that release changed the layout."""


class BinaryLogDecoder:
    """Feed it bytes as they appear in the file; it returns every complete record."""

    def __init__(self, allow_untested_version: bool = True) -> None:
        self.header: RunHeader | None = None
        self.untested_version: str | None = None  # set when the log's Gatling is not in KNOWN_VERSIONS
        self._allow_untested = allow_untested_version
        self._buf = bytearray()
        self._offset = 0  # file offset of _buf[0]
        self._count = 0  # records decoded
        self._cache: list[str] = [""]  # index 0 unused: the writer starts at 1
        self._next_index = 1  # number of the next new string (strings past the cap are not kept)
        self._cache_chars = 0
        self.forgotten_strings = 0

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)

    def check_complete(self) -> None:
        if self._buf:
            raise LogFormatError(
                f"truncated: record {self._count + 1} at byte {self._offset} is incomplete "
                f"({len(self._buf)} bytes, the file ends inside it)"
            )
        if self.header is None:
            raise LogFormatError("no run record: this is not a complete Gatling simulation.log")

    def feed(self, data: bytes) -> list[Record]:
        try:
            return self._feed(data)
        except LogFormatError as err:
            if self.untested_version is None or isinstance(err, UnsupportedVersionError):
                raise
            raise LayoutChangedError(
                f"{err}: the log of Gatling {self.untested_version} passed the layout check of its run record, "
                f"but its records differ from the {KNOWN_RANGE} layout; this forwarder cannot decode that release"
            ) from None

    def _feed(self, data: bytes) -> list[Record]:
        buf = self._buf
        buf += data
        out: list[Record] = []
        pos = 0
        end = len(buf)
        cache_state = self._cache_state()
        try:
            if self.header is None:
                self.header, pos = self._run(buf, 0, end)
                self._count = 1
            while pos < end:
                cache_state = self._cache_state()
                kind = buf[pos]
                record: Record
                if kind == REQUEST:
                    record, pos = self._request(buf, pos + 1, end)
                elif kind == USER:
                    record, pos = self._user(buf, pos + 1, end)
                elif kind == GROUP:
                    record, pos = self._group(buf, pos + 1, end)
                elif kind == ERROR:
                    record, pos = self._error(buf, pos + 1, end)
                else:
                    raise self._corrupt(pos, f"unknown record type {kind}")
                out.append(record)
                self._count += 1
        except _NeedMore:
            self._restore_cache(cache_state)  # strings of the unfinished record are read again
            self._check_pending(pos, end)
        del buf[:pos]
        self._offset += pos
        return out

    def _cache_state(self) -> tuple[int, int, int, int]:
        return len(self._cache), self._next_index, self._cache_chars, self.forgotten_strings

    def _restore_cache(self, state: tuple[int, int, int, int]) -> None:
        size, self._next_index, self._cache_chars, self.forgotten_strings = state
        del self._cache[size:]

    def _check_pending(self, pos: int, end: int) -> None:
        """An unfinished record waits for more bytes, but only as many as a record can have."""
        limit = MAX_HEADER_BYTES if self.header is None else _MAX_RECORD_BYTES
        if end - pos > limit:
            what = "run record" if self.header is None else f"record {self._count + 1}"
            raise self._corrupt(pos, f"the {what} is still incomplete after {end - pos} bytes (at most {limit})")

    def _corrupt(self, pos: int, what: str) -> LogFormatError:
        return LogFormatError(f"corrupt: record {self._count + 1} near byte {self._offset + pos}: {what}")

    # -- primitives: each returns (value, next position) or raises _NeedMore -----------------------

    @staticmethod
    def _int(buf: bytearray, pos: int, end: int) -> tuple[int, int]:
        if pos + 4 > end:
            raise _NeedMore
        return _INT.unpack_from(buf, pos)[0], pos + 4

    def _bool(self, buf: bytearray, pos: int, end: int) -> tuple[bool, int]:
        if pos >= end:
            raise _NeedMore
        value = buf[pos]
        if value > 1:
            raise self._corrupt(pos, f"boolean byte {value}")
        return value == 1, pos + 1

    def _string(self, buf: bytearray, pos: int, end: int) -> tuple[str, int]:
        length, pos = self._int(buf, pos, end)
        if length == 0:
            return "", pos
        if length < 0 or length > _MAX_STRING:
            raise self._corrupt(pos - 4, f"string length {length}")
        if pos + length + 1 > end:
            raise _NeedMore
        coder = buf[pos + length]
        raw = bytes(buf[pos : pos + length])
        if coder == 0:
            return raw.decode("latin-1"), pos + length + 1
        if coder == 1 and length % 2 == 0:
            try:  # a Java string may hold a lone surrogate: kept here, the Graphite sanitiser maps it
                return raw.decode("utf-16-le", "surrogatepass"), pos + length + 1
            except UnicodeDecodeError:
                raise self._corrupt(pos, "invalid UTF-16 string") from None
        raise self._corrupt(pos + length, f"string coder {coder} for {length} bytes")

    def _cached(self, buf: bytearray, pos: int, end: int) -> tuple[str, int]:
        index, pos = self._int(buf, pos, end)
        cache = self._cache
        if index < 0:
            if -index >= self._next_index:
                raise self._corrupt(pos - 4, f"string #{-index} referenced before it was written")
            return (cache[-index] if -index < len(cache) else FORGOTTEN), pos
        if index != self._next_index:
            raise self._corrupt(pos - 4, f"new string numbered {index}, expected {self._next_index}")
        value, pos = self._string(buf, pos, end)
        value = sanitize_text(value)
        self._next_index += 1
        kept = len(cache) == index and index <= MAX_CACHED_STRINGS
        if kept and self._cache_chars + len(value) <= MAX_CACHED_CHARS:
            cache.append(value)
            self._cache_chars += len(value)
        else:
            self._forget(index)
        return value, pos

    def _forget(self, index: int) -> None:
        """The string cache is full: string `index` is numbered, not kept."""
        if not self.forgotten_strings:
            log.warning(
                "the log holds more than %d distinct strings (%d characters): names first written after "
                "string #%d are counted in the series '_other'", MAX_CACHED_STRINGS, MAX_CACHED_CHARS, index,
            )
        self.forgotten_strings += 1

    def _groups(self, buf: bytearray, pos: int, end: int) -> tuple[tuple[str, ...], int]:
        count, pos = self._int(buf, pos, end)
        if count == 0:
            return (), pos
        if count < 0 or count > _MAX_GROUP_DEPTH:
            raise self._corrupt(pos - 4, f"group depth {count}")
        groups = []
        for _ in range(count):
            name, pos = self._cached_fast(buf, pos, end)
            groups.append(name)
        return tuple(groups), pos

    def _cached_fast(self, buf: bytearray, pos: int, end: int) -> tuple[str, int]:
        """A string seen before (the usual case) without the checks of a new one."""
        if pos + 4 <= end:
            index = _INT.unpack_from(buf, pos)[0]
            if 0 > index > -len(self._cache):
                return self._cache[-index], pos + 4
        return self._cached(buf, pos, end)

    # -- records ---------------------------------------------------------------------------------

    def _run(self, buf: bytearray, pos: int, end: int) -> tuple[RunHeader, int]:
        if pos >= end:
            raise _NeedMore
        if buf[pos] != RUN:
            raise self._corrupt(pos, f"the log starts with record type {buf[pos]}, not a run record")
        version = None
        try:
            version, pos = self._string(buf, pos + 1, end)
            if version not in KNOWN_VERSIONS and not self._allow_untested:
                raise UnsupportedVersionError(
                    f"written by Gatling {version[:40]}: this forwarder decodes the binary logs of Gatling "
                    f"{KNOWN_RANGE} (--allow-untested-version tries the 3.13-3.15 layout)"
                )
            simulation_class, pos = self._string(buf, pos, end)
            if pos + 8 > end:
                raise _NeedMore
            start = _LONG.unpack_from(buf, pos)[0]
            if not _VERSION_RE.fullmatch(version) or not _PLAUSIBLE_START_MS[0] <= start <= _PLAUSIBLE_START_MS[1]:
                raise self._corrupt(pos, f"version {version[:40]!r}, run start {start}")
            _description, pos = self._string(buf, pos + 8, end)
            count, pos = self._int(buf, pos, end)
            if count < 1 or count > 100_000:
                raise self._corrupt(pos - 4, f"scenario count {count}")
            scenarios = []
            for _ in range(count):
                name, pos = self._string(buf, pos, end)
                scenarios.append(sanitize_text(name))
            assertions, pos = self._int(buf, pos, end)
            if assertions < 0 or assertions > 100_000:
                raise self._corrupt(pos - 4, f"assertion count {assertions}")
            for _ in range(assertions):
                length, pos = self._int(buf, pos, end)
                if length < 0 or length > _MAX_STRING:
                    raise self._corrupt(pos - 4, f"assertion length {length}")
                if pos + length > end:
                    raise _NeedMore
                pos += length
        except LogFormatError as err:
            if isinstance(err, UnsupportedVersionError) or version in KNOWN_VERSIONS:
                raise
            raise UnsupportedVersionError(
                f"{err}: the run record does not have the layout of Gatling {KNOWN_RANGE}'s binary log "
                "(Gatling changes the layout without a format number); use a forwarder that knows this release"
            ) from None
        if version not in KNOWN_VERSIONS:
            self.untested_version = version[:40]
            log.warning(
                "the log was written by Gatling %s, which this forwarder was not tested with (%s); its run "
                "record has their layout, so it is decoded as theirs (a record that does not decode stops "
                "the forwarder with an error)", self.untested_version, KNOWN_RANGE,
            )
        return RunHeader("binary", version, simulation_class, None, start, tuple(scenarios)), pos

    def _request(self, buf: bytearray, pos: int, end: int) -> tuple[RequestRecord, int]:
        groups, pos = self._groups(buf, pos, end)
        name, pos = self._cached_fast(buf, pos, end)
        if pos + 9 > end:
            raise _NeedMore
        start, stop, ok_byte = _TIMES_STATUS.unpack_from(buf, pos)
        if ok_byte > 1:
            raise self._corrupt(pos + 8, f"boolean byte {ok_byte}")
        message, pos = self._cached_fast(buf, pos + 9, end)
        ok = ok_byte == 1
        return RequestRecord(groups, name, start, stop, ok, message), pos

    def _user(self, buf: bytearray, pos: int, end: int) -> tuple[UserRecord, int]:
        if pos + 9 > end:
            raise _NeedMore
        index = _INT.unpack_from(buf, pos)[0]
        scenarios = self.header.scenarios if self.header is not None else None
        if scenarios is None or not 0 <= index < len(scenarios):
            raise self._corrupt(pos, f"scenario index {index}")
        start, pos = self._bool(buf, pos + 4, end)
        return UserRecord(scenarios[index], start, _INT.unpack_from(buf, pos)[0]), pos + 4

    def _group(self, buf: bytearray, pos: int, end: int) -> tuple[GroupRecord, int]:
        groups, pos = self._groups(buf, pos, end)
        if pos + 13 > end:
            raise _NeedMore
        start, stop, cumulated = struct.unpack_from(">iii", buf, pos)
        ok, pos = self._bool(buf, pos + 12, end)
        return GroupRecord(groups, start, stop, cumulated, ok), pos

    def _error(self, buf: bytearray, pos: int, end: int) -> tuple[ErrorRecord, int]:
        message, pos = self._cached_fast(buf, pos, end)
        time, pos = self._int(buf, pos, end)
        return ErrorRecord(message, time), pos
