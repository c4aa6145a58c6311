"""Helpers of the forwarder tests: real logs of our own Gatling runs and a local Graphite sink on
127.0.0.1 that records every line it receives (hand-made binary logs: ltm_harness.gatling_binary_log)."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from ltm_harness import wait

DATA = Path(__file__).resolve().parent / "data" / "forward"
TEXT_VERSIONS = ("3.11.5", "3.12.0")
BINARY_VERSIONS = ("3.13.5", "3.14.9", "3.15.1")


def real_log(version: str) -> bytes:
    """simulation.log of DataPathSimulation (the harness's gatling-project), run with that Gatling."""
    return (DATA / version / "simulation.log").read_bytes()


def report_totals(version: str) -> dict[str, object]:
    """All-requests totals from Gatling's own HTML report of the same run, and its run folder."""
    return dict(json.loads((DATA / version / "report-totals.json").read_text()))


class GraphiteSink:
    """A Graphite TCP listener on 127.0.0.1 (a fixed port may be given to start it later)."""

    def __init__(self, port: int = 0) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = self.server.getsockname()[1]
        self.lines: list[str] = []
        self.connections = 0
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            self._open.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                *lines, buf = buf.split(b"\n")
                with self._lock:
                    self.lines.extend(line.decode() for line in lines)

    def drop_connections(self) -> None:
        """Closes the accepted connections (as an InfluxDB restart would); keeps listening."""
        for conn in self._open:
            with contextlib.suppress(OSError):  # already closed by the other side
                conn.shutdown(socket.SHUT_RDWR)
        self._open.clear()

    def close(self) -> None:
        self._stop = True
        self.server.close()
        self.drop_connections()

    def points(self) -> dict[tuple[str, float], int]:
        """What InfluxDB would keep: the last value per (path, epoch); epochs may hold fractions of
        a second (the whole-run summary's bucket points)."""
        with self._lock:
            lines = list(self.lines)
        out: dict[tuple[str, float], int] = {}
        for line in lines:
            path, value, epoch = line.split(" ")
            out[(path, float(epoch))] = int(value)
        return out

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Whether ``predicate`` became true within ``timeout`` seconds."""
        try:
            wait.wait_for(predicate, timeout, "the sink's predicate", 0.05)
        except TimeoutError:
            return False
        return True


def binary_log_started_at(data: bytes, start_ms: int) -> bytes:
    """The same binary log with another run start (times in records are relative to it)."""
    pos = 1
    for _ in range(2):  # gatlingVersion, simulationClass: int length, bytes, coder byte
        length = struct.unpack_from(">i", data, pos)[0]
        pos += 4 + (length + 1 if length else 0)
    return data[:pos] + struct.pack(">q", start_ms) + data[pos + 8 :]


_TEXT_TIME_FIELDS = {"RUN": (3,), "USER": (3,), "REQUEST": (3, 4), "GROUP": (2, 3), "ERROR": (2,)}


def text_log_started_at(data: bytes, start_ms: int) -> bytes:
    """The same text log moved in time so that its run starts at `start_ms`."""
    lines = data.decode().split("\n")
    run = next(line for line in lines if line.startswith("RUN\t"))
    shift = start_ms - int(run.split("\t")[3])
    out = []
    for line in lines:
        fields = line.split("\t")
        for i in _TEXT_TIME_FIELDS.get(fields[0], ()):
            fields[i] = str(int(fields[i]) + shift)
        out.append("\t".join(fields))
    return "\n".join(out).encode()
