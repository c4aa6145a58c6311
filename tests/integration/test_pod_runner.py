"""The harness's pod runner on the real control plane: runner pods shaped like
manifests/examples/gatling-job-current.yaml's template (label loadtest.dev/run, the start-at
annotation) run as REAL Gatling 3.15.1 processes with the real forwarder sidecar into a real
InfluxDB; the pod status the pod runner writes is what a user reads with kubectl.

What a user would check: nothing starts before start-at, and the runners start together (the spread
is printed); each pod ends Succeeded with Gatling's exit code 0 and a simulation.log; each runner's
requests are in InfluxDB under its own pod name, as many as Gatling's own report counts; a runner
with the crash fault ends Failed with exit code 1 and sent nothing.
"""

from __future__ import annotations

import copy
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykube
import pytest
import yaml

from loadtest_monitor.forward.logformat import choose_decoder
from loadtest_monitor.graphite import ALL_REQUESTS
from loadtest_monitor.render.gatling import render_gatling_conf, requests_measurement
from loadtest_monitor.spec.monitor import MonitorSpec, parse_spec
from ltm_harness.cluster import LocalCluster
from ltm_harness.gatling_report import load_report
from ltm_harness.http_target import TargetServer
from ltm_harness.influx_bootstrap import start_influxd
from ltm_harness.influxd import Influxd
from ltm_harness.pod_runner import PodRunner, RunnerRecord, running_pod_runner
from ltm_harness.pod_spec import FAULT_ANNOTATION, RUN_LABEL, START_AT_ANNOTATION
from ltm_harness.repo import REPO_ROOT

pytestmark = pytest.mark.e2e

JOB = REPO_ROOT / "manifests" / "examples" / "gatling-job-current.yaml"
CLI = str(Path(sys.executable).parent / "ltm-cluster")
VERSION = "3.15.1"
RUN = "checkout-run-1"
RUNNERS = ("checkout-run-1-0", "checkout-run-1-1", "checkout-run-1-2")
CRASHED = "checkout-run-1-crash"
# Small loads (a few seconds each): eight engineers share two cores.
LOAD = "-De2e.browseUsers=2 -De2e.loops=2 -De2e.checkoutRate=1 -De2e.checkoutSeconds=3"


