"""The rendered Graphite templates on a real InfluxDB: every Gatling line lands in the right
measurement with the right tags and field, also for the names and depths that used to be misfiled.

Lines are written as Gatling 3.11's Graphite writer writes them
(`<prefix>.<runner>.<simulation>[.<group>…].<request>.<status>.<metric> value epoch`), sent over
TCP and, separately, UDP to the rendered listeners; then every point in the database is read
back and the whole set is compared with the expected one, so a line filed anywhere else, or
overwritten by another, shows.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadtest_monitor.render.gatling import USERS_MEASUREMENT
from loadtest_monitor.spec.monitor import parse_spec
from ltm_harness.influx_bootstrap import start_bootstrapped
from ltm_harness.influxd import Influxd

pytestmark = pytest.mark.e2e

MAX_GROUP_DEPTH = 2
SPEC = parse_spec({"gatling": {"maxGroupDepth": MAX_GROUP_DEPTH}})
PREFIX = SPEC.gatling.root_path_prefix
DB = SPEC.influxdb.database


def runner_segment(name: str) -> str:
    """The runner-name rule the runner image and the forwarder apply (docs: README, runners):
    every character outside [A-Za-z0-9_-] becomes `-`, at most 63 characters, empty -> local."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:63] or "local"


# Runner names as pods really have them, and the one segment they become.
RAW_RUNNERS = ("ip-10-1-2-3.eu-west-1.compute.internal", "load runner #1", "checkout-job.v2-7xk2p")
RUNNERS = tuple(runner_segment(r) for r in RAW_RUNNERS)


@dataclass(frozen=True)
class Point:
    measurement: str
    tags: tuple[tuple[str, str], ...]
    field: str
    time: int
    value: float


@dataclass(frozen=True)
class Case:
    """One Graphite line and where it must land."""

    line: str
    expected: Point


def _request_case(runner: str, sim: str, groups: tuple[str, ...], request: str, status: str, metric: str,
                  value: float, ts: int) -> Case:
    path = [PREFIX, runner, sim, *groups, request, status, metric]
    line = f"{'.'.join(path)} {value:g} {ts}"
    if len(groups) <= MAX_GROUP_DEPTH:
        tags = {"runner": runner, "simulation": sim, "request": request, "status": status}
        if groups:
            tags["group"] = ".".join(groups)
        expected = Point(PREFIX, tuple(sorted(tags.items())), metric, ts, value)
    else:  # deeper than maxGroupDepth: its own measurement, the path without runner and simulation
        measurement = ".".join([PREFIX, *groups, request, status, metric])
        expected = Point(measurement, (("runner", runner), ("simulation", sim)), "value", ts, value)
    return Case(line, expected)


def _users_case(runner: str, sim: str, scenario: str, user_field: str, value: float, ts: int) -> Case:
    line = f"{PREFIX}.{runner}.{sim}.users.{scenario}.{user_field} {value:g} {ts}"
    tags = (("runner", runner), ("scenario", scenario), ("simulation", sim))
    return Case(line, Point(USERS_MEASUREMENT, tags, user_field, ts, value))


def _cases(ts: int) -> list[Case]:
    """Every shape at once. Values are unique, so a point that overwrote another one is caught;
    count and max of one request differ, so "the max overwrote the count" is caught too."""
    cases: list[Case] = []
    value = 1.0

    def nxt() -> float:
        nonlocal value
        value += 1
        return value

    shapes: list[tuple[tuple[str, ...], str]] = [
        ((), "allRequests"),
        ((), "home"),
        ((), "users"),  # a request named users, outside groups
        (("users",), "login"),  # a group named users
        (("users",), "active"),
        (("users", "cart"), "active"),  # a request named like a users field, under a users group
        (("users", "cart"), "done"),
        (("shop", "users"), "waiting"),
        (("a", "b"), "pay"),  # exactly maxGroupDepth
        (("a", "b", "c"), "pay"),  # one level deeper than maxGroupDepth
        (("users", "b", "c"), "pay"),
        (("a", "b", "c", "d"), "pay"),  # two levels deeper
    ]
    for runner in RUNNERS:
        sim = "basicsimulation"
        for scenario in ("browse", "users", "allUsers"):
            for user_field in ("active", "waiting", "done"):
                cases.append(_users_case(runner, sim, scenario, user_field, nxt(), ts))
        for groups, request in shapes:
            for status in ("ok", "ko", "all"):
                for metric in ("count", "max", "percentiles95"):
                    cases.append(_request_case(runner, sim, groups, request, status, metric, nxt(), ts))
    return cases


