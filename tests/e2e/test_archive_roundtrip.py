"""An archive round trip loses nothing, on real InfluxDB 1.12 processes and S3 through moto.

A monitor's InfluxDB (bootstrapped and configured exactly as rendered) receives Gatling-shaped
Graphite lines; the archive code the `archive` container runs makes a portable backup against the
RPC port, adds the dashboards and uploads it; `archive list` finds it; the restore the new monitor's
pod runs downloads it, checks it against its manifest and restores it into a second, freshly
bootstrapped InfluxDB (a new monitor: its empty database exists). Every query result must then be
equal: series, tag and field keys with their types, retention policies and every point of every
measurement at nanosecond precision.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from loadtest_monitor.archive.agent import STOPPED_FILE, Agent, AgentConfig, archive_once
from loadtest_monitor.archive.bundle import BundleError
from loadtest_monitor.archive.bundle import Influxd as InfluxdRpc
from loadtest_monitor.archive.restore import InfluxHttp, restore_from_s3
from loadtest_monitor.aws.s3 import MANIFEST, list_archives
from loadtest_monitor.spec.monitor import parse_spec
from ltm_harness.influx_bootstrap import Credentials, start_bootstrapped
from ltm_harness.influxd import Influxd, default_binary

pytestmark = pytest.mark.e2e

SPEC = parse_spec({"influxdb": {"retention": "2w"}})
DB = SPEC.influxdb.database
PREFIX = SPEC.gatling.root_path_prefix
BUCKET = "ltm-archive-e2e"
S3_PREFIX = "team-a/archives"
REGION = "eu-west-1"
DASHBOARD = {"title": "Gatling", "uid": "gatling", "panels": [{"id": 1, "type": "timeseries"}]}


def _graphite_lines(now: int) -> list[str]:
    """Two runners, two requests, users, 30 windows: Gatling's own path shapes (with a group)."""
    lines = []
    for window in range(30):
        ts = now - 300 + window * 10
        for runner in ("runner-0", "runner-1"):
            for request, group in (("home", ""), ("search", "browse.")):
                for status in ("ok", "ko", "all"):
                    base = f"{PREFIX}.{runner}.checkout.{group}{request}.{status}"
                    lines += [
                        f"{base}.count {window % 7 + (status == 'ok')} {ts}",
                        f"{base}.mean {12.5 + window / 3:.4f} {ts}",
                        f"{base}.percentiles99 {40 + window} {ts}",
                    ]
            lines.append(f"{PREFIX}.{runner}.checkout.users.allUsers.active {window} {ts}")
    return lines


def _send(server: Influxd, lines: list[str]) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", server.ports.graphite), timeout=10) as conn:
        conn.sendall(("\n".join(lines) + "\n").encode())
    server.wait_quiet(lambda: server.graphite_stats().get("tcp", {}).get("pointsTx", 0))


def snapshot(server: Influxd) -> dict[str, Any]:
    """Everything a user could query from the database, in a comparable form."""
    measurements = [row["name"] for row in server.rows("SHOW MEASUREMENTS", DB)]
    out: dict[str, Any] = {
        "retention": server.series("SHOW RETENTION POLICIES", DB),
        "series": server.series("SHOW SERIES", DB),
        "tag_keys": server.series("SHOW TAG KEYS", DB),
        "field_keys": server.series("SHOW FIELD KEYS", DB),
    }
    for name in measurements:
        out[f"points:{name}"] = server.query_raw(f'SELECT * FROM "{name}" GROUP BY *', DB, epoch="ns")["results"]
    return out


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Influxd]:
    server, _ = start_bootstrapped(SPEC, tmp_path / "source")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Influxd]:
    server, _ = start_bootstrapped(SPEC, tmp_path / "target")
    try:
        yield server
    finally:
        server.stop()


def _config(server: Influxd, tmp_path: Path, **kwargs: Any) -> AgentConfig:
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir(exist_ok=True)
    (dashboards / "gatling.json").write_text(json.dumps(DASHBOARD))
    return AgentConfig(
        monitor="checkout",
        namespace="perf",
        database=DB,
        bucket=BUCKET,
        prefix=S3_PREFIX,
        influxd=InfluxdRpc(default_binary(), f"127.0.0.1:{server.ports.rpc}"),
        state_dir=tmp_path / "state",
        work_dir=tmp_path / "work",
        dashboards=dashboards,
        **kwargs,
    )


def _http(server: Influxd) -> InfluxHttp:
    user, password = Credentials().admin
    return InfluxHttp(server.url, user, password)