def runner_pod(name: str, namespace: str, index: int, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """The example Job's pod template as the Job controller would stamp it for one index."""
    template = copy.deepcopy(yaml.safe_load(JOB.read_text())["spec"]["template"])
    template["metadata"]["labels"][RUN_LABEL] = RUN
    template["metadata"]["annotations"] = dict(annotations or {})
    (gatling,) = template["spec"]["containers"]
    env = {e["name"]: e for e in gatling["env"]}
    env["GATLING_SIMULATION"] = {"name": "GATLING_SIMULATION", "value": "loadtestmonitor.e2e.DataPathSimulation"}
    env["JAVA_OPTS"] = {"name": "JAVA_OPTS", "value": f"-XX:MaxRAMPercentage=75 {LOAD}"}
    env["LOADTEST_RUNNERS"] = {"name": "LOADTEST_RUNNERS", "value": str(len(RUNNERS))}
    env["LOADTEST_RUNNER_INDEX"] = {"name": "LOADTEST_RUNNER_INDEX", "value": str(index)}
    gatling["env"] = list(env.values())
    gatling["image"] = f"gatling-runner:{VERSION}"
    metadata = {**template["metadata"], "name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}


def gatling_start(log: Path) -> float:
    """The run start Gatling itself wrote in simulation.log's header (epoch seconds)."""
    data = log.read_bytes()
    decoder = choose_decoder(data[:16])
    assert decoder is not None, f"{log} is empty"
    decoder.feed(data)
    assert decoder.header is not None
    return decoder.header.start_ms / 1000


def request_totals(server: Influxd, spec: MonitorSpec) -> dict[str, int]:
    """sum(count) of allRequests per runner tag: what the dashboard's totals add up."""
    rows = server.rows(
        f'SELECT sum("count") AS n FROM "{requests_measurement(spec.gatling)}" '
        f"WHERE \"request\" = '{ALL_REQUESTS}' AND \"status\" = 'all' GROUP BY \"runner\"",
        spec.influxdb.database,
    )
    return {row["runner"]: int(row["n"]) for row in rows}


@pytest.fixture(scope="module")
def spec() -> MonitorSpec:
    return parse_spec({})


@pytest.fixture(scope="module")
def influxd(spec: MonitorSpec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    server = start_influxd(spec, tmp_path_factory.mktemp("influxd"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def target() -> Iterator[TargetServer]:
    server = TargetServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def run_namespace(kube_api: pykube.HTTPClient, spec: MonitorSpec) -> Iterator[str]:
    name = f"ltm-pods-{int(time.time()) % 100000}"
    ns = pykube.Namespace(kube_api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    ns.create()
    # The monitor's ConfigMap as the operator renders it: the in-cluster Graphite address.
    conf = render_gatling_conf(spec, graphite_host=f"checkout-graphite.{name}.svc.cluster.local", graphite_port=2003)
    pykube.ConfigMap(kube_api, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "checkout-gatling", "namespace": name},
        "data": {"gatling.conf": conf},
    }).create()
    yield name
    ns.delete()


@pytest.fixture(scope="module")
def pod_runner(
    cluster: LocalCluster, run_namespace: str, influxd: Influxd, target: TargetServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PodRunner]:
    graphite = ("127.0.0.1", influxd.ports.graphite)
    with running_pod_runner(
        cluster, tmp_path_factory.mktemp("pods"), graphite, target.base_url, namespace=run_namespace
    ) as runner:
        runner.prepare(VERSION)  # the image layout, built before any start time is set
        yield runner


def pod_of(api: pykube.HTTPClient, namespace: str, name: str) -> dict[str, Any]:
    return dict(pykube.Pod.objects(api, namespace=namespace).get(name=name).obj)


@pytest.fixture(scope="module")
def finished_run(
    kube_api: pykube.HTTPClient, run_namespace: str, pod_runner: PodRunner, influxd: Influxd, spec: MonitorSpec
) -> dict[str, RunnerRecord]:
    for index, name in enumerate(RUNNERS):
        pykube.Pod(kube_api, runner_pod(name, run_namespace, index)).create()
    # The pods are picked up and Running, but without start-at nothing may start.
    for name in RUNNERS:
        deadline = time.monotonic() + 60
        while (pod_of(kube_api, run_namespace, name).get("status") or {}).get("phase") != "Running":
            assert time.monotonic() < deadline, f"{name} never Running"
            time.sleep(0.5)
    time.sleep(3)
    early = {n: r.started for n, r in pod_runner.records.items() if r.started is not None}
    assert early == {}, f"runners started before their start-at: {early}"
    start_at = time.time() + 4
    for name in RUNNERS:
        pod = pykube.Pod.objects(kube_api, namespace=run_namespace).get(name=name)
        pod.annotations[START_AT_ANNOTATION] = f"{start_at:.3f}"
        pod.update()
    records = pod_runner.wait_done(list(RUNNERS), timeout=600)
    influxd.wait_quiet(lambda: influxd.graphite_stats().get("tcp", {}).get("pointsTx", 0))
    return records


def test_runners_wait_for_start_at_and_start_together(finished_run: dict[str, RunnerRecord]) -> None:
    starts = {name: r.started for name, r in finished_run.items()}
    (start_at,) = {r.start_at for r in finished_run.values()}
    assert start_at is not None and all(s is not None for s in starts.values()), finished_run
    assert all(s >= start_at for s in starts.values() if s is not None), (start_at, starts)
    spawned = [s for s in starts.values() if s is not None]
    logs = {name: r.simulation_log() for name, r in finished_run.items()}
    gatling = [gatling_start(log) for log in logs.values() if log is not None]
    print(
        f"\nstart-at {start_at:.3f}: {len(spawned)} runners spawned within {max(spawned) - min(spawned):.3f} s "
        f"(latest {max(spawned) - start_at:.3f} s after start-at); Gatling's own run starts within "
        f"{max(gatling) - min(gatling):.3f} s "
        f"(JVM start-up {min(gatling) - start_at:.1f}-{max(gatling) - start_at:.1f} s)"
    )
    assert max(spawned) - min(spawned) < 1.0
    assert max(spawned) - start_at < 1.0


def test_each_pod_ends_succeeded_with_gatlings_exit_code_and_log(
    finished_run: dict[str, RunnerRecord], kube_api: pykube.HTTPClient, run_namespace: str
) -> None:
    for name, record in finished_run.items():
        assert record.exit_code == 0 and record.error == "", record
        log = record.simulation_log()
        assert log is not None and log.stat().st_size > 0, f"{name}: no simulation.log"
        pod = pod_of(kube_api, run_namespace, name)
        assert pod["status"]["phase"] == "Succeeded", pod["status"]
        (gatling,) = pod["status"]["containerStatuses"]
        assert gatling["state"]["terminated"]["exitCode"] == 0, gatling
        forward = [s for s in pod["status"]["initContainerStatuses"] if s["name"] == "forward"]
        assert forward and forward[0]["state"]["terminated"]["exitCode"] == 0, pod["status"]


def test_each_runners_requests_reach_influxdb_under_its_pod_name(
    finished_run: dict[str, RunnerRecord], influxd: Influxd, spec: MonitorSpec
) -> None:
    totals = request_totals(influxd, spec)
    expected = {}
    for name, record in finished_run.items():
        log = record.simulation_log()
        assert log is not None
        expected[name] = load_report(log.parent, name).all_requests.total
    assert all(n > 0 for n in expected.values()), expected
    assert {n: totals.get(n) for n in expected} == expected


def test_a_crashing_runner_ends_failed_with_exit_1_and_sends_nothing(
    finished_run: dict[str, RunnerRecord], kube_api: pykube.HTTPClient, run_namespace: str,
    pod_runner: PodRunner, influxd: Influxd, spec: MonitorSpec,
) -> None:
    annotations = {FAULT_ANNOTATION: "crash", START_AT_ANNOTATION: f"{time.time() + 1:.3f}"}
    pykube.Pod(kube_api, runner_pod(CRASHED, run_namespace, 0, annotations)).create()
    (record,) = pod_runner.wait_done([CRASHED], timeout=120).values()
    assert record.exit_code == 1 and record.simulation_log() is None, record
    pod = pod_of(kube_api, run_namespace, CRASHED)
    assert pod["status"]["phase"] == "Failed", pod["status"]
    (gatling,) = pod["status"]["containerStatuses"]
    assert gatling["state"]["terminated"]["exitCode"] == 1, gatling
    assert CRASHED not in request_totals(influxd, spec)


def test_without_forwarder_or_with_dropped_metrics_the_run_succeeds_but_nothing_arrives(
    finished_run: dict[str, RunnerRecord], kube_api: pykube.HTTPClient, run_namespace: str,
    pod_runner: PodRunner, influxd: Influxd, spec: MonitorSpec,
) -> None:
    """"Metrics never arrive": Gatling runs and succeeds, the dashboard stays empty for that runner."""
    start = f"{time.time() + 2:.3f}"
    faults = {"checkout-run-1-noforward": "no-forwarder", "checkout-run-1-dropped": "drop-metrics"}
    for index, (name, fault) in enumerate(faults.items()):
        annotations = {FAULT_ANNOTATION: fault, START_AT_ANNOTATION: start}
        pykube.Pod(kube_api, runner_pod(name, run_namespace, index, annotations)).create()
    records = pod_runner.wait_done(list(faults), timeout=600)
    influxd.wait_quiet(lambda: influxd.graphite_stats().get("tcp", {}).get("pointsTx", 0))
    for name, record in records.items():
        assert record.exit_code == 0 and record.simulation_log() is not None, record
        assert pod_of(kube_api, run_namespace, name)["status"]["phase"] == "Succeeded"
    assert records["checkout-run-1-noforward"].sidecar_exit is None  # never started
    assert records["checkout-run-1-dropped"].sidecar_exit == 0
    assert pod_runner.discarded_bytes > 0, "the dropped runner's forwarder did send"
    totals = request_totals(influxd, spec)
    assert not set(faults) & set(totals), totals


def test_an_indexed_job_completes_when_its_runner_pods_succeed(
    finished_run: dict[str, RunnerRecord], kube_api: pykube.HTTPClient, run_namespace: str,
    pod_runner: PodRunner, influxd: Influxd, spec: MonitorSpec,
) -> None:
    """The real Job controller counts what the pod runner reports (KWOK leaves runner pods alone)."""
    job = yaml.safe_load(JOB.read_text())
    job["metadata"] = {"name": "checkout-job", "namespace": run_namespace}
    pod = runner_pod("unused", run_namespace, 0, {START_AT_ANNOTATION: f"{time.time() + 8:.3f}"})
    env = pod["spec"]["containers"][0]["env"]
    pod["spec"]["containers"][0]["env"] = [e for e in env if not e["name"].startswith("LOADTEST_RUNNER")]
    job["spec"]["template"] = {"metadata": {k: pod["metadata"][k] for k in ("labels", "annotations")},
                               "spec": pod["spec"]}
    pykube.Job(kube_api, job).create()
    deadline = time.monotonic() + 600
    while True:
        status = pykube.Job.objects(kube_api, namespace=run_namespace).get(name="checkout-job").obj.get("status", {})
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        if conditions.get("Complete") == "True" or conditions.get("Failed") == "True":
            break
        assert time.monotonic() < deadline, status
        time.sleep(2)
    assert conditions.get("Complete") == "True" and status.get("succeeded") == 2, status
    job_pods = [
        r for r in pod_runner.records.values() if r.pod is not None and r.name.startswith("checkout-job-")
    ]
    assert sorted(r.pod.env.get("JOB_COMPLETION_INDEX", "") for r in job_pods if r.pod) == ["0", "1"]
    influxd.wait_quiet(lambda: influxd.graphite_stats().get("tcp", {}).get("pointsTx", 0))
    totals = request_totals(influxd, spec)
    assert all(totals.get(r.name, 0) > 0 for r in job_pods), (totals, [r.name for r in job_pods])


def test_a_gatling_3_11_pod_reports_through_its_own_graphite_writer(
    finished_run: dict[str, RunnerRecord], kube_api: pykube.HTTPClient, run_namespace: str,
    pod_runner: PodRunner, influxd: Influxd, spec: MonitorSpec,
) -> None:
    """gatling-job.yaml's pod (runner image 3.11.5, no sidecar): Gatling's Graphite writer itself,
    redirected to the local InfluxDB. (Its counts can lose a window when two flushes share an epoch
    second, see tests/e2e/README.md, so only their presence is asserted here.)"""
    name = "checkout-run-1-graphite"
    template = yaml.safe_load((JOB.parent / "gatling-job.yaml").read_text())["spec"]["template"]
    pod = runner_pod(name, run_namespace, 0, {START_AT_ANNOTATION: f"{time.time() + 1:.3f}"})
    (gatling,) = template["spec"]["containers"]
    gatling["env"] = pod["spec"]["containers"][0]["env"]
    assert gatling["image"].endswith(":3.11.5"), gatling["image"]
    pod["spec"] = template["spec"]
    pod_runner.prepare("3.11.5")
    pykube.Pod(kube_api, pod).create()
    (record,) = pod_runner.wait_done([name], timeout=600).values()
    assert record.exit_code == 0 and record.simulation_log() is not None, record
    assert record.pod is not None and record.pod.gatling_version == "3.11.5" and record.pod.sidecar is None
    assert pod_of(kube_api, run_namespace, name)["status"]["phase"] == "Succeeded"
    influxd.wait_quiet(lambda: influxd.graphite_stats().get("tcp", {}).get("pointsTx", 0))
    assert request_totals(influxd, spec).get(name, 0) > 0


def test_ltm_cluster_pod_runner_runs_pods_until_stopped(
    cluster: LocalCluster, kube_api: pykube.HTTPClient, namespace: str, spec: MonitorSpec, tmp_path: Path
) -> None:
    """`ltm-cluster pod-runner` against a cluster's state (what `make cluster` writes): it picks up a
    runner pod, reports it, and ends cleanly on SIGTERM (a crash pod: no Gatling build needed)."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text(json.dumps(cluster.state()))
    conf = render_gatling_conf(spec, graphite_host="checkout-graphite", graphite_port=2003)
    pykube.ConfigMap(kube_api, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "checkout-gatling", "namespace": namespace},
        "data": {"gatling.conf": conf},
    }).create()
    with socket.create_server(("127.0.0.1", 0)) as graphite, (tmp_path / "cli.log").open("w") as log:
        proc = subprocess.Popen(
            [CLI, "--state-dir", str(state), "pod-runner", "-n", namespace, "--fault", "crash",
             "--graphite", f"127.0.0.1:{graphite.getsockname()[1]}", "--target-url", "http://127.0.0.1:9"],
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        try:
            pod = runner_pod("cli-runner-0", namespace, 0, {START_AT_ANNOTATION: f"{time.time():.3f}"})
            pykube.Pod(kube_api, pod).create()
            deadline = time.monotonic() + 120
            while (pod_of(kube_api, namespace, "cli-runner-0").get("status") or {}).get("phase") != "Failed":
                assert proc.poll() is None, (tmp_path / "cli.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "cli.log").read_text()
                time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
    output = (tmp_path / "cli.log").read_text()
    assert code == 0, output
    assert f"{namespace}/cli-runner-0: exit 1" in output, output


def test_a_pod_deleted_before_its_start_at_never_starts(
    finished_run: dict[str, RunnerRecord], kube_api: pykube.HTTPClient, run_namespace: str, pod_runner: PodRunner
) -> None:
    name = "checkout-run-1-deleted"
    pykube.Pod(kube_api, runner_pod(name, run_namespace, 0)).create()
    deadline = time.monotonic() + 60
    while f"{run_namespace}/{name}" not in pod_runner.records:
        assert time.monotonic() < deadline, "never picked up"
        time.sleep(0.2)
    pykube.Pod.objects(kube_api, namespace=run_namespace).get(name=name).delete()
    (record,) = pod_runner.wait_done([name], timeout=120).values()
    assert record.started is None and record.simulation_log() is None, record
    assert "deleted before its start-at" in record.error, record
