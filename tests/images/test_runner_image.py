"""The Gatling runner image runs a real simulation, as the example Job runs it, into a real
InfluxDB: the gatling.conf the operator publishes is mounted on /opt/gatling/conf (a directory
holding only that file), the root filesystem is read-only, /tmp and the results are writable, the
runner identity comes from GATLING_RUNNER.

A relay between the container and InfluxDB's Graphite port keeps every line sent, which gives two
exact checks: the image sent every request Gatling counted (its stats.json), and InfluxDB stored
what was sent. Gatling 3.11 stamps each flush with the epoch second, and its final flush often
shares the second of the last periodic one; InfluxDB keeps the later point of a series and second,
so "stored" means the last value sent per path and second (the e2e suite detects and repeats such
runs; here the relay makes the comparison exact without that).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtest_monitor.graphite import ALL_REQUESTS, ALL_USERS
from loadtest_monitor.render.gatling import render_gatling_conf, requests_measurement
from loadtest_monitor.spec.monitor import MonitorSpec, parse_spec
from ltm_harness.gatling_run import GatlingResults
from ltm_harness.graphite_relay import GraphiteLine, GraphiteRelay
from ltm_harness.http_target import TargetServer
from ltm_harness.influx_bootstrap import start_influxd
from ltm_harness.influxd import Influxd, default_binary
from ltm_harness.podman import Podman
from ltm_harness.tools import MissingTool

REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "manifests" / "examples" / "gatling-job.yaml"
RUNNER = "image-runner-0"
USERS_PER_SEC, SECONDS = 4, 8


def _job_container() -> dict[str, Any]:
    job = yaml.safe_load(JOB.read_text())
    containers: list[dict[str, Any]] = job["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "gatling")


def _conf_mount() -> str:
    """Where the example Job mounts the monitor's ConfigMap (and that it mounts it read-only)."""
    mounts = {m["name"]: m for m in _job_container()["volumeMounts"]}
    conf = mounts["gatling-conf"]
    assert conf.get("readOnly") is True and "subPath" not in conf
    return str(conf["mountPath"])


def _start_influxd(spec: MonitorSpec, workdir: Path) -> Influxd:
    try:
        influxd: Influxd = start_influxd(spec, workdir, default_binary())  # 1.12.4, the default image's
    except (MissingTool, RuntimeError) as exc:
        pytest.fail(str(exc), pytrace=False)
    return influxd


@dataclass
class RunnerRun:
    influxd: Influxd
    results: GatlingResults
    sent: list[GraphiteLine]
    answered: int  # requests the HTTP target answered during the run
    log: str


def _run(podman: Podman, image: str, spec: MonitorSpec, target: TargetServer, workdir: Path) -> RunnerRun:
    server = _start_influxd(spec, workdir / "influxd")
    relay = GraphiteRelay(server.ports.graphite).start()
    conf_dir, results = workdir / "conf", workdir / "results"
    conf_dir.mkdir()
    results.mkdir()
    results.chmod(0o777)  # the image's user (10001) writes here, as into the Job's emptyDir
    (conf_dir / "gatling.conf").write_text(
        render_gatling_conf(spec, graphite_host="127.0.0.1", graphite_port=relay.port)
    )
    (conf_dir / "gatling.conf").chmod(0o644)
    options = [
        "--read-only",
        "--tmpfs", "/tmp",
        "--network", "host",
        "-v", f"{conf_dir}:{_conf_mount()}:ro",
        "-v", f"{results}:/opt/gatling/results",
        "-e", f"GATLING_RUNNER={RUNNER}",
        "-e", f"TARGET_BASE_URL={target.base_url}",
        "-e", f"USERS_PER_SEC={USERS_PER_SEC}",
        "-e", f"DURATION_SECONDS={SECONDS}",
    ]
    before = target.total()
    try:
        with podman.container(image, options) as name:
            code = podman.wait(name, timeout=300)
            log = podman.logs(name)
            assert code == 0, f"runner exited {code}:\n{log}"
        relay.stop()
        server.wait_quiet(lambda: server.graphite_stats().get("tcp", {}).get("pointsTx", 0))
        return RunnerRun(server, GatlingResults.load(results, RUNNER), relay.lines(), target.total() - before, log)
    except BaseException:
        relay.stop()
        server.stop()
        raise


def _influx_counts(server: Influxd, spec: MonitorSpec) -> dict[tuple[str, str], int]:
    rows = server.rows(
        f'SELECT sum("count") AS n FROM "{requests_measurement(spec.gatling)}" '
        f"WHERE \"runner\" = '{RUNNER}' GROUP BY \"request\", \"status\"",
        spec.influxdb.database,
    )
    return {(row["request"], row["status"]): int(row["n"]) for row in rows}


def _gatling_counts(results: GatlingResults) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for req in [*results.requests, results.all_requests]:
        name = ALL_REQUESTS if req is results.all_requests else req.graphite_request
        for status, n in (("ok", req.ok), ("ko", req.ko), ("all", req.total)):
            counts[(name, status)] = n
    return counts


def _count_lines(sent: list[GraphiteLine]) -> list[tuple[tuple[str, str], GraphiteLine]]:
    """((request, status), line) of every `<prefix>.<runner>.<simulation>.<request>.<status>.count`
    line (the example simulation has no groups)."""
    out = []
    for line in sent:
        parts = line.path.split(".")
        if len(parts) == 6 and parts[1] == RUNNER and parts[5] == "count" and parts[3] != "users":
            out.append(((parts[3], parts[4]), line))
    return out


def _sent_totals(sent: list[GraphiteLine]) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for key, line in _count_lines(sent):
        totals[key] += int(line.value)
    return dict(totals)


def _stored_totals(sent: list[GraphiteLine]) -> dict[tuple[str, str], int]:
    """What InfluxDB must hold: per path and second, the last value sent."""
    last: dict[tuple[str, int], tuple[tuple[str, str], int]] = {}
    for key, line in _count_lines(sent):
        last[(line.path, line.epoch)] = (key, int(line.value))
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for key, value in last.values():
        totals[key] += value
    return dict(totals)


def test_runner_image_sends_a_real_simulation_into_influxdb(
    podman: Podman, runner_image: str, http_target: TargetServer, tmp_path: Path
) -> None:
    spec = parse_spec({})  # the example monitor's settings: every default
    run = _run(podman, runner_image, spec, http_target, tmp_path)
    try:
        stored = _influx_counts(run.influxd, spec)
        users = run.influxd.rows(
            f"SELECT last(\"done\") AS done FROM \"users\" WHERE \"runner\" = '{RUNNER}' "
            f"AND \"scenario\" = '{ALL_USERS}'",
            spec.influxdb.database,
        )
    finally:
        run.influxd.stop()
    gatling = _gatling_counts(run.results)
    total = run.results.all_requests.total
    # Gatling ran the whole load against the target (plus its one warm-up request).
    assert total == 2 * USERS_PER_SEC * SECONDS, run.log
    assert run.answered in (total, total + 1), (run.answered, total)
    # The image sent every count Gatling has in its own report, under this runner's segment.
    assert _sent_totals(run.sent) == gatling
    # InfluxDB stored every line that reached it, under the right runner/request/status tags.
    assert stored == _stored_totals(run.sent)
    assert stored[(ALL_REQUESTS, "all")] > 0
    # Users done is cumulative, so its last value is exact in any case.
    assert users and users[0]["done"] == USERS_PER_SEC * SECONDS, users
