"""A real influxd (InfluxDB 1.x) started on free loopback ports with a given influxdb.conf.

Shared by the end-to-end and image tests, the pod runner and the benchmarks. Nothing here is product code: the config
text comes from the operator's renderer, this only runs it and talks to InfluxDB's HTTP API.

Two builds of InfluxDB 1.x are known (`INFLUXD_BUILDS`): 1.12.4, the version of the operator's
default image, built from source into the cache by hack/build-influxdb.sh, and Debian's packaged
1.6.x, an older release that users still run.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltm_harness.binaries import cache_root
from ltm_harness.ports import free_tcp_udp_port
from ltm_harness.processes import spawn
from ltm_harness.tools import MissingTool
from ltm_harness.wait import wait_for

TCP_LISTEN = "0A"  # the state column of /proc/net/tcp
RPC_BIND_LINE = re.compile(r'^bind-address\s*=\s*"[^"]*"\s*$', re.MULTILINE)


def influxd_version(binary: str | None = None) -> str:
    out = subprocess.run([binary or default_binary(), "version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


# The InfluxDB release that hack/build-influxdb.sh builds by default: the default image's tag.
SOURCE_BUILT_VERSION = "1.12.4"


@dataclass(frozen=True)
class InfluxdBuild:
    """One influxd binary of the version matrix: `name` is the test id, `version_prefix` what
    `influxd version` must start with (so a test can never run on a different build by accident)."""

    name: str
    version_prefix: str
    how_to_install: str
    cached_binary: str | None = None  # a path in the cache; None: Debian's `influxd` on PATH

    def binary(self) -> str:
        """The binary's path; MissingTool (with the command that installs it) if it is not there."""
        if self.cached_binary is None:
            path = shutil.which("influxd")
        else:
            candidate = cache_root() / self.cached_binary
            path = str(candidate) if os.access(candidate, os.X_OK) else None
        if path is None:
            raise MissingTool(f"influxd {self.name} is not installed: run `{self.how_to_install}`")
        version = influxd_version(path)
        if not version.startswith(self.version_prefix):
            raise MissingTool(
                f"{path} reports {version!r}, not {self.version_prefix!r}: run `{self.how_to_install}`"
            )
        return path


INFLUXD_BUILDS = (
    InfluxdBuild(
        name=SOURCE_BUILT_VERSION,
        version_prefix=f"InfluxDB {SOURCE_BUILT_VERSION} ",
        how_to_install="make influxdb",
        cached_binary=f"influxdb-{SOURCE_BUILT_VERSION}/influxd",
    ),
    InfluxdBuild(name="debian-1.6", version_prefix="InfluxDB v1.6.", how_to_install="make e2e-deps"),
)


def default_binary() -> str:
    """The influxd of a caller that names none: the build of the default image's version."""
    return INFLUXD_BUILDS[0].binary()


@dataclass
class Ports:
    http: int
    graphite: int
    rpc: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(http=free_tcp_udp_port(), graphite=free_tcp_udp_port(), rpc=free_tcp_udp_port())


def with_rpc_bind(conf: str, rpc_bind: str) -> str:
    """Moves the top-level RPC bind-address (backup/restore service, 127.0.0.1:8088 when rendered)
    to a free port, so several influxd can run side by side on one machine. Only that line changes."""
    new, n = RPC_BIND_LINE.subn(f'bind-address = "{rpc_bind}"', conf, count=1)
    if n == 0:
        new = f'bind-address = "{rpc_bind}"\n' + conf
    return new


class Influxd:
    """One influxd process; `query` talks to its HTTP API."""

    def __init__(
        self,
        conf_text: str,
        workdir: Path,
        ports: Ports,
        binary: str | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.conf_text = conf_text
        self.binary = binary
        self.workdir = workdir
        self.ports = ports
        self.auth = auth  # (user, password) sent with every query when HTTP auth is on
        self.conf_path = workdir / "influxdb.conf"
        self.log_path = workdir / "influxd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    def start(self, timeout: float = 30.0) -> Influxd:
        binary = self.binary or default_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.conf_text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
        self.proc = spawn([binary, "run", "-config", str(self.conf_path)], self.log_path, env=env)
        try:
            wait_for(self._ready, timeout, "influxd to answer /ping")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"influxd did not answer /ping within {timeout}s:\n{self.log_tail()}") from None
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"influxd exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp:
                return resp.status == 204 and self._graphite_ready()
        except urllib.error.HTTPError as err:
            err.close()
            return False
        except OSError:
            return False

    def _graphite_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.ports.graphite), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def listening(self) -> set[tuple[str, int]]:
        """(protocol, port) of every socket this influxd listens on (TCP in LISTEN state, bound
        UDP), read from /proc: what a second influxd or another test on the machine could collide with."""
        if self.proc is None:
            return set()
        inodes: set[str] = set()
        for fd in Path(f"/proc/{self.proc.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
        found: set[tuple[str, int]] = set()
        for table in ("tcp", "tcp6", "udp", "udp6"):
            for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if inode in inodes and (table.startswith("udp") or state == TCP_LISTEN):
                    found.add((table[:3], int(local.rsplit(":", 1)[1], 16)))
        return found

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    # --- HTTP API -----------------------------------------------------------------------------

    def query_raw(self, q: str, db: str | None = None, epoch: str = "s") -> dict[str, Any]:
        params = {"q": q, "epoch": epoch}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(f"{self.url}/query", data=data, method="POST")
        if self.auth:  # InfluxDB reads u/p only from the URL, so: HTTP basic authentication
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            body: dict[str, Any] = json.load(resp)
        for result in body.get("results", []):
            if "error" in result:
                raise RuntimeError(f"InfluxQL error for {q!r}: {result['error']}")
        if "error" in body:
            raise RuntimeError(f"InfluxQL error for {q!r}: {body['error']}")
        return body

    def series(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """All series of all statements, each {name, tags, columns, values}."""
        out: list[dict[str, Any]] = []
        for result in self.query_raw(q, db)["results"]:
            out.extend(result.get("series", []))
        return out

    def rows(self, q: str, db: str | None = None) -> list[dict[str, Any]]:
        """Rows as dicts, tags merged in (one dict per value row)."""
        rows: list[dict[str, Any]] = []
        for s in self.series(q, db):
            for values in s.get("values", []):
                row = dict(zip(s["columns"], values, strict=True))
                row.update(s.get("tags") or {})
                rows.append(row)
        return rows

    def stats(self, module: str) -> list[dict[str, Any]]:
        """`SHOW STATS FOR '<module>'`: the live counters that the monitor stores into `_internal`."""
        out = []
        for s in self.series(f"SHOW STATS FOR '{module}'"):
            row = dict(zip(s["columns"], s["values"][0], strict=True))
            row["_tags"] = s.get("tags") or {}
            out.append(row)
        return out

    def graphite_stats(self) -> dict[str, dict[str, int]]:
        """Graphite service counters per protocol ('tcp'/'udp'): pointsRx, pointsTx, ..."""
        result: dict[str, dict[str, int]] = {}
        for row in self.stats("graphite"):
            proto = str(row["_tags"].get("proto", "?"))
            result[proto] = {k: int(v) for k, v in row.items() if k != "_tags" and isinstance(v, int | float)}
        return result

    def wait_quiet(
        self, counter: Callable[[], int], quiet_seconds: float = 2.5, timeout: float = 60.0
    ) -> int:
        """Waits until counter() stops changing for quiet_seconds; returns its last value."""
        deadline = time.monotonic() + timeout
        last = counter()
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = counter()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_seconds:
                return now
        return last
