"""The InfluxDB bootstrap (init container) and HTTP authentication, on a real InfluxDB.

The rendered bootstrap script runs as the pod runs it (before influxd serves), then influxd starts
with the rendered influxdb.conf. Checked: every retention the spec accepts is applied with a shard
duration InfluxDB takes; a retention InfluxDB refuses is reported as the termination message and
InfluxDB still starts (no crash loop); without credentials nothing is answered; the reader reads
and cannot write or drop; the Graphite listener still takes lines; a new password in the Secret
is set on the next start.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from loadtest_monitor.render import bootstrap
from loadtest_monitor.spec.monitor import MonitorSpec, parse_spec
from ltm_harness.influx_bootstrap import Credentials, run_bootstrap, start_bootstrapped, start_main
from ltm_harness.influxd import Influxd, Ports

pytestmark = pytest.mark.e2e

DB = "gatling"
# A reader password with every character InfluxQL quoting has to survive.
AWKWARD = Credentials(reader_password="r3ad'er \"pass\\word\" $HOME %s ;DROP")


def _http(server: Influxd, path: str, params: dict[str, str], auth: tuple[str, str] | None = None,
          body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    url = f"{server.url}{path}?{urllib.parse.urlencode(params)}"
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text.strip() else {}
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        return err.code, json.loads(text) if text.strip() else {}


def _query(server: Influxd, q: str, auth: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
    return _http(server, "/query", {"q": q, "db": DB, "epoch": "s"}, auth)


def _policy(server: Influxd) -> dict[str, Any]:
    (series,) = server.series(f'SHOW RETENTION POLICIES ON "{DB}"')
    policies = [dict(zip(series["columns"], v, strict=True)) for v in series["values"]]
    return next(p for p in policies if p["name"] == "autogen")


def _spec(retention: str) -> MonitorSpec:
    """A spec with this retention, also one the parser may refuse (what InfluxDB refuses is tested)."""
    spec = parse_spec({})
    return dataclasses.replace(spec, influxdb=dataclasses.replace(spec.influxdb, retention=retention))


@pytest.mark.parametrize(
    ("retention", "duration", "shard"),
    [
        ("1h", "1h0m0s", "1h0m0s"),
        ("24h", "24h0m0s", "1h0m0s"),
        ("2w", "336h0m0s", "24h0m0s"),
        ("INF", "0s", "168h0m0s"),
        ("5200w", "873600h0m0s", "168h0m0s"),
    ],
)
def test_every_retention_is_applied_with_a_shard_duration_influxdb_accepts(
    tmp_path: Path, retention: str, duration: str, shard: str
) -> None:
    server, run = start_bootstrapped(parse_spec({"influxdb": {"retention": retention}}), tmp_path)
    try:
        assert run.exit_code == 0
        assert run.message.startswith(f"{bootstrap.BOOTSTRAPPED}: database {DB}, retention {retention} ")
        policy = _policy(server)
        assert (policy["duration"], policy["shardGroupDuration"], policy["default"]) == (duration, shard, True)
    finally:
        server.stop()


def test_a_changed_retention_is_applied_to_the_existing_database(tmp_path: Path) -> None:
    """The spec changes from 2w to 24h: the pod restarts and its bootstrap alters the kept policy."""
    creds = Credentials()
    ports = Ports.pick()
    first = run_bootstrap(parse_spec({"influxdb": {"retention": "2w"}}), tmp_path, ports, creds)
    assert first.reason == bootstrap.BOOTSTRAPPED, first.output
    second = run_bootstrap(parse_spec({"influxdb": {"retention": "24h"}}), tmp_path, ports, creds)
    assert second.reason == bootstrap.BOOTSTRAPPED, second.output
    server = start_main(parse_spec({}), tmp_path, ports, creds)
    try:
        policy = _policy(server)
        assert (policy["duration"], policy["shardGroupDuration"]) == ("24h0m0s", "1h0m0s")
    finally:
        server.stop()


def test_a_retention_influxdb_refuses_is_reported_and_influxdb_still_starts(tmp_path: Path) -> None:
    """999999w overflows InfluxQL's durations: the bootstrap says so, exits 0, and InfluxDB serves."""
    spec = _spec("999999w")
    creds = Credentials()
    ports = Ports.pick()
    run = run_bootstrap(spec, tmp_path, ports, creds)
    assert run.exit_code == 0, run.output
    assert run.reason == bootstrap.RETENTION_FAILED, run.message
    assert "retention 999999w" in run.message and "\n" not in run.message
    assert creds.admin_password not in run.message and creds.reader_password not in run.message
    server = start_main(spec, tmp_path, ports, creds)
    try:
        assert _policy(server)["duration"] == "0s"  # the database is there, its policy unchanged
        status, _ = _query(server, "SHOW MEASUREMENTS", creds.reader)
        assert status == 200  # and the users were still made
    finally:
        server.stop()


