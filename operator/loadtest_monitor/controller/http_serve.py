"""The operator's small HTTP servers (/healthz, /metrics): one thread per connection, each bounded.

A connection that sends nothing, or trickles a byte now and then, would otherwise hold its thread
for ever: enough of them and the liveness probe itself gets no answer. Every connection gets a
socket timeout (a silent one is closed after IDLE_SECONDS) and a deadline (one that trickles is
cut after DEADLINE_SECONDS, however it sends); probes and scrapes finish in milliseconds.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer, ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, make_wsgi_app

IDLE_SECONDS = 5.0
DEADLINE_SECONDS = 10.0


def _cut(conn: socket.socket) -> None:
    """Ends a connection past its deadline: a thread blocked reading it wakes up and finishes."""
    with contextlib.suppress(OSError):  # already closed by the handler
        conn.shutdown(socket.SHUT_RDWR)


class BoundedConnections(BaseServer):
    """Mixed into a threading server: every connection has an idle timeout and a deadline."""

    idle_seconds = IDLE_SECONDS
    deadline_seconds = DEADLINE_SECONDS

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(self.idle_seconds)
        timer = threading.Timer(self.deadline_seconds, _cut, (request,))
        timer.daemon = True
        timer.start()
        try:
            super().finish_request(request, client_address)
        finally:
            timer.cancel()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went silent or away is the client's problem, not a traceback in our log.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class BoundedHTTPServer(BoundedConnections, ThreadingHTTPServer):
    """ThreadingHTTPServer (daemon threads) with bounded connections; /healthz runs on it."""


class _MetricsServer(BoundedConnections, ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return  # scraped every few seconds: not worth a log line


def serve_metrics(registry: CollectorRegistry, port: int, address: str) -> _MetricsServer:
    """Serves the registry at /metrics (any path, as prometheus-client does) on a daemon thread."""
    server = _MetricsServer((address, port), _QuietHandler)
    server.set_app(make_wsgi_app(registry))
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def serve(handler: type[BaseHTTPRequestHandler], port: int, address: str, name: str) -> BoundedHTTPServer:
    """Serves `handler` on a daemon thread."""
    server = BoundedHTTPServer((address, port), handler)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server
