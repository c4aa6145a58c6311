"""The Gatling 3.12+ example Job (manifests/examples/gatling-job-current.yaml): the runner plus the
forwarder as a native sidecar, checked against the 3.11 Job, the runner image and the real CLI."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from loadtest_monitor import identity
from tests.packaging.job_support import env_value, run_wait_script, runner_conf_dir
from tests.packaging.packaging_support import ROOT, restricted_violations

JOB_FILE = ROOT / "manifests" / "examples" / "gatling-job-current.yaml"
CLASSIC_JOB_FILE = ROOT / "manifests" / "examples" / "gatling-job.yaml"
FORWARDER_TESTED = ("3.12.0", "3.13.5", "3.14.9", "3.15.1")  # tests/e2e/test_forward_versions.py


def load(path: Path) -> dict:
    (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return doc


@pytest.fixture(scope="module")
def job() -> dict:
    return load(JOB_FILE)


@pytest.fixture(scope="module")
def pod(job) -> dict:
    return job["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def gatling(pod) -> dict:
    (c,) = pod["containers"]
    return c


@pytest.fixture(scope="module")
def init_containers(pod) -> dict[str, dict]:
    return {c["name"]: c for c in pod["initContainers"]}


@pytest.fixture(scope="module")
def forwarder(init_containers) -> dict:
    return init_containers["forward"]


def test_indexed_job_that_completes(job, pod):
    spec = job["spec"]
    assert job["kind"] == "Job" and spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 2
    assert spec["backoffLimit"] == 0
    assert pod["restartPolicy"] == "Never"
    # The forwarder is a NATIVE sidecar: an init container with restartPolicy Always does not block
    # the pod's start and is stopped (SIGTERM) once the Job's container has ended, so the Job
    # completes. As a regular container it would keep the pod, and the Job, running.
    assert [c["name"] for c in pod["containers"]] == ["gatling"]


def test_pod_meets_restricted_pod_security(pod):
    assert restricted_violations(pod) == []


def test_graphite_wait_first_then_the_sidecar(pod, init_containers):
    names = [c["name"] for c in pod["initContainers"]]
    assert names == ["wait-for-graphite", "forward"]
    assert "restartPolicy" not in init_containers["wait-for-graphite"]  # runs to completion first
    assert init_containers["forward"]["restartPolicy"] == "Always"


def test_graphite_wait_is_the_same_as_for_311_runners(init_containers):
    (classic,) = [c for c in load(CLASSIC_JOB_FILE)["spec"]["template"]["spec"]["initContainers"]]
    assert init_containers["wait-for-graphite"] == classic


def test_graphite_wait_script_runs(init_containers, tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        proc = run_wait_script(init_containers["wait-for-graphite"], tmp_path, server.getsockname()[1], 30)
    assert proc.returncode == 0, proc.stderr
    assert "accepts connections" in proc.stdout


def test_forwarder_runs_the_forward_subcommand_of_the_operator_image(forwarder):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    # The operator image (docker/operator, deployed as `loadtest-monitor`): no second image to ship.
    assert forwarder["image"] == f"loadtest-monitor:{version}"
    conf = f"{runner_conf_dir()}/gatling.conf"
    assert [*forwarder["command"], *forwarder["args"]] == [
        "loadtest-monitor", "forward", "--gatling-conf", conf, "--results", "/opt/gatling/results",
        # A native sidecar is restarted after any exit while Gatling runs: wait for the SIGTERM.
        "--until-sigterm",
    ]


def test_forwarder_arguments_are_accepted_by_the_real_cli(forwarder):
    cli = Path(sys.executable).parent / forwarder["command"][0]
    proc = subprocess.run([str(cli), "forward", "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    for option in (a for a in forwarder["args"] if a.startswith("--")):
        assert re.search(rf"(^|\s){re.escape(option)}\b", proc.stdout), option


def test_forwarder_shares_the_results_dir_and_the_configmap(pod, gatling, forwarder):
    volumes = {v["name"]: v for v in pod["volumes"]}
    runner_mounts = {m["mountPath"]: m for m in gatling["volumeMounts"]}
    side_mounts = {m["mountPath"]: m for m in forwarder["volumeMounts"]}
    results = side_mounts["/opt/gatling/results"]
    assert results["name"] == runner_mounts["/opt/gatling/results"]["name"]
    assert "emptyDir" in volumes[results["name"]]
    assert results.get("readOnly") is True  # the forwarder only reads the log
    conf = side_mounts[runner_conf_dir()]
    assert conf == runner_mounts[runner_conf_dir()]
    cm = volumes[conf["name"]]["configMap"]
    names = identity.ChildNames(monitor="checkout", namespace="NS")
    assert cm["name"] == names.gatling_config
    assert cm["items"] == [{"key": identity.GATLING_CONF_KEY, "path": "gatling.conf"}]


def test_both_containers_have_the_same_runner_identity(gatling, forwarder):
    assert env_value(gatling, "GATLING_RUNNER") == env_value(forwarder, "GATLING_RUNNER")
    assert env_value(forwarder, "GATLING_RUNNER")["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_runner_image_is_a_forwarder_tested_gatling(gatling):
    name, _, tag = gatling["image"].rpartition(":")
    assert name == "gatling-runner"
    assert tag in FORWARDER_TESTED
    assert env_value(gatling, "GATLING_SIMULATION")["value"]


def test_job_differs_from_the_311_job_only_where_it_must():
    classic = load(CLASSIC_JOB_FILE)["spec"]["template"]["spec"]
    current = load(JOB_FILE)["spec"]["template"]["spec"]
    assert current["securityContext"] == classic["securityContext"]
    assert current["volumes"] == classic["volumes"]
    (c_old,), (c_new,) = classic["containers"], current["containers"]
    assert {k: v for k, v in c_new.items() if k != "image"} == {k: v for k, v in c_old.items() if k != "image"}
