"""/healthz and /metrics: a client that sends nothing, or trickles, cannot hold a server thread.

Both servers are started the way `run` starts them (handlers._serve_health, metrics.start_metrics_server).
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from loadtest_monitor.controller import handlers, metrics
from loadtest_monitor.settings import Settings
from ltm_harness.ports import LOOPBACK, free_port

# "A few seconds": what the test allows for an idle connection to be closed.
IDLE_LIMIT = 7.0


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """The /healthz and /metrics ports, each served as `run` serves it."""
    rt = handlers.Runtime(Settings(liveness_port=free_port()))
    monkeypatch.setattr(handlers, "RUNTIME", rt)
    handlers._serve_health(rt)
    assert rt.health_server is not None
    try:
        yield {"/healthz": rt.settings.liveness_port, "/metrics": metrics.start_metrics_server(0, address=LOOPBACK)}
    finally:
        rt.health_server.shutdown()
        rt.health_server.server_close()


def _status(port: int, path: str) -> int:
    """The HTTP status of one GET (500 counts: /healthz without a running queue says so)."""
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{path}", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _closed_after(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closed `sock` (reads EOF or a reset), or None if still open at `limit`."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        return None
    except ConnectionError:
        pass
    return time.monotonic() - started


def test_silent_connections_are_closed_and_never_delay_a_probe(ports: dict[str, int]) -> None:
    silent = {path: [socket.create_connection((LOOPBACK, port)) for _ in range(3)] for path, port in ports.items()}
    try:
        for path, port in ports.items():
            started = time.monotonic()
            assert _status(port, path) in (200, 500)
            assert time.monotonic() - started < 1.0, path
        closed: dict[str, list[float | None]] = {}

        def wait(path: str) -> None:
            closed[path] = [_closed_after(sock, IDLE_LIMIT) for sock in silent[path]]

        waiters = [threading.Thread(target=wait, args=(path,)) for path in silent]
        for waiter in waiters:
            waiter.start()
        for waiter in waiters:
            waiter.join()
        for path, seconds in closed.items():
            assert None not in seconds, f"{path}: a silent connection was still open after {IDLE_LIMIT} s"
        # And the servers still answer at once.
        for path, port in ports.items():
            assert _status(port, path) in (200, 500)
    finally:
        for socks in silent.values():
            for sock in socks:
                sock.close()


def test_a_trickling_connection_is_cut_at_its_deadline(ports: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    from loadtest_monitor.controller import http_serve
    # Short bounds for the test; the trickle (a byte every 0.2 s) never lets the idle timeout fire.
    monkeypatch.setattr(http_serve.BoundedConnections, "idle_seconds", 1.0)
    monkeypatch.setattr(http_serve.BoundedConnections, "deadline_seconds", 1.5)
    results: dict[str, float | None] = {}

    def trickle(path: str, port: int) -> None:
        sock = socket.create_connection((LOOPBACK, port))
        started = time.monotonic()
        try:
            for byte in f"GET {path} HTTP/1.1\r\nX-Slow: {'x' * 100}".encode():
                if time.monotonic() - started > 5.0:
                    results[path] = None
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:  # the server cut the connection
                    results[path] = time.monotonic() - started
                    return
                sock.settimeout(0.2)
                try:
                    if sock.recv(1024) == b"":
                        results[path] = time.monotonic() - started
                        return
                except TimeoutError:
                    continue
                except ConnectionError:
                    results[path] = time.monotonic() - started
                    return
            results[path] = None
        finally:
            sock.close()

    senders = [threading.Thread(target=trickle, args=item) for item in ports.items()]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    for path, seconds in results.items():
        assert seconds is not None and seconds < 3.0, f"{path}: a trickling connection was kept {seconds}"
