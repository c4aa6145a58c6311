"""Delivers Graphite payloads over TCP or UDP, riding out outages with a bounded buffer.

- Every payload (one window) is queued; the queue holds at most `max_buffer_bytes` (default
  32 MiB: with 30 request paths a window is about 65 KiB, so about 500 windows, 8 minutes at a
  1 s writePeriod). When it is full the OLDEST payloads are dropped and counted, with a warning.
- TCP: a failed connect or send closes the socket and retries after a back-off that doubles from
  0.2 s up to 5 s, so a Graphite port that comes back is used again within 5 s. A payload is
  re-sent whole after a failure: Graphite points are idempotent in InfluxDB (same series, same
  timestamp, same value), so a partly delivered payload sent again does no harm. Before each send
  the socket is checked for a close by the peer (an InfluxDB restart), which a plain send would
  only notice one payload too late.
- UDP: datagrams of at most 1,400 bytes cut at line ends (no IP fragmentation); a longer line
  goes alone in its own datagram, never cut (the two halves would be two lines, the second a
  forged one); nothing tells whether they arrived, as with Gatling's own UDP sender.
Nothing here raises to the caller: the forwarder must outlive any Graphite outage.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger("loadtest_monitor.forward")

DEFAULT_BUFFER_BYTES = 32 << 20
FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 5.0
UDP_DATAGRAM_BYTES = 1400
_WARN_EVERY_S = 10.0
_MIB = float(1 << 20)


class GraphiteSender:
    def __init__(
        self,
        host: str,
        port: int,
        protocol: str = "tcp",
        max_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        connect_timeout_s: float = 2.0,
        send_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.protocol = protocol
        self.max_buffer_bytes = max_buffer_bytes
        self._connect_timeout = connect_timeout_s
        self._send_timeout = send_timeout_s
        self._clock = clock
        self._queue: deque[bytes] = deque()
        self.buffered_bytes = 0
        self._sock: socket.socket | None = None
        self._udp_addr: tuple[str, int] | None = None
        self._backoff = 0.0
        self._retry_at = 0.0
        self._down_since: float | None = None
        self._last_drop_warning = -_WARN_EVERY_S
        self.dropped_payloads = 0
        self.dropped_bytes = 0
        self.failures = 0

    @property
    def address(self) -> str:
        return f"{self.protocol}://{self.host}:{self.port}"

    @property
    def pending(self) -> int:
        return len(self._queue)

    def put(self, payload: bytes) -> None:
        if not payload:
            return
        self._queue.append(payload)
        self.buffered_bytes += len(payload)
        dropped = 0
        while self.buffered_bytes > self.max_buffer_bytes and len(self._queue) > 1:
            oldest = self._queue.popleft()
            self.buffered_bytes -= len(oldest)
            self.dropped_bytes += len(oldest)
            dropped += 1
        if dropped:
            self.dropped_payloads += dropped
            now = self._clock()
            if now - self._last_drop_warning >= _WARN_EVERY_S:
                self._last_drop_warning = now
                log.warning(
                    "Graphite %s unreachable and the buffer (%.1f MiB) is full: dropped the oldest windows "
                    "(%d windows, %d bytes dropped so far)",
                    self.address, self.max_buffer_bytes / _MIB, self.dropped_payloads, self.dropped_bytes,
                )

    def pump(self) -> bool:
        """Sends what it can now; True when the queue is empty."""
        while self._queue:
            if self._clock() < self._retry_at:
                return False
            payload = self._queue[0]
            try:
                self._send(payload)
            except OSError as err:
                self._failed(err)
                return False
            self._queue.popleft()
            self.buffered_bytes -= len(payload)
            self._recovered()
        return True

    def drain(self, timeout_s: float | None) -> bool:
        """Keeps sending (waiting out back-offs) until the queue is empty or the time is up."""
        deadline = None if timeout_s is None else self._clock() + timeout_s
        while not self.pump():
            now = self._clock()
            if deadline is not None and now >= deadline:
                return False
            wait = max(self._retry_at - now, 0.01)
            time.sleep(wait if deadline is None else min(wait, max(deadline - now, 0.0)))
        return True

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    # -- internals ---------------------------------------------------------------------------------

    def _send(self, payload: bytes) -> None:
        if self.protocol == "udp":
            self._send_udp(payload)
            return
        sock = self._sock
        if sock is not None and _peer_closed(sock):
            self.close()
            sock = None
        if sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self._connect_timeout)
            sock.settimeout(self._send_timeout)
            self._sock = sock
        sock.sendall(payload)

    def _send_udp(self, payload: bytes) -> None:
        if self._sock is None or self._udp_addr is None:
            family, _, _, _, addr = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
            self._sock = socket.socket(family, socket.SOCK_DGRAM)
            self._udp_addr = (str(addr[0]), int(addr[1]))
        start = 0
        while start < len(payload):
            end = start + UDP_DATAGRAM_BYTES
            if end < len(payload):
                cut = payload.rfind(b"\n", start, end)
                end = cut + 1 if cut >= start else payload.find(b"\n", end) + 1 or len(payload)
            self._sock.sendto(payload[start:end], self._udp_addr)
            start = end

    def _failed(self, err: OSError) -> None:
        self.close()
        self._udp_addr = None
        self.failures += 1
        now = self._clock()
        self._backoff = FIRST_BACKOFF_S if self._backoff == 0 else min(self._backoff * 2, MAX_BACKOFF_S)
        self._retry_at = now + self._backoff
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "Graphite %s: %s; keeping the windows (up to %.1f MiB) and retrying every %.1f-%.0f s",
                self.address, err.strerror or err, self.max_buffer_bytes / _MIB, FIRST_BACKOFF_S, MAX_BACKOFF_S,
            )

    def _recovered(self) -> None:
        if self._down_since is not None:
            log.warning(
                "Graphite %s reachable again after %.1f s; sending %d buffered windows",
                self.address, self._clock() - self._down_since, len(self._queue),
            )
        self._down_since = None
        self._backoff = 0.0
        self._retry_at = 0.0


def _peer_closed(sock: socket.socket) -> bool:
    """True when the peer closed or reset the connection (Graphite never sends anything)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True
