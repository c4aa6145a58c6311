"""A TCP proxy that adds latency to what a client sends: a slow API server, for that client only.

Every chunk the client sends reaches the server ``latency`` seconds after it arrived, each on
its own schedule (latency is added, throughput is not capped); what the server sends (answers,
watch streams) passes at once. ``latency`` may be changed at any time; 0 passes all at once.
TLS passes through untouched, so the client's kubeconfig only needs the proxy's address.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from types import TracebackType

from ltm_harness.ports import LOOPBACK

_CHUNK = 65536
_END = b""  # queued when the client closed its side


class DelayingProxy:
    """Listens on a free loopback port and forwards each connection to ``target_port``."""

    def __init__(self, target_port: int, latency: float = 0.0, target_host: str = LOOPBACK) -> None:
        self.target = (target_host, target_port)
        self.latency = latency
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="delay-proxy", daemon=True).start()

    @property
    def server(self) -> str:
        """The address a kubeconfig names to go through the proxy."""
        return f"https://{LOOPBACK}:{self.port}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                if self._closed.is_set():
                    return
                continue  # the target refused this one: the client sees its connection closed
            with self._lock:
                self._sockets += [client, upstream]
            pending: queue.Queue[tuple[float, bytes]] = queue.Queue()
            for target, args in (
                (self._receive, (client, pending)),
                (self._deliver, (pending, upstream)),
                (self._pass, (upstream, client)),
            ):
                threading.Thread(target=target, args=args, daemon=True).start()

    def _receive(self, client: socket.socket, pending: queue.Queue[tuple[float, bytes]]) -> None:
        """Stamps each chunk from the client with the time it may go on."""
        with contextlib.suppress(OSError):
            while data := client.recv(_CHUNK):
                pending.put((time.monotonic() + self.latency, data))
        pending.put((time.monotonic() + self.latency, _END))

    def _deliver(self, pending: queue.Queue[tuple[float, bytes]], upstream: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                due, data = pending.get()
                wait = due - time.monotonic()
                if wait > 0 and self._closed.wait(wait):
                    break
                if data == _END:
                    upstream.shutdown(socket.SHUT_WR)
                    return
                upstream.sendall(data)
        upstream.close()

    def _pass(self, upstream: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(_CHUNK):
                client.sendall(data)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> DelayingProxy:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
