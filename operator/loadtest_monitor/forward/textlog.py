"""Decoder of the tab-separated simulation.log of Gatling 3.12.x (and 3.11.x, the same layout).

Layout, as Gatling 3.12.0's LogFileDataWriter writes it (one record per line, fields separated by
tabs, epoch milliseconds, an empty message or description written as one space):

    ASSERTION  <base64>                                   (before RUN, one per assertion)
    RUN        <class> <simulationId> <start> <description> <gatlingVersion>
    USER       <scenario> START|END <time>
    REQUEST    <group,group,...> <name> <start> <end> OK|KO <message>
    GROUP      <group,group,...> <start> <end> <cumulatedResponseTime> OK|KO
    ERROR      <message> <time>

Gatling writes through a buffer, so the file usually ends in the middle of a line while the run
goes on: an unfinished last line waits for more bytes, but at most MAX_LINE_BYTES of it: a longer
line is skipped up to its end, with a warning, rather than buffered for ever.
"""

from __future__ import annotations

import logging

from loadtest_monitor.forward.records import (
    ErrorRecord,
    GroupRecord,
    LogFormatError,
    Record,
    RequestRecord,
    RunHeader,
    UserRecord,
)

log = logging.getLogger("loadtest_monitor.forward")

#: Gatling's lines are a few hundred bytes; an error message may be long, but not this long.
MAX_LINE_BYTES = 1 << 20
#: Group paths remembered (the memo is dropped when full: it only saves a split).
_MAX_GROUP_MEMO = 4096
_FIELDS = {"RUN": 6, "USER": 4, "REQUEST": 7, "GROUP": 6, "ERROR": 3, "ASSERTION": 2}


class TextLogDecoder:
    """Feed it bytes as they appear in the file; it returns the records of every complete line."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self.header: RunHeader | None = None
        self._encoding = encoding
        self._tail = b""
        self._line_no = 0
        self._groups: dict[str, tuple[str, ...]] = {"": ()}
        self._skipping = False  # inside a line longer than MAX_LINE_BYTES: drop bytes up to its end
        self.skipped_lines = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes of an unfinished last line, waiting for the rest."""
        return len(self._tail)

    def feed(self, data: bytes) -> list[Record]:
        if self._skipping:
            data = self._skip(data)
        data = self._tail + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._tail = data
            if len(data) > MAX_LINE_BYTES:
                self._tail = b""
                self._skip(b"")
            return []
        self._tail = data[cut + 1 :]
        try:
            text = data[:cut].decode(self._encoding)
        except UnicodeDecodeError as err:
            bad_line = self._line_no + data[: err.start].count(b"\n") + 1
            raise LogFormatError(f"line {bad_line} is not valid {self._encoding} text") from None
        records: list[Record] = []
        for text_line in text.split("\n"):
            self._line_no += 1
            record = self._parse(text_line[:-1] if text_line.endswith("\r") else text_line)
            if record is not None:
                records.append(record)
        return records

    def _skip(self, data: bytes) -> bytes:
        """Drops the rest of an overlong line; returns what follows its end."""
        if not self._skipping:
            self._skipping = True
            self._line_no += 1
            self.skipped_lines += 1
            log.warning("line %d of the log is longer than %d bytes: skipped", self._line_no, MAX_LINE_BYTES)
        end = data.find(b"\n")
        if end < 0:
            return b""
        self._skipping = False
        return data[end + 1 :]

    def check_complete(self) -> None:
        """Raises if the file ended in the middle of a line (called once the log is final)."""
        if self._tail:
            raise LogFormatError(
                f"truncated: line {self._line_no + 1} ({len(self._tail)} bytes) has no end of line"
            )
        if self.header is None:
            raise LogFormatError("no RUN line: this is not a complete Gatling simulation.log")

    def _parse(self, line: str) -> Record | None:
        fields = line.split("\t")
        kind = fields[0]
        expected = _FIELDS.get(kind)
        if expected is None:
            if not line.strip():
                return None
            raise LogFormatError(f"line {self._line_no}: unknown record type {kind[:20]!r}")
        if len(fields) != expected:
            raise LogFormatError(
                f"line {self._line_no}: a {kind} record has {len(fields)} fields, Gatling writes {expected}"
            )
        try:
            return self._record(kind, fields)
        except ValueError:
            raise LogFormatError(f"line {self._line_no}: a {kind} record has a time that is not a number") from None

    def _record(self, kind: str, f: list[str]) -> Record | None:
        header = self.header
        if kind == "REQUEST" and header is not None:
            base = header.start_ms
            return RequestRecord(
                self._group_path(f[1]), f[2], int(f[3]) - base, int(f[4]) - base, self._ok(f[5]), f[6].strip()
            )
        if kind == "USER" and header is not None:
            if f[2] not in ("START", "END"):
                raise LogFormatError(f"line {self._line_no}: USER event {f[2][:20]!r} is neither START nor END")
            return UserRecord(f[1], f[2] == "START", int(f[3]) - header.start_ms)
        if kind == "GROUP" and header is not None:
            base = header.start_ms
            return GroupRecord(self._group_path(f[1]), int(f[2]) - base, int(f[3]) - base, int(f[4]), self._ok(f[5]))
        if kind == "ERROR" and header is not None:
            return ErrorRecord(f[1], int(f[2]) - header.start_ms)
        if kind == "RUN":
            if header is not None:
                raise LogFormatError(f"line {self._line_no}: a second RUN line")
            self.header = RunHeader("text", f[5].strip(), f[1], f[2], int(f[3]), None)
            return None
        if kind == "ASSERTION":
            return None
        raise LogFormatError(f"line {self._line_no}: a {kind} record before the RUN line")

    def _ok(self, status: str) -> bool:
        if status == "OK":
            return True
        if status == "KO":
            return False
        raise LogFormatError(f"line {self._line_no}: status {status[:20]!r} is neither OK nor KO")

    def _group_path(self, text: str) -> tuple[str, ...]:
        groups = self._groups.get(text)
        if groups is None:
            if len(self._groups) >= _MAX_GROUP_MEMO:
                self._groups = {"": ()}
            # Gatling replaces commas inside group names with spaces, so the split is exact.
            groups = self._groups[text] = tuple(text.split(","))
        return groups
