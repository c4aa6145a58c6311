"""The Graphite sender against real sockets on 127.0.0.1: refused, then accepted; a full buffer;
a connection closed by the server; UDP datagrams."""

from __future__ import annotations

import socket
import time

from loadtest_monitor.forward.sender import MAX_BACKOFF_S, UDP_DATAGRAM_BYTES, GraphiteSender
from ltm_harness.ports import free_port
from tests.unit.forward_support import GraphiteSink


def payload(i: int, lines: int = 3) -> bytes:
    return "".join(f"p.w{i:02d}.m{j:03d} {j:03d} {1000 + i}\n" for j in range(lines)).encode()


def test_a_refusing_port_is_retried_with_back_off_until_it_accepts():
    port = free_port()
    sender = GraphiteSender("127.0.0.1", port)
    for i in range(3):
        sender.put(payload(i))
    assert sender.pump() is False  # connection refused: nothing lost, nothing raised
    assert sender.pending == 3 and sender.failures == 1
    time.sleep(1.5)
    sender.pump()  # still refused, the back-off grows
    sink = GraphiteSink(port)
    try:
        started = time.monotonic()
        assert sender.drain(timeout_s=MAX_BACKOFF_S + 3)
        assert time.monotonic() - started <= MAX_BACKOFF_S + 1
        assert sink.wait_for(lambda: len(sink.lines) == 9, timeout=5)
        assert sink.lines == [line for i in range(3) for line in payload(i).decode().splitlines()]
        assert sender.failures >= 2 and sender.dropped_payloads == 0
    finally:
        sender.close()
        sink.close()


def test_the_buffer_is_bounded_and_drops_the_oldest_windows():
    port = free_port()
    sender = GraphiteSender("127.0.0.1", port, max_buffer_bytes=10 * len(payload(0)))
    for i in range(25):
        sender.put(payload(i))
        sender.pump()
    assert sender.pending == 10 and sender.buffered_bytes <= sender.max_buffer_bytes
    assert sender.dropped_payloads == 15
    sink = GraphiteSink(port)
    try:
        assert sender.drain(timeout_s=MAX_BACKOFF_S + 3)
        assert sink.wait_for(lambda: len(sink.lines) == 30, timeout=5)
        assert {line.split()[0].split(".")[1] for line in sink.lines} == {f"w{i:02d}" for i in range(15, 25)}
    finally:
        sender.close()
        sink.close()


def test_a_connection_closed_by_graphite_is_noticed_before_the_next_window():
    sink = GraphiteSink()
    sender = GraphiteSender("127.0.0.1", sink.port)
    try:
        sender.put(payload(0))
        assert sender.pump()
        assert sink.wait_for(lambda: len(sink.lines) == 3, timeout=5)
        sink.drop_connections()
        time.sleep(0.2)
        sender.put(payload(1))
        assert sender.drain(timeout_s=5)
        assert sink.wait_for(lambda: len(sink.lines) == 6, timeout=5)
        assert sink.connections == 2
    finally:
        sender.close()
        sink.close()


def test_udp_payloads_go_in_datagrams_cut_at_line_ends():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    sender = GraphiteSender("127.0.0.1", receiver.getsockname()[1], protocol="udp")
    try:
        big = payload(7, lines=200)
        sender.put(big)
        assert sender.pump()
        got = b""
        while len(got) < len(big):
            datagram = receiver.recv(65536)
            assert len(datagram) <= UDP_DATAGRAM_BYTES and datagram.endswith(b"\n")
            got += datagram
        assert got == big
    finally:
        sender.close()
        receiver.close()
