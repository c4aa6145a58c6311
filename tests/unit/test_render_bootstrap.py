"""The shard duration the bootstrap gives every retention the spec accepts (InfluxDB's own rule)."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from loadtest_monitor.render.bootstrap import (
    Outcome,
    parse_outcome,
    parse_script_template,
    pod_outcome,
    render_bootstrap_script,
    shard_duration,
)
from loadtest_monitor.spec.monitor import parse_spec


@pytest.mark.parametrize(
    ("retention", "shard"),
    [
        ("1h", "1h"),
        ("24h", "1h"),
        ("47h", "1h"),
        ("48h", "1d"),
        ("2d", "1d"),
        ("7d", "1d"),
        ("2w", "1d"),
        ("179d", "1d"),
        ("180d", "7d"),
        ("25w", "1d"),  # 175 days
        ("26w", "7d"),  # 182 days: InfluxDB's line is 180 days
        ("52w", "7d"),
        ("5200w", "7d"),
        ("INF", "7d"),
    ],
)
def test_shard_duration_follows_influxdbs_rule(retention: str, shard: str) -> None:
    assert shard_duration(retention) == shard


@pytest.mark.parametrize("retention", ["1h", "24h", "2w", "INF", "5200w"])
def test_shard_duration_never_exceeds_the_retention(retention: str) -> None:
    hours = {"h": 1, "d": 24, "w": 168}
    shard = shard_duration(retention)
    if retention != "INF":
        assert int(shard[:-1]) * hours[shard[-1]] <= int(retention[:-1]) * hours[retention[-1]]
    script = render_bootstrap_script(parse_spec({"influxdb": {"retention": retention}}), "/c", "s")
    assert script_values(script)[:3] == ["gatling", retention, shard]


def script_values(script: str, env: dict[str, str] | None = None) -> list[str]:
    """What the rendered script's own shell reads as its values: database, retention, shard duration,
    config path, Secret name, HTTP port, and the admin user from the environment (its header run by sh)."""
    header = script.split('\nreason=""\n', 1)[0]
    show = 'printf "%s\\0" "$db" "$retention" "$shard" "$conf_path" "$secret_name" "$http_port" "$admin_user"'
    done = subprocess.run(
        ["sh", "-c", f"{header}\n{show}"], capture_output=True, text=True, check=True, env=env or {}
    )
    return done.stdout.split("\0")[:-1]


def test_no_value_reaches_the_script_as_shell_text(tmp_path: Path) -> None:
    """Values the spec would refuse, passed straight to the renderer: each stays one word, nothing runs."""
    marker = tmp_path / "ran"
    hostile = [
        f'g"; touch {marker}; "',
        f"g'$(touch {marker})'",
        f"`touch {marker}`",
        "a b\nc\\d * %s ${HOME}",
    ]
    spec = parse_spec({})
    for value in hostile:
        odd = dataclasses.replace(spec, influxdb=dataclasses.replace(spec.influxdb, database=value, retention="7d"))
        script = render_bootstrap_script(odd, value, value, 8086)
        assert script_values(script, {"LTM_ADMIN_USER": value}) == [value, "7d", "1d", value, value, "8086", value]
        assert not marker.exists(), value


def test_a_placeholder_anywhere_but_an_assignment_is_refused() -> None:
    for line in ('echo "@{database}"', "db=@{database}x", 'db="@{database}"', 'x="${@{env_a}:-$(id)}"', "a@b=1"):
        with pytest.raises(ValueError, match="a placeholder must be a whole assignment value"):
            parse_script_template(f"#!/bin/sh\n{line}\n")
    assert parse_script_template("db=@{database}\n").substitute(database="'a b'") == "db='a b'\n"


def _pod(**bootstrap_status: object) -> dict[str, object]:
    return {"status": {"initContainerStatuses": [{"name": "bootstrap", **bootstrap_status}]}}


def test_the_operator_reads_the_outcome_from_the_pod_status() -> None:
    ok = _pod(state={"terminated": {"exitCode": 0, "message": "Bootstrapped: database gatling, retention 24h"}})
    assert pod_outcome(ok) == Outcome("Bootstrapped", "database gatling, retention 24h")
    assert not pod_outcome(ok).failed  # type: ignore[union-attr]
    bad = _pod(state={"terminated": {"exitCode": 0, "message": "RetentionFailed: retention 999999w: overflow"}})
    outcome = pod_outcome(bad)
    assert outcome is not None and outcome.failed and outcome.reason == "RetentionFailed"
    assert pod_outcome(_pod(state={"running": {}})) is None
    assert pod_outcome({"status": {}}) is None
    restarted = _pod(state={"waiting": {}}, lastState={"terminated": {"message": "UsersFailed: reader user"}})
    assert pod_outcome(restarted) == Outcome("UsersFailed", "reader user")
    crashed = _pod(state={"terminated": {"exitCode": 127, "message": ""}})
    assert pod_outcome(crashed) == Outcome("InfluxDBUnavailable", "the bootstrap ended without a message")
    assert parse_outcome("sh: influx: not found").reason == "InfluxDBUnavailable"
    # A clean exit without any message says nothing (a kubelet that did not keep it): no verdict.
    assert pod_outcome(_pod(state={"terminated": {"exitCode": 0, "reason": "Completed"}})) is None
