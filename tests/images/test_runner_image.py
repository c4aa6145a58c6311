"""The Gatling runner image runs a real simulation, as the example Job runs it, into a real
InfluxDB: the gatling.conf the operator publishes is mounted on /opt/gatling/conf (a directory
holding only that file), the root filesystem is read-only, /tmp and the results are writable, the
runner identity comes from GATLING_RUNNER. The counts that reach InfluxDB equal Gatling's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from gatling_run import GatlingResults
from http_target import TargetServer
from influxd import INFLUXD_BUILDS, SOURCE_BUILT_VERSION, Influxd, MissingTool, Ports
from podman import Podman

from loadtest_monitor.render.gatling import ALL_REQUESTS, ALL_USERS, render_gatling_conf, requests_measurement
from loadtest_monitor.render.influxdb import render_influxdb_conf
from loadtest_monitor.spec import MonitorSpec, parse_spec

REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "manifests" / "examples" / "gatling-job.yaml"
RUNNER = "image-runner-0"
USERS_PER_SEC, SECONDS = 4, 8
# Gatling 3.11 stamps each Graphite flush with the epoch second; a delayed flush that shares its
# second with the next one is overwritten in InfluxDB (see tests/e2e/gatling_run.py). A run that
# lost a window that way is repeated, like the e2e data-path runs.
MAX_ATTEMPTS = 3


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
    build = next(b for b in INFLUXD_BUILDS if b.name == SOURCE_BUILT_VERSION)
    try:
        binary = build.binary()
    except MissingTool as exc:
        pytest.fail(str(exc), pytrace=False)
    ports = Ports.pick()
    conf = render_influxdb_conf(
        spec,
        data_dir=str(workdir / "var"),
        http_bind=f"127.0.0.1:{ports.http}",
        graphite_bind=f"127.0.0.1:{ports.graphite}",
        rpc_bind=f"127.0.0.1:{ports.rpc}",
    )
    return Influxd(conf, workdir, ports, binary).start()


def _run_once(
    podman: Podman, image: str, spec: MonitorSpec, target: TargetServer, workdir: Path
) -> tuple[Influxd, GatlingResults, int, str]:
    server = _start_influxd(spec, workdir / "influxd")
    conf_dir, results = workdir / "conf", workdir / "results"
    conf_dir.mkdir()
    results.mkdir()
    results.chmod(0o777)  # the image's user (10001) writes here, as into the Job's emptyDir
    (conf_dir / "gatling.conf").write_text(
        render_gatling_conf(spec, graphite_host="127.0.0.1", graphite_port=server.ports.graphite)
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
        server.wait_quiet(lambda: server.graphite_stats().get("tcp", {}).get("pointsTx", 0))
        return server, GatlingResults.load(results, RUNNER), target.total() - before, log
    except BaseException:
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


def test_runner_image_sends_a_real_simulation_into_influxdb(
    podman: Podman, runner_image: str, http_target: TargetServer, tmp_path: Path
) -> None:
    spec = parse_spec({})  # the example monitor's settings: every default
    notes: list[str] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        server, results, answered, log = _run_once(podman, runner_image, spec, http_target, tmp_path / str(attempt))
        try:
            expected = _gatling_counts(results)
            got = _influx_counts(server, spec)
            users = server.rows(
                f"SELECT last(\"done\") AS done FROM \"users\" WHERE \"runner\" = '{RUNNER}' "
                f"AND \"scenario\" = '{ALL_USERS}'",
                spec.influxdb.database,
            )
        finally:
            server.stop()
        total = results.all_requests.total
        # Gatling ran the whole load against the target (plus its one warm-up request).
        assert total == 2 * USERS_PER_SEC * SECONDS, log
        assert answered in (total, total + 1), (answered, total)
        # Users done is cumulative: its last value is exact even when a window was overwritten.
        assert users and users[0]["done"] == USERS_PER_SEC * SECONDS, users
        if got == expected:
            return
        notes.append(f"attempt {attempt}: InfluxDB {got} != Gatling {expected}")
        assert all(got.get(k, 0) <= n for k, n in expected.items()), notes[-1]  # only a lost window
    pytest.fail("\n".join(notes), pytrace=False)