def _send(protocol: str, port: int, lines: list[str]) -> None:
    if protocol == "tcp":
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(("\n".join(lines) + "\n").encode())
        return
    # UDP: Gatling sends each flush as one datagram; keep each well below the listener's buffer.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for start in range(0, len(lines), 40):
            sock.sendto(("\n".join(lines[start : start + 40]) + "\n").encode(), ("127.0.0.1", port))
            time.sleep(0.005)


def _all_points(server: Influxd) -> set[Point]:
    measurements = [v[0] for s in server.series("SHOW MEASUREMENTS", DB) for v in s.get("values", [])]
    points: set[Point] = set()
    for measurement in measurements:
        quoted = '"' + measurement.replace('"', '\\"') + '"'
        for series in server.series(f"SELECT * FROM {quoted} GROUP BY *", DB):
            tags = tuple(sorted((k, v) for k, v in (series.get("tags") or {}).items() if v))
            columns = series["columns"]
            for row in series["values"]:
                for column, cell in zip(columns[1:], row[1:], strict=True):
                    if cell is not None:
                        points.add(Point(measurement, tags, column, int(row[0]), float(cell)))
    return points


Filed = tuple[Influxd, list[Case], set[Point], str]


@pytest.fixture(scope="module", params=["tcp", "udp"])
def filed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filed]:
    """The same lines through the TCP or the UDP listener (both carry the rendered templates)."""
    protocol: str = request.param
    server, _ = start_bootstrapped(SPEC, Path(tmp_path_factory.mktemp(f"templates-{protocol}")))
    try:
        cases = _cases(int(time.time()) - 60)
        _send(protocol, server.ports.graphite, [c.line for c in cases])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if server.graphite_stats().get(protocol, {}).get("pointsTx", 0) >= len(cases):
                break
            time.sleep(0.2)
        yield server, cases, _all_points(server), protocol
    finally:
        server.stop()


def test_listener_parsed_and_wrote_every_line(filed: Filed) -> None:
    server, cases, _, protocol = filed
    stats = server.graphite_stats()[protocol]
    assert stats["pointsParseFail"] == 0 and stats["batchesTxFail"] == 0, stats
    assert stats["pointsTx"] == len(cases), stats
    if protocol == "tcp":  # the UDP listener also counts the empty line after a datagram's last newline
        assert stats["pointsRx"] == len(cases), stats


def test_every_line_lands_where_it_belongs_and_nothing_else_exists(filed: Filed) -> None:
    _, cases, points, _ = filed
    expected = {c.expected for c in cases}
    assert len(expected) == len(cases)
    missing = sorted(expected - points, key=repr)
    extra = sorted(points - expected, key=repr)
    assert not missing and not extra, {"missing (misfiled or overwritten)": missing[:10], "unexpected": extra[:10]}


def test_users_as_request_or_group_never_reach_the_users_measurement(filed: Filed) -> None:
    _, _, points, _ = filed
    users = [p for p in points if p.measurement == USERS_MEASUREMENT]
    assert {p.field for p in users} == {"active", "waiting", "done"}
    assert {dict(p.tags)["scenario"] for p in users} == {"browse", "users", "allUsers"}
    requests = {dict(p.tags)["request"] for p in points if p.measurement == PREFIX}
    assert {"users", "active", "done", "waiting", "login", "home", "allRequests", "pay"} == requests


def test_deeper_groups_keep_their_count_and_invent_no_request(filed: Filed) -> None:
    _, cases, points, _ = filed
    in_prefix = [p for p in points if p.measurement == PREFIX]
    # Nothing deeper than maxGroupDepth in the request measurement: no group tag with more parts.
    assert max(len(dict(p.tags).get("group", "").split(".")) for p in in_prefix) == MAX_GROUP_DEPTH
    deep = {c.expected for c in cases if c.expected.measurement.startswith(PREFIX + ".")}
    assert deep and deep <= points
    counts = {p for p in deep if p.measurement.endswith(".count")}
    maxes = {p for p in deep if p.measurement.endswith(".max")}
    assert len(counts) == len(maxes) > 0 and {p.value for p in counts}.isdisjoint({p.value for p in maxes})


def test_reduced_runner_names_are_one_segment_and_keep_the_runners_apart(filed: Filed) -> None:
    _, _, points, _ = filed
    assert RUNNERS == ("ip-10-1-2-3-eu-west-1-compute-internal", "load-runner--1", "checkout-job-v2-7xk2p")
    seen = {dict(p.tags)["runner"] for p in points}
    assert seen == set(RUNNERS)
    per_runner: dict[str, int] = {}
    for p in points:
        runner = dict(p.tags)["runner"]
        per_runner[runner] = per_runner.get(runner, 0) + 1
    assert len(set(per_runner.values())) == 1, per_runner  # every runner: the same number of points

