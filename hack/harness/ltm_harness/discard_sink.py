"""A TCP listener on 127.0.0.1 that accepts Graphite connections and throws every byte away: where
the pod runner's "drop-metrics" fault sends a runner's metrics (they never reach InfluxDB, while
Gatling's sender sees a healthy connection and does not give up)."""

from __future__ import annotations

import contextlib
import socket
import threading


class DiscardSink:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.received = 0  # bytes thrown away, so a test can tell the sender did send
        self._lock = threading.Lock()
        self._accept = threading.Thread(target=self._accept_loop, name="discard-sink", daemon=True)

    def start(self) -> DiscardSink:
        self._accept.start()
        return self

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # closed by stop()
                return
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                with self._lock:
                    self.received += len(chunk)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        self._accept.join(timeout=5)
