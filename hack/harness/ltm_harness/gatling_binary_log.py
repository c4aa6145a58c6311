"""Hand-made Gatling 3.13-3.15 binary simulation.log files, for corner cases a real run does not
produce and for the forwarder benchmark's large logs (the unit tests and the bench share it)."""

from __future__ import annotations

import struct


class BinaryLog:
    """Writes records the way Gatling 3.13-3.15's LogFileDataWriter does (big-endian, string cache)."""

    def __init__(self, version: str = "3.15.1", start_ms: int = 1_700_000_000_000,
                 scenarios: tuple[str, ...] = ("scn",), simulation_class: str = "com.example.MySimulation") -> None:
        self.data = bytearray()
        self._cache: dict[str, int] = {}
        self.data += b"\x00"
        self.string(version)
        self.string(simulation_class)
        self.data += struct.pack(">q", start_ms)
        self.string("")
        self.data += struct.pack(">i", len(scenarios))
        for s in scenarios:
            self.string(s)
        self.data += struct.pack(">i", 0)

    def string(self, value: str) -> None:
        if not value:
            self.data += struct.pack(">i", 0)
            return
        if all(ord(c) < 256 for c in value):
            raw, coder = value.encode("latin-1"), 0
        else:
            raw, coder = value.encode("utf-16-le"), 1
        self.data += struct.pack(">i", len(raw)) + raw + bytes([coder])

    def cached(self, value: str) -> None:
        index = self._cache.get(value)
        if index is None:
            index = self._cache[value] = len(self._cache) + 1
            self.data += struct.pack(">i", index)
            self.string(value)
        else:
            self.data += struct.pack(">i", -index)

    def user(self, scenario: int, start: bool, time_ms: int) -> BinaryLog:
        self.data += b"\x02" + struct.pack(">i?i", scenario, start, time_ms)
        return self

    def request(
        self, groups: tuple[str, ...], name: str, start: int, end: int, ok: bool, message: str = ""
    ) -> BinaryLog:
        self.data += b"\x01" + struct.pack(">i", len(groups))
        for g in groups:
            self.cached(g)
        self.cached(name)
        self.data += struct.pack(">ii?", start, end, ok)
        self.cached(message)
        return self

    def group(self, groups: tuple[str, ...], start: int, end: int, cumulated: int, ok: bool) -> BinaryLog:
        self.data += b"\x03" + struct.pack(">i", len(groups))
        for g in groups:
            self.cached(g)
        self.data += struct.pack(">iii?", start, end, cumulated, ok)
        return self

    def error(self, message: str, time_ms: int) -> BinaryLog:
        self.data += b"\x04"
        self.cached(message)
        self.data += struct.pack(">i", time_ms)
        return self
