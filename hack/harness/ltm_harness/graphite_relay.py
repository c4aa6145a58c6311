"""A loopback TCP relay between a Graphite sender (Gatling) and InfluxDB's Graphite listener that
keeps a copy of every line, so a test knows exactly what the sender sent."""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class GraphiteLine:
    path: str
    value: float
    epoch: int


class GraphiteRelay:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._data = bytearray()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._accept_loop, name="graphite-relay", daemon=True)

    def start(self) -> GraphiteRelay:
        self._accept.start()
        return self

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            thread = threading.Thread(target=self._pump, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _pump(self, conn: socket.socket) -> None:
        with conn, socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10) as upstream:
            while True:
                try:
                    chunk = conn.recv(65536)
                except ConnectionResetError:  # a JVM that exits resets instead of closing
                    chunk = b""
                if not chunk:
                    return
                with self._lock:
                    self._data.extend(chunk)
                upstream.sendall(chunk)

    def stop(self) -> None:
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=10)

    def lines(self) -> list[GraphiteLine]:
        with self._lock:
            text = self._data.decode()
        out: list[GraphiteLine] = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                path, value, epoch = line.split()
                out.append(GraphiteLine(path, float(value), int(epoch)))
        return out