def test_archive_round_trip_restores_every_series(source: Influxd, target: Influxd, s3: Any, tmp_path: Path) -> None:
    _send(source, _graphite_lines(int(time.time())))
    before = snapshot(source)
    assert len(before["series"][0]["values"]) == 2 * 2 * 3 + 2, "12 request series and 2 users series written"
    assert sum(len(s["values"]) for r in before["points:gatling"] for s in r["series"]) == 30 * 12

    url, sent = archive_once(_config(source, tmp_path), s3)

    listed = list_archives(s3, BUCKET, S3_PREFIX)
    assert [(e.url.monitor, e.url.time) for e in listed] == [("checkout", url.time)]
    assert listed[0].size == sent > 0
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{url.key_prefix}/{MANIFEST}")["Body"].read())
    assert manifest["monitor"] == "checkout" and manifest["influxdb"]["database"] == DB
    assert manifest["dashboards"] == ["gatling.json"]
    dashboard = s3.get_object(Bucket=BUCKET, Key=f"{url.key_prefix}/dashboards/gatling.json")["Body"].read()
    assert json.loads(dashboard) == DASHBOARD

    assert snapshot(target)["series"] == [], "the new monitor starts empty"
    restored = restore_from_s3(
        InfluxdRpc(default_binary(), f"127.0.0.1:{target.ports.rpc}"), _http(target), s3, url, tmp_path / "restore"
    )
    assert restored == DB
    assert snapshot(target) == before


def test_restore_refuses_a_database_that_holds_data(source: Influxd, s3: Any, tmp_path: Path) -> None:
    _send(source, _graphite_lines(int(time.time())))
    before = snapshot(source)
    url, _ = archive_once(_config(source, tmp_path), s3)
    with pytest.raises(BundleError, match=r"already holds data .*restore into a new monitor"):
        restore_from_s3(
            InfluxdRpc(default_binary(), f"127.0.0.1:{source.ports.rpc}"), _http(source), s3, url, tmp_path / "r"
        )
    assert snapshot(source) == before, "nothing was changed"


def test_restore_refuses_a_tampered_archive(source: Influxd, target: Influxd, s3: Any, tmp_path: Path) -> None:
    _send(source, _graphite_lines(int(time.time())))
    url, _ = archive_once(_config(source, tmp_path), s3)
    s3.put_object(Bucket=BUCKET, Key=f"{url.key_prefix}/dashboards/gatling.json", Body=b"{}")
    with pytest.raises(BundleError, match=r"differ from its manifest.*dashboards/gatling[.]json"):
        restore_from_s3(
            InfluxdRpc(default_binary(), f"127.0.0.1:{target.ports.rpc}"), _http(target), s3, url, tmp_path / "r"
        )


def test_agent_archives_on_stop_while_influxd_still_serves(source: Influxd, s3: Any, tmp_path: Path) -> None:
    """What the pod does when the monitor is deleted: SIGTERM reaches the agent (stop()), influxd's
    preStop hook holds it until the agent writes its stopped file after the upload."""
    _send(source, _graphite_lines(int(time.time())))
    cfg = _config(source, tmp_path, on_stop=True)
    agent = Agent(cfg, s3)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(agent.run()))
    thread.start()
    time.sleep(0.5)
    assert not (cfg.state_dir / STOPPED_FILE).exists(), "influxd's preStop must keep waiting while the agent runs"
    agent.stop()
    thread.join(timeout=120)
    assert result == [0]
    assert (cfg.state_dir / STOPPED_FILE).exists()
    last = json.loads((cfg.state_dir / "last.json").read_text())
    assert last["ok"] is True and last["reason"] == "stop", last
    assert [e.url.monitor for e in list_archives(s3, BUCKET, S3_PREFIX)] == ["checkout"]


def _rendered_agent_command(source: Influxd, tmp_path: Path) -> list[str]:
    """The archive container's command as the renderer writes it, with the pod's paths and RPC
    address moved to this machine's (nothing else changed)."""
    from loadtest_monitor.render.archive import agent_args
    from loadtest_monitor.render.common import Owner, RenderContext

    spec = parse_spec(
        {
            "influxdb": {"retention": "2w"},
            "archive": {
                "s3": {"bucket": BUCKET, "prefix": S3_PREFIX, "region": REGION},
                "serviceAccountName": "loadtest-archive",
                "schedule": "0 0 1 1 *",
                "onDelete": True,
            },
        }
    )
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir(exist_ok=True)
    (dashboards / "gatling.json").write_text(json.dumps(DASHBOARD))
    moved = {
        "--influxd": default_binary(),
        "--rpc": f"127.0.0.1:{source.ports.rpc}",
        "--state-dir": str(tmp_path / "state"),
        "--work-dir": str(tmp_path / "work"),
        "--dashboards": str(dashboards),
    }
    command = agent_args(RenderContext(Owner("checkout", "perf"), spec))
    return [moved.get(command[i - 1], arg) if i else arg for i, arg in enumerate(command)]