def _send_users_line(server: Influxd, value: int) -> None:
    line = f"gatling.runner-a.sim.users.browse.active {value} {int(time.time())}\n"
    with socket.create_connection(("127.0.0.1", server.ports.graphite), timeout=10) as conn:
        conn.sendall(line.encode())


def _wait_for_point(server: Influxd, auth: tuple[str, str]) -> list[Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, body = _query(server, 'SELECT "active" FROM "users"', auth)
        assert status == 200, body
        series = body["results"][0].get("series")
        if series:
            return list(series[0]["values"])
        time.sleep(0.2)
    raise AssertionError("the Graphite line never reached InfluxDB")


def test_http_needs_credentials_the_reader_only_reads_and_graphite_still_lands(tmp_path: Path) -> None:
    server, run = start_bootstrapped(parse_spec({}), tmp_path, AWKWARD)
    try:
        assert run.reason == bootstrap.BOOTSTRAPPED, run.output
        # The probes' endpoint stays open; nothing else answers without a user.
        with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as resp:
            assert resp.status == 204
        status, body = _query(server, "SHOW DATABASES", None)
        assert status == 401, body
        status, body = _query(server, "SHOW DATABASES", (AWKWARD.reader_user, "wrong"))
        assert status == 401, body
        status, body = _query(server, f'DROP DATABASE "{DB}"', None)
        assert status == 401, body
        # Graphite has no authentication (the NetworkPolicy guards it): lines still land.
        _send_users_line(server, 7)
        assert [v[1] for v in _wait_for_point(server, AWKWARD.reader)] == [7]
        # The reader reads, and can neither write nor drop nor manage users.
        status, body = _query(server, f'DROP DATABASE "{DB}"', AWKWARD.reader)
        assert status == 403 or "error" in json.dumps(body), body
        status, body = _query(server, "SHOW USERS", AWKWARD.reader)
        assert status == 403 or "error" in json.dumps(body), body
        status, body = _http(server, "/write", {"db": DB}, AWKWARD.reader, b"users,runner=x active=1")
        assert status == 403, body
        assert [v[1] for v in _wait_for_point(server, AWKWARD.reader)] == [7]
        # The admin manages.
        status, body = _query(server, "SHOW USERS", AWKWARD.admin)
        users = {v[0]: v[1] for v in body["results"][0]["series"][0]["values"]}
        assert users == {AWKWARD.admin_user: True, AWKWARD.reader_user: False}
    finally:
        server.stop()


def test_a_new_password_in_the_secret_is_set_on_the_next_start(tmp_path: Path) -> None:
    old = Credentials()
    new = dataclasses.replace(old, reader_password="a-brand-new-reader-password-0123", admin_password="new-admin-pw")
    ports = Ports.pick()
    assert run_bootstrap(parse_spec({}), tmp_path, ports, old).reason == bootstrap.BOOTSTRAPPED
    assert run_bootstrap(parse_spec({}), tmp_path, ports, new).reason == bootstrap.BOOTSTRAPPED
    server = start_main(parse_spec({}), tmp_path, ports, new)
    try:
        assert _query(server, "SHOW MEASUREMENTS", new.reader)[0] == 200
        assert _query(server, "SHOW MEASUREMENTS", old.reader)[0] == 401
        assert _query(server, "SHOW USERS", new.admin)[0] == 200
        assert _query(server, "SHOW USERS", old.admin)[0] == 401
    finally:
        server.stop()


def test_empty_credentials_are_reported_not_fatal(tmp_path: Path) -> None:
    run = run_bootstrap(parse_spec({}), tmp_path, Ports.pick(), Credentials(reader_password=""))
    assert run.exit_code == 0
    assert run.reason == bootstrap.USERS_FAILED
    assert "reader user: name or password empty in Secret" in run.message
