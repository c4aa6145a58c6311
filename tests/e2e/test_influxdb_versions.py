"""The InfluxDB builds of the e2e matrix run the operator's rendered influxdb.conf as a pod would:
the default image's version is one of them, nothing phones home, and every port is the one chosen.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from loadtest_monitor.spec.monitor import DEFAULT_INFLUXDB_IMAGE, parse_spec
from ltm_harness.influx_bootstrap import start_influxd
from ltm_harness.influxd import INFLUXD_BUILDS, SOURCE_BUILT_VERSION, influxd_version


def test_the_default_image_is_the_version_the_suite_runs_on() -> None:
    tag = DEFAULT_INFLUXDB_IMAGE.removeprefix("influxdb:")
    assert tag == SOURCE_BUILT_VERSION, "the default image's version must be in the e2e matrix"
    assert INFLUXD_BUILDS[0].name == tag
    # influxd started without a binary (helpers, benchmarks) is that build too.
    assert influxd_version().startswith(f"InfluxDB {tag} ")


def test_rendered_conf_uses_only_the_chosen_ports_and_reports_nothing(influxd_binary: str, tmp_path: Path) -> None:
    """Two influxd side by side with the rendered config: each listens on exactly its own HTTP,
    Graphite (TCP and UDP) and RPC ports, so none of them is a fixed port that could collide."""
    spec = parse_spec({})
    first = start_influxd(spec, tmp_path / "first", influxd_binary)
    try:
        second = start_influxd(spec, tmp_path / "second", influxd_binary)
        try:
            time.sleep(1.0)  # influxd starts its usage reporter (when enabled) right after startup
            for server in (first, second):
                ports = server.ports
                assert server.listening() == {
                    ("tcp", ports.http),
                    ("tcp", ports.graphite),
                    ("udp", ports.graphite),
                    ("tcp", ports.rpc),
                }, server.log_tail()
                assert "Sending usage statistics" not in server.log_path.read_text(errors="replace")
        finally:
            second.stop()
    finally:
        first.stop()


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_graphite_line_lands_in_the_configured_database(influxd_binary: str, tmp_path: Path, protocol: str) -> None:
    """The smallest data path on each build: one Graphite line in, one point out, as templated."""

    spec = parse_spec({"graphite": {"protocol": protocol}})
    server = start_influxd(spec, tmp_path / "influxd", influxd_binary)
    try:
        now = int(time.time())
        line = f"gatling.runner-a.checkout.allRequests.ok.count 7 {now}\n".encode()
        kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as s:
            s.connect(("127.0.0.1", server.ports.graphite))
            s.sendall(line)
        deadline = time.monotonic() + 20
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline and not rows:
            time.sleep(0.3)
            try:
                rows = server.rows(f"SELECT * FROM /.*/ WHERE time >= {now - 1}s", spec.influxdb.database)
            except RuntimeError:
                rows = []  # the database appears with the first batch
        assert rows, server.log_tail()
        assert any(7 in row.values() or 7.0 in row.values() for row in rows), rows
    finally:
        server.stop()
