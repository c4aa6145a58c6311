"""Fixtures of the end-to-end data path: a real influxd started with the operator's rendered
influxdb.conf, a local HTTP target, and real Gatling 3.11 runs with the rendered gatling.conf.

Every test that takes `influxd_binary` (directly or through the data-path runs) runs once per
InfluxDB build of the matrix, test ids `[1.12.4]` and `[debian-1.6]`: the version of the default
image and an older packaged release. influxd started without a binary is the 1.12.4 build.

These tests never skip: a missing influxd, java or mvn fails them with the reason and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest_monitor.spec.monitor import MonitorSpec, parse_spec
from ltm_harness.datapath import RAW_SPEC, RUNNERS, DataPathError, DataPathRun, run_until_distinct_windows
from ltm_harness.http_target import TargetServer
from ltm_harness.influxd import INFLUXD_BUILDS, InfluxdBuild
from ltm_harness.tools import MissingTool, require_tool

#: Why data-path runs were repeated (see datapath.run_until_distinct_windows), for the session summary.
_repeated: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for note in _repeated:
        terminalreporter.write_line(f"data-path run repeated: {note}")


@pytest.fixture(scope="session")
def e2e_tools() -> None:
    try:
        for tool in ("influx", "java", "mvn"):
            require_tool(tool)
    except MissingTool as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session", params=INFLUXD_BUILDS, ids=lambda build: build.name)
def influxd_binary(request: pytest.FixtureRequest) -> str:
    """The influxd of one build of the matrix; a test (or fixture) that takes it runs once per build."""
    build: InfluxdBuild = request.param
    try:
        return build.binary()
    except MissingTool as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def http_target() -> Iterator[TargetServer]:
    server = TargetServer().start()
    yield server
    server.stop()


def _distinct_run(
    spec: MonitorSpec, target: TargetServer, base: Path, runners: dict[str, dict[str, str]], binary: str
) -> DataPathRun:
    """The harness's run with distinct windows, or the test fails with its reason (never a skip)."""
    problem = ""
    try:
        return run_until_distinct_windows(spec, target, base, runners, binary)
    except DataPathError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def two_runner_run(
    e2e_tools: None, influxd_binary: str, http_target: TargetServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DataPathRun]:
    """Two Gatling processes at once, GATLING_RUNNER=runner-a / runner-b, both writing over TCP to
    the same InfluxDB with the same rendered gatling.conf (as two pods of one Job would)."""
    run = _distinct_run(parse_spec(RAW_SPEC), http_target, tmp_path_factory.mktemp("tcp"), RUNNERS, influxd_binary)
    _repeated.extend(run.attempts)
    yield run
    run.influxd.stop()


@pytest.fixture(scope="session")
def udp_run(
    e2e_tools: None, influxd_binary: str, http_target: TargetServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DataPathRun]:
    """One runner over UDP (Gatling sends each flush as one datagram)."""
    raw = {**RAW_SPEC, "graphite": {"protocol": "udp"}}
    run = _distinct_run(
        parse_spec(raw), http_target, tmp_path_factory.mktemp("udp"), {"udp-runner": RUNNERS["runner-b"]},
        influxd_binary,
    )
    _repeated.extend(run.attempts)
    yield run
    run.influxd.stop()
