"""`loadtest-monitor up` and `down` against a real control plane that starts WITHOUT the CRD.

A cluster of its own (the session cluster has the CRD preinstalled): `up` must find the CRD and
the operator missing and install them from the package, exactly the kustomize base's objects.
The operator Deployment's pod is a KWOK fake here, so the real operator process runs beside it
(as in every integration test); kopf notices the CRD when `up` creates it. Everything is read
back with pykube/kubectl, never with the product's own code.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykube
import pytest
import yaml

from ltm_harness.binaries import find_binaries
from ltm_harness.cluster import LocalCluster
from tests.integration.operator_support import (
    CRD,
    Operator,
    children,
    condition,
    get_monitor,
    running_operator,
    wait_for,
)

CLI = str(Path(sys.executable).parent / "loadtest-monitor")
REPO = Path(__file__).resolve().parents[2]
OPERATOR_NS = "loadtest-monitor-system"
HOSTNAME = "k8s-perf-checkout-0123456789.elb.eu-west-1.amazonaws.com"


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(find_binaries(), tmp_path_factory.mktemp("bare-cluster"), crds=[], keep_run_dir=True)
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def api(bare: LocalCluster) -> pykube.HTTPClient:
    return pykube.HTTPClient(pykube.KubeConfig.from_file(str(bare.kubeconfig_path)))


@pytest.fixture(scope="module")
def operator(bare: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(bare, tmp_path_factory.mktemp("operator")) as op:
        yield op


def ltm(bare: LocalCluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=bare.env(), capture_output=True, text=True, timeout=timeout, check=False)


def monitor_file(tmp_path: Path, name: str, namespace: str, spec: dict | None = None) -> Path:
    path = tmp_path / f"{name}.yaml"
    doc: dict[str, Any] = {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor",
                           "metadata": {"name": name, "namespace": namespace}}
    if spec:
        doc["spec"] = spec
    path.write_text(yaml.safe_dump(doc))
    return path


def exists(api: pykube.HTTPClient, kind: Any, name: str, namespace: str | None = None) -> bool:
    query = kind.objects(api, namespace=namespace) if namespace else kind.objects(api)
    return query.get_or_none(name=name) is not None


CRD_KIND = pykube.CustomResourceDefinition


def test_up_installs_crd_and_operator_then_waits_until_ready(bare, api, operator, tmp_path) -> None:
    assert not exists(api, CRD_KIND, "loadtestmonitors.loadtest.dev")
    proc = subprocess.Popen([CLI, "up", "-f", str(monitor_file(tmp_path, "checkout", "perf")), "--timeout", "240s"],
                            env=bare.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: condition(get_monitor(api, "perf", "checkout"), "Ready").get("status") == "True", 240,
                 "perf/checkout Ready")
        # What the AWS Load Balancer Controller writes once the NLB exists; `up` waits for it after Ready.
        svc = pykube.Service.objects(api, namespace="perf").get(name="checkout-grafana")
        svc.patch({"status": {"loadBalancer": {"ingress": [{"hostname": HOSTNAME}]}}}, subresource="status")
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err + operator.log_tail()
    assert f"  Grafana:      http://{HOSTNAME}:3000\n" in out
    assert "CRD loadtestmonitors.loadtest.dev: installed" in out
    assert "operator: installed in namespace loadtest-monitor-system (image loadtest-monitor:0.1.0)" in out
    assert "namespace perf: created" in out
    assert "perf/checkout: applied" in out
    assert "perf/checkout is Ready." in out
    # The operator started before the CRD existed: it waited for discovery to serve it, so kopf's
    # one lookup found it (a CRD event that came before discovery served it would otherwise be lost).
    log = operator.log_path.read_text(errors="replace")
    assert "loadtestmonitors.loadtest.dev is not served yet" in log
    assert "loadtestmonitors.loadtest.dev is served; starting the watches" in log

    # The CRD is the file in crds/, and the operator objects are the kustomize base's.
    crd = CRD_KIND.objects(api).get(name="loadtestmonitors.loadtest.dev").obj
    assert crd["spec"]["versions"] == yaml.safe_load(CRD.read_text())["spec"]["versions"]
    deployment = pykube.Deployment.objects(api, namespace=OPERATOR_NS).get(name="loadtest-monitor").obj
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "loadtest-monitor:0.1.0"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "loadtest-monitor"
    assert exists(api, pykube.ServiceAccount, "loadtest-monitor", OPERATOR_NS)
    for role in ("loadtest-monitor", "loadtest-monitor-cluster"):
        assert exists(api, pykube.ClusterRole, role)
        assert exists(api, pykube.ClusterRoleBinding, role)
    ns = pykube.Namespace.objects(api).get(name=OPERATOR_NS).obj
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

    mon = get_monitor(api, "perf", "checkout")
    assert condition(mon, "Ready")["status"] == "True"
    graphite = mon["status"]["graphite"]["address"]
    assert f"Graphite:     {graphite} (tcp)" in out
    assert "gatling.conf: ConfigMap checkout-gatling (key gatling.conf) in namespace perf" in out
    # The printed password command reads the password the operator generated.
    line = next(x for x in out.splitlines() if "base64 -d" in x)
    command = line.split("password: ", 1)[1]
    shown = subprocess.run(command.replace("kubectl ", f"{bare.binaries.kubectl} --kubeconfig "
                                                      f"{bare.kubeconfig_path} ", 1),
                           shell=True, capture_output=True, text=True, check=True).stdout
    secret = pykube.Secret.objects(api, namespace="perf").get(name="checkout-grafana-admin").obj
    assert shown == base64.b64decode(secret["data"]["admin-password"]).decode() != ""


def test_second_up_finds_everything_present(bare, api, operator, tmp_path) -> None:
    up = ltm(bare, "up", "-f", str(monitor_file(tmp_path, "checkout", "perf")), "--timeout", "120s")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "CRD loadtestmonitors.loadtest.dev: present" in up.stdout
    assert "operator: present (loadtest-monitor-system/loadtest-monitor)" in up.stdout
    assert "perf/checkout is Ready." in up.stdout


def test_up_times_out_with_the_failing_condition(bare, api, operator, tmp_path) -> None:
    spec = {"grafana": {"adminSecretRef": {"name": "missing-admin"}}}
    up = ltm(bare, "up", "-f", str(monitor_file(tmp_path, "broken", "perf", spec)), "--timeout", "25s")
    assert up.returncode == 1, up.stdout + up.stderr
    last = up.stderr.strip().splitlines()[-1]
    assert last.startswith("error: perf/broken not Ready after 25 s: Ready=False; "), last
    assert "missing-admin" in last
    assert "broken: Ready=False" in up.stdout  # the progress showed it as it happened


def test_bad_monitor_is_refused_before_anything_is_sent(bare, api, tmp_path) -> None:
    spec = {"influxdb": {"retention": "forever"}}
    up = ltm(bare, "up", "-f", str(monitor_file(tmp_path, "typo", "perf", spec)))
    assert up.returncode != 0
    assert up.stderr.startswith(f"error: {tmp_path}/typo.yaml: LoadtestMonitor typo: spec.influxdb.retention")
    assert not exists(api, pykube.object_factory(api, "loadtest.dev/v1alpha1", "LoadtestMonitor"), "typo", "perf")


def test_down_waits_until_everything_is_gone_and_uninstall(bare, api, operator) -> None:
    assert children(api, "perf", "checkout")
    refused = ltm(bare, "down", "checkout", "-n", "perf", "--uninstall")
    assert refused.returncode != 0
    assert "--uninstall: 1 other LoadtestMonitor(s) exist (perf/broken)" in refused.stderr
    # The monitor itself was deleted before the refusal, and waited for.
    assert "perf/checkout: gone" in refused.stdout
    assert children(api, "perf", "checkout") == {}

    down = ltm(bare, "down", "broken", "-n", "perf", "--uninstall")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "perf/broken: gone" in down.stdout
    assert "operator and CRD removed" in down.stdout
    assert children(api, "perf", "broken") == {}
    assert not exists(api, CRD_KIND, "loadtestmonitors.loadtest.dev")
    assert not exists(api, pykube.Deployment, "loadtest-monitor", OPERATOR_NS)
    assert not exists(api, pykube.ClusterRole, "loadtest-monitor")
    wait_for(lambda: not exists(api, pykube.Namespace, OPERATOR_NS), 60, "the operator namespace to go")

    missing = ltm(bare, "down", "checkout", "-n", "perf")
    assert missing.returncode != 0
    assert missing.stderr.strip() == (
        "error: LoadtestMonitor perf/checkout not found (kubectl get loadtestmonitors -A lists them)"
    )
