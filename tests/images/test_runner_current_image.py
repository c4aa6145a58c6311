"""The current path, as manifests/examples/gatling-job-current.yaml runs it: the runner image at its
default Gatling (3.15.1, no Graphite output of its own) and the OPERATOR image as the forwarder
sidecar (`loadtest-monitor forward`, the example's command and args), two containers sharing the
results folder the way the pod's emptyDir is shared, into a real InfluxDB with the monitor's
rendered config.

Both containers run as the pod's user with read-only root filesystems; the runner gets a tmpfs on
/tmp because the Job mounts an emptyDir there, the forwarder gets none because the Job gives it
none (a forwarder that needed a writable /tmp would fail here, as it would in the cluster).

What a user checks: the run's requests show up in InfluxDB under the runner's name WHILE Gatling
runs, and once it ended the per-request ok/ko/all counts equal Gatling's own report exactly. The
forwarder then waits for its SIGTERM (a native sidecar the kubelet would otherwise restart) and
exits 0 on it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest_monitor.graphite import ALL_REQUESTS
from loadtest_monitor.render.gatling import render_gatling_conf
from loadtest_monitor.spec.monitor import MonitorSpec, parse_spec
from ltm_harness.gatling_report import load_report
from ltm_harness.gatling_run import GatlingResults
from ltm_harness.http_target import TargetServer
from ltm_harness.influxd import Influxd
from ltm_harness.podman import Podman
from tests.images.example_job import CURRENT_JOB, container, mount_path, pod_user
from tests.images.influx_check import gatling_counts, influx_counts, start_monitor_influxd, users_done

# A pod name as the Indexed Job gives it: both containers get it as GATLING_RUNNER (downward API).
RUNNER = "checkout-load-current-0-x7k2p"
USERS_PER_SEC, SECONDS = 4, 12
CURRENT_VERSION = "3.15.1"  # docker/gatling-runner/Dockerfile: GATLING_VERSION's default


@dataclass
class SidecarRun:
    influxd: Influxd
    results: GatlingResults
    answered: int  # requests the HTTP target answered during the run
    runner_log: str
    forwarder_log: str
    first_data_seen: float | None  # when InfluxDB first held a request count of this runner
    runner_exited: float
    forwarder_waited: bool  # still running a few seconds after Gatling ended
    forwarder_exit: int  # after SIGTERM


def _env(spec: dict[str, Any], name: str) -> str:
    return str(next(e["value"] for e in spec["env"] if e["name"] == name))


def _running(podman: Podman, name: str) -> bool:
    return bool(podman.inspect(name)["State"]["Running"])


def _request_count_seen(server: Influxd, spec: MonitorSpec) -> bool:
    """Whether InfluxDB already holds a non-zero request count of this runner."""
    try:
        return influx_counts(server, spec, RUNNER).get((ALL_REQUESTS, "all"), 0) > 0
    except RuntimeError:  # no database yet: nothing arrived
        return False


def _run(
    podman: Podman, runner_image: str, operator_image: str, spec: MonitorSpec, target: TargetServer, workdir: Path
) -> SidecarRun:
    forward, gatling = container(CURRENT_JOB, "forward"), container(CURRENT_JOB, "gatling")
    conf_at = mount_path(forward, "gatling-conf", read_only=True)
    assert mount_path(gatling, "gatling-conf", read_only=True) == conf_at
    results_at = mount_path(forward, "results", read_only=True)
    assert mount_path(gatling, "results", read_only=False) == results_at
    tmp_at = mount_path(gatling, "tmp", read_only=False)
    user = pod_user(CURRENT_JOB)

    server = start_monitor_influxd(spec, workdir / "influxd")
    conf_dir, results = workdir / "conf", workdir / "results"
    conf_dir.mkdir()
    results.mkdir()
    results.chmod(0o777)  # the pod's user writes here, as into the Job's emptyDir
    (conf_dir / "gatling.conf").write_text(
        render_gatling_conf(spec, graphite_host="127.0.0.1", graphite_port=server.ports.graphite)
    )
    (conf_dir / "gatling.conf").chmod(0o644)
    common = ["--network", "host", "--user", user, "-e", f"GATLING_RUNNER={RUNNER}", "--read-only"]
    forward_options = [
        *common,
        "--read-only-tmpfs=false",
        "-v", f"{conf_dir}:{conf_at}:ro",
        "-v", f"{results}:{results_at}:ro",
        "--entrypoint", json.dumps(forward["command"]),
    ]
    runner_options = [
        *common,
        "--tmpfs", tmp_at,
        "-v", f"{conf_dir}:{conf_at}:ro",
        "-v", f"{results}:{results_at}",
        "-e", f"GATLING_SIMULATION={_env(gatling, 'GATLING_SIMULATION')}",
        "-e", f"TARGET_BASE_URL={target.base_url}",
        "-e", f"USERS_PER_SEC={USERS_PER_SEC}",
        "-e", f"DURATION_SECONDS={SECONDS}",
    ]
    before = target.total()
    try:
        # The sidecar starts first (a native sidecar is started before the main container).
        with podman.container(operator_image, forward_options, forward["args"]) as sidecar:
            with podman.container(runner_image, runner_options) as runner:
                first_seen = None
                while _running(podman, runner):
                    if first_seen is None and _request_count_seen(server, spec):
                        first_seen = time.time()
                    time.sleep(1.0)  # each poll is a podman process: keep the CPU for the run
                exited = time.time()
                code = podman.wait(runner, timeout=300)
                runner_log = podman.logs(runner, last_chars=None)
                assert code == 0, f"runner exited {code}:\n{runner_log[-4000:]}"
            time.sleep(3)  # the kubelet sends SIGTERM only once Gatling ended; the sidecar waits for it
            waited = _running(podman, sidecar)
            podman.run("stop", "-t", "30", sidecar, timeout=60)  # SIGTERM, as the kubelet stops it
            forwarder_exit = int(podman.inspect(sidecar)["State"]["ExitCode"])
            forwarder_log = podman.logs(sidecar, last_chars=None)
        server.wait_quiet(lambda: server.graphite_stats().get(spec.graphite.protocol, {}).get("pointsTx", 0))
        run_dirs = [p for p in results.iterdir() if (p / "index.html").is_file()]
        assert len(run_dirs) == 1, f"expected one Gatling report in {results}: {list(results.iterdir())}"
        return SidecarRun(
            influxd=server,
            results=load_report(run_dirs[0], RUNNER),
            answered=target.total() - before,
            runner_log=runner_log,
            forwarder_log=forwarder_log,
            first_data_seen=first_seen,
            runner_exited=exited,
            forwarder_waited=waited,
            forwarder_exit=forwarder_exit,
        )
    except BaseException:
        server.stop()
        raise


def test_runner_image_with_the_forwarder_sidecar_sends_a_real_run_into_influxdb(
    podman: Podman, runner_image: str, operator_image: str, http_target: TargetServer, tmp_path: Path
) -> None:
    spec = parse_spec({})  # the example monitor's settings: every default
    run = _run(podman, runner_image, operator_image, spec, http_target, tmp_path)
    try:
        stored = influx_counts(run.influxd, spec, RUNNER)
        users = users_done(run.influxd, spec, RUNNER)
    finally:
        run.influxd.stop()
    # The default runner image is the current Gatling, with the flush agent the sidecar relies on.
    assert f"run.sh: runner {RUNNER}, Gatling {CURRENT_VERSION}," in run.runner_log, run.runner_log[:2000]
    assert "[log-flush-agent] installed" in run.runner_log, run.runner_log[:2000]
    total = run.results.all_requests.total
    # Gatling ran the whole load against the target (plus its one warm-up request).
    assert total == 2 * USERS_PER_SEC * SECONDS, run.runner_log[-4000:]
    assert run.answered in (total, total + 1), (run.answered, total)
    # Live: the runner's counts were in InfluxDB while Gatling still ran, not only after it.
    assert run.first_data_seen is not None, f"no data in InfluxDB while Gatling ran:\n{run.forwarder_log}"
    assert run.runner_exited - run.first_data_seen >= 3, (run.runner_exited - run.first_data_seen)
    # Exact: every request and status under this runner's name equals Gatling's own report.
    assert stored == gatling_counts(run.results), run.forwarder_log[-4000:]
    assert stored[(ALL_REQUESTS, "all")] == total
    # Users done is cumulative, so its last value is exact.
    assert users and users[0]["done"] == USERS_PER_SEC * SECONDS, users
    # The sidecar did not exit by itself after the run (the kubelet would restart it), and ended
    # cleanly on SIGTERM.
    assert run.forwarder_waited, run.forwarder_log[-4000:]
    assert run.forwarder_exit == 0, run.forwarder_log[-4000:]
    assert "error" not in run.forwarder_log.lower(), run.forwarder_log[-4000:]
