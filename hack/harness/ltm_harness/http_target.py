"""A small local HTTP target for the Gatling simulations: answers on 127.0.0.1 only.

- ``/ok``    -> 200
- ``/fail``  -> 500, always
- ``/flaky`` -> 500 for every third request to that path (per server), else 200
- ``?delayMs=N`` on any path: the answer comes N ms later (slow responses for latency criteria)

It counts what it answered, by path and status, so tests can compare with Gatling and InfluxDB.
"""

from __future__ import annotations

import collections
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

#: A longer delay is a typo, not a test: it would hold a server thread for minutes.
MAX_DELAY_MS = 10_000


class _Handler(BaseHTTPRequestHandler):
    server: TargetServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        delay = parse_qs(parts.query).get("delayMs", ["0"])[-1]
        if delay.isdigit() and int(delay) > 0:
            time.sleep(min(int(delay), MAX_DELAY_MS) / 1000)
        with self.server.lock:
            self.server.hits[path] += 1
            nth = self.server.hits[path]
        if path == "/ok":
            status = 200
        elif path == "/fail":
            status = 500
        elif path == "/flaky":
            status = 500 if nth % 3 == 0 else 200
        else:
            status = 404
        body = f"{status}\n".encode()
        with self.server.lock:
            self.server.answered[(path, status)] += 1
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class TargetServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.hits: collections.Counter[str] = collections.Counter()
        self.answered: collections.Counter[tuple[str, int]] = collections.Counter()
        self._thread = threading.Thread(target=self.serve_forever, name="http-target", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> TargetServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    def total(self) -> int:
        with self.lock:
            return sum(self.answered.values())

    def errors(self) -> int:
        with self.lock:
            return sum(n for (_, status), n in self.answered.items() if status >= 400)
