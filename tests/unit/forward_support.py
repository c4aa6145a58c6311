"""Helpers of the forwarder tests: real logs of our own Gatling runs and a local Graphite sink on
127.0.0.1 that records every line it receives (hand-made binary logs: ltm_harness.gatling_binary_log)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from loadtest_monitor.render.gatling import render_gatling_conf
from loadtest_monitor.spec.monitor import parse_spec
from ltm_harness import wait
from ltm_harness.recorded_logs import (  # re-exported: the unit tests' one import place
    BINARY_VERSIONS as BINARY_VERSIONS,
)
from ltm_harness.recorded_logs import (
    DATA as DATA,
)
from ltm_harness.recorded_logs import (
    TEXT_VERSIONS as TEXT_VERSIONS,
)
from ltm_harness.recorded_logs import (
    binary_log_started_at as binary_log_started_at,
)
from ltm_harness.recorded_logs import (
    real_log as real_log,
)
from ltm_harness.recorded_logs import (
    report_totals as report_totals,
)
from ltm_harness.recorded_logs import (
    text_log_started_at as text_log_started_at,
)


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


def write_conf(tmp_path: Path, port: int) -> Path:
    conf = tmp_path / "gatling.conf"
    conf.write_text(render_gatling_conf(parse_spec({"gatling": {"writePeriod": 1}}), "127.0.0.1", port))
    return conf


def forward(conf: Path, results: Path, *extra: str, runner: str = "runner.1") -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GATLING_RUNNER", "HOSTNAME")}
    env["GATLING_RUNNER"] = runner
    args = [sys.executable, "-m", "loadtest_monitor.cli", "forward", "--gatling-conf", str(conf),
            "--results", str(results), *extra]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def run_folder(results: Path, version: str) -> Path:
    folder = results / str(report_totals(version)["runFolder"])
    folder.mkdir(parents=True)
    return folder
