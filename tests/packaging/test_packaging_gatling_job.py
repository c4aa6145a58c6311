"""The example Gatling runner Job (manifests/examples/gatling-job.yaml) against the runner image's
layout and the names the operator gives the `checkout` monitor's objects."""

from __future__ import annotations

import re
import socket
import time

import pytest
import yaml

from loadtest_monitor import graphite, identity
from tests.packaging.job_support import env_of, env_value, run_wait_script, runner_conf_dir
from tests.packaging.packaging_support import ROOT, restricted_violations

JOB_FILE = ROOT / "manifests" / "examples" / "gatling-job.yaml"
RUNNER_DIR = ROOT / "docker" / "gatling-runner"
MONITOR = "checkout"


@pytest.fixture(scope="module")
def job() -> dict:
    (doc,) = [d for d in yaml.safe_load_all(JOB_FILE.read_text()) if d]
    return doc


@pytest.fixture(scope="module")
def pod(job) -> dict:
    return job["spec"]["template"]["spec"]


@pytest.fixture(scope="module")
def runner(pod) -> dict:
    (c,) = pod["containers"]
    return c


@pytest.fixture(scope="module")
def wait_container(pod) -> dict:
    (c,) = pod["initContainers"]
    return c


def test_indexed_job_with_two_runners(job):
    assert job["kind"] == "Job"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 2
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_pod_meets_restricted_pod_security(pod):
    assert restricted_violations(pod) == []


# --- waiting for Graphite ---------------------------------------------------------------------


def graphite_names() -> tuple[str, int]:
    names = identity.ChildNames(monitor=MONITOR, namespace="NS")
    return names.graphite_service, identity.GRAPHITE_PORT


def test_init_container_waits_for_the_monitors_graphite_port(wait_container):
    service, port = graphite_names()
    assert re.fullmatch(r"busybox:\d+\.\d+\.\d+", wait_container["image"]), wait_container["image"]
    host = env_value(wait_container, "GRAPHITE_HOST")["value"]
    assert host == f"{service}.$(POD_NAMESPACE).svc.cluster.local"
    assert env_value(wait_container, "GRAPHITE_PORT")["value"] == str(port) == "2003"
    # $(POD_NAMESPACE) is only expanded if it is defined earlier, from the downward API.
    names = [e["name"] for e in env_of(wait_container)]
    assert names.index("POD_NAMESPACE") < names.index("GRAPHITE_HOST")
    assert env_value(wait_container, "POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    script = wait_container["command"][-1]
    assert re.search(r'nc -z .*"\$GRAPHITE_HOST" "\$GRAPHITE_PORT"', script)
    assert "exit 1" in script and "WAIT_TIMEOUT_SECONDS" in script


def test_wait_script_returns_once_the_port_accepts(wait_container, tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        started = time.monotonic()
        proc = run_wait_script(wait_container, tmp_path, port, 30)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 10
    assert "accepts connections" in proc.stdout


def test_wait_script_gives_up_after_its_timeout(wait_container, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = run_wait_script(wait_container, tmp_path, port, 1)
    assert proc.returncode == 1
    assert "not reachable" in proc.stderr


# --- gatling.conf from the monitor's ConfigMap --------------------------------------------------


def test_configmap_is_the_monitors(pod):
    names = identity.ChildNames(monitor=MONITOR, namespace="NS")
    (volume,) = [v for v in pod["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == names.gatling_config == "checkout-gatling"
    assert volume["configMap"]["items"] == [{"key": identity.GATLING_CONF_KEY, "path": "gatling.conf"}]


def test_configmap_mounted_on_the_images_classpath_dir(pod, runner):
    (volume,) = [v for v in pod["volumes"] if "configMap" in v]
    (mount,) = [m for m in runner["volumeMounts"] if m["name"] == volume["name"]]
    # Gatling 3.11 Maven layout: a directory mount of the one item on the classpath dir
    # (a <= 3.10 bundle would need mountPath .../conf/gatling.conf with subPath instead).
    assert mount["mountPath"] == runner_conf_dir() == "/opt/gatling/conf"
    assert "subPath" not in mount
    assert mount.get("readOnly") is True


def test_writable_dirs_are_volumes(pod, runner):
    mounts = {m["mountPath"]: m["name"] for m in runner["volumeMounts"]}
    assert {"/opt/gatling/results", "/tmp"} <= set(mounts)
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert {mounts["/opt/gatling/results"], mounts["/tmp"]} <= empty_dirs


def test_runner_image_is_the_pinned_runner(runner):
    assert runner["image"].endswith(":3.11.5")
    assert env_value(runner, "GATLING_SIMULATION")["value"]


# --- runner identity ----------------------------------------------------------------------------


def test_runner_identity_from_the_downward_api(runner):
    entry = env_value(runner, "GATLING_RUNNER")
    assert entry["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # The name the rendered gatling.conf reads (${?GATLING_RUNNER}).
    assert "GATLING_RUNNER" in graphite.RUNNER_ENV_VARS


def test_runner_identity_defined_before_anything_that_refers_to_it(runner):
    names = [e["name"] for e in env_of(runner)]
    first = names.index("GATLING_RUNNER")
    for i, entry in enumerate(env_of(runner)):
        if "$(GATLING_RUNNER)" in str(entry.get("value", "")):
            assert i > first, entry["name"]


def test_system_properties_never_loaded_by_configmap_key_ref(runner):
    # The kubelet expands $(VAR) only in `value:`, never in a value taken from a ConfigMap: the
    # java-system-properties key would reach the JVM with a literal "$(GATLING_RUNNER)".
    for entry in env_of(runner):
        ref = (entry.get("valueFrom") or {}).get("configMapKeyRef") or {}
        assert ref.get("key") != identity.JAVA_PROPERTIES_KEY, entry["name"]
    for source in runner.get("envFrom") or []:
        assert "configMapRef" not in source or source["configMapRef"]["name"] != "checkout-gatling"