def test_the_rendered_agent_command_archives_on_sigterm_and_restore_here_restores_it(
    source: Influxd, target: Influxd, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two in-pod commands through the CLI: `archive agent` with the rendered arguments gets
    SIGTERM (the kubelet stopping the pod) and uploads; `archive restore-here` restores it."""
    import os
    import signal

    from loadtest_monitor.cli.main import main

    _send(source, _graphite_lines(int(time.time())))
    before = snapshot(source)
    command = _rendered_agent_command(source, tmp_path)
    state = tmp_path / "state"

    def terminate_when_waiting() -> None:
        deadline = time.monotonic() + 30
        while not state.is_dir() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    handler_before = signal.getsignal(signal.SIGTERM)
    killer = threading.Thread(target=terminate_when_waiting)
    killer.start()
    assert main(command[1:]) == 0
    killer.join()
    assert signal.getsignal(signal.SIGTERM) is handler_before, "the agent puts the SIGTERM handler back"
    assert (state / STOPPED_FILE).exists()
    archives = list_archives(s3, BUCKET, S3_PREFIX)
    assert [e.url.monitor for e in archives] == ["checkout"], (state / "last.json").read_text()

    user, password = Credentials().admin
    monkeypatch.setenv("LTM_INFLUXDB_HTTP", target.url)
    monkeypatch.setenv("LTM_INFLUXDB_ADMIN_USER", user)
    monkeypatch.setenv("LTM_INFLUXDB_ADMIN_PASSWORD", password)
    restore = ["archive", "restore-here", str(archives[0].url), "--influxd", default_binary()]
    restore += ["--rpc", f"127.0.0.1:{target.ports.rpc}", "--work-dir", str(tmp_path / "restore")]
    assert main(restore) == 0
    assert snapshot(target) == before


def test_agent_archives_at_the_scheduled_minute(source: Influxd, s3: Any, tmp_path: Path) -> None:
    """Every minute ('* * * * *'), with the agent's clock one second before a minute turns: the
    first archive comes after about a second, made by the schedule, not by a stop."""
    import datetime as dt

    from loadtest_monitor.spec.cron import parse_cron

    _send(source, _graphite_lines(int(time.time())))
    now = dt.datetime.now(dt.UTC)
    shift = dt.timedelta(seconds=59 - now.second, microseconds=-now.microsecond)
    cfg = _config(source, tmp_path, schedule=parse_cron("* * * * *"))
    agent = Agent(cfg, s3, clock=lambda: dt.datetime.now(dt.UTC) + shift)
    thread = threading.Thread(target=agent.run)
    started = time.monotonic()
    thread.start()
    try:
        last = cfg.state_dir / "last.json"
        while not last.exists() and time.monotonic() - started < 30:
            time.sleep(0.1)
        assert last.exists(), "no archive within 30 s of a minute that was 1 s away"
        assert json.loads(last.read_text())["reason"] == "schedule"
    finally:
        agent.stop()
        thread.join(timeout=60)
    assert [e.url.monitor for e in list_archives(s3, BUCKET, S3_PREFIX)] == ["checkout"]
    assert (cfg.state_dir / STOPPED_FILE).exists(), "the preStop hook is released without on-stop archiving too"


def test_restore_refuses_an_archive_older_than_the_new_monitors_retention(
    source: Influxd, target: Influxd, s3: Any, tmp_path: Path
) -> None:
    """The new monitor keeps 2 weeks (SPEC): an archive of 30 days ago would be deleted by InfluxDB."""
    import datetime as dt

    from loadtest_monitor.archive.restore import restore_into_empty
    from loadtest_monitor.aws.s3 import download_archive

    _send(source, _graphite_lines(int(time.time())))
    url, _ = archive_once(_config(source, tmp_path), s3)
    folder = tmp_path / "downloaded"
    download_archive(s3, url, folder)
    empty = snapshot(target)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    rpc = InfluxdRpc(default_binary(), f"127.0.0.1:{target.ports.rpc}")
    with pytest.raises(BundleError, match=r"30 days old and this monitor keeps data for 14 days: .*retention: INF"):
        restore_into_empty(rpc, _http(target), folder, now=later)
    assert snapshot(target) == empty, "nothing was changed"
    assert restore_into_empty(rpc, _http(target), folder) == DB, "a fresh archive restores"
