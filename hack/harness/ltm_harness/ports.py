"""Free loopback ports."""

from __future__ import annotations

import contextlib
import socket

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nobody listens on right now."""
    with contextlib.ExitStack() as stack:
        # All sockets stay open while picking, so the same port is not handed out twice.
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for s in socks:
            s.bind((LOOPBACK, 0))
        return [int(s.getsockname()[1]) for s in socks]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    return free_ports(1)[0]


def free_tcp_udp_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (a Graphite listener takes both)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((LOOPBACK, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free loopback port for both TCP and UDP")
