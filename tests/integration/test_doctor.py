"""`loadtest-monitor doctor` on a real control plane that starts with nothing installed.

A cluster of its own (the session cluster has the CRD preinstalled). The EKS objects the checks
read (DaemonSet kube-system/aws-node, Deployment kube-system/aws-load-balancer-controller, the
default StorageClass) are created or changed by the test, and each change must flip exactly its
line. KWOK runs no containers, so an image that cannot be pulled is a pod status the test writes,
as the kubelet would. The command runs as a subprocess with the cluster's kubeconfig; every
object is set up and read with kubectl/pykube, never with the product's own code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykube
import pytest
import yaml

from ltm_harness.cluster import STORAGE_CLASS, LocalCluster
from ltm_harness.kube_session import admin_client, bare_cluster
from tests.integration.operator_support import (
    Operator,
    apply_monitor,
    condition,
    get_monitor,
    minimal,
    running_operator,
    wait_for,
    wait_ready,
)

CLI = str(Path(sys.executable).parent / "loadtest-monitor")
REPO = Path(__file__).resolve().parents[2]
CRD = "loadtestmonitors.loadtest.dev"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with bare_cluster(tmp_path_factory.mktemp("doctor-cluster")) as local:
        yield local


@pytest.fixture(scope="module")
def api(bare: LocalCluster) -> pykube.HTTPClient:
    return admin_client(bare)


def doctor(bare: LocalCluster, *args: str) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [CLI, "doctor", "--ascii", *args], env=bare.env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert not proc.stderr, proc.stderr
    return proc.returncode, proc.stdout.splitlines()


def line_of(lines: list[str], title: str) -> str:
    """The one line of a check (its title follows the mark)."""
    found = [x for x in lines if x[2:].startswith(title)]
    assert len(found) == 1, (title, lines)
    return found[0]


def settled(bare: LocalCluster, *args: str, timeout: float = 30) -> list[str]:
    """doctor's lines once it exits 0: the EndpointSlice controller marks the Graphite endpoint ready
    a moment after the monitor turns Ready, as it would on any cluster."""
    deadline = time.monotonic() + timeout
    while True:
        code, lines = doctor(bare, *args)
        if code == 0:
            return lines
        assert time.monotonic() < deadline, "\n".join(lines)
        time.sleep(0.5)


def apply(bare: LocalCluster, obj: dict[str, Any]) -> None:
    done = bare.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump(obj))
    assert done.returncode == 0, done.stderr


def aws_node(policy: bool) -> dict[str, Any]:
    """The VPC CNI's DaemonSet as the EKS add-on lays it out: the node agent beside aws-node."""
    labels = {"k8s-app": "aws-node"}
    agent_args = [f"--enable-network-policy={'true' if policy else 'false'}", "--enable-ipv6=false"]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "aws-node", "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "aws-node", "image": "amazon-k8s-cni:v1.19.6"},
                        {"name": "aws-eks-nodeagent", "image": "aws-network-policy-agent:v1.2.3", "args": agent_args},
                    ]
                },
            },
        },
    }


def load_balancer_controller() -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "aws-load-balancer-controller"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "aws-load-balancer-controller", "namespace": "kube-system", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "controller", "image": "aws-load-balancer-controller:v2.13.0"}]},
            },
        },
    }


def available(api: pykube.HTTPClient, namespace: str, name: str) -> bool:
    found = pykube.Deployment.objects(api, namespace=namespace).get_or_none(name=name)
    return found is not None and (found.obj.get("status") or {}).get("readyReplicas", 0) >= 1


def install(bare: LocalCluster, api: pykube.HTTPClient) -> None:
    """The CRD and the operator (kustomize base; its pod a KWOK fake), and the AWS Load Balancer Controller."""
    done = bare.kubectl("apply", "--server-side", "-k", str(REPO / "manifests" / "base"))
    assert done.returncode == 0, done.stderr
    apply(bare, load_balancer_controller())
    wait_for(lambda: available(api, "loadtest-monitor-system", "loadtest-monitor"), 60, "operator Deployment available")
    wait_for(lambda: available(api, "kube-system", "aws-load-balancer-controller"), 60, "LBC Deployment available")
    waited = bare.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD}")
    assert waited.returncode == 0, waited.stderr


def set_default_class(api: pykube.HTTPClient, default: bool) -> None:
    kind = pykube.object_factory(api, "storage.k8s.io/v1", "StorageClass")
    sc = kind.objects(api).get(name=STORAGE_CLASS)
    sc.patch({"metadata": {"annotations": {DEFAULT_CLASS: "true" if default else "false"}}})


def test_a_bare_cluster_blocks_and_each_prerequisite_flips_its_line(bare: LocalCluster, api: pykube.HTTPClient) -> None:
    code, lines = doctor(bare)
    assert code == 1, lines
    assert line_of(lines, "Kubernetes version").startswith("+ Kubernetes version: v1.")
    assert line_of(lines, "CRD").startswith(f"x CRD {CRD}: not installed -- fix: loadtest-monitor up -f monitor.yaml")
    assert line_of(lines, "operator").startswith(
        "x operator: not running (no operator Deployment in any namespace) -- fix: loadtest-monitor up"
    )
    assert line_of(lines, "load balancers").startswith(
        "x load balancers: no AWS Load Balancer Controller (kube-system/aws-load-balancer-controller) and no EKS "
        "Auto Mode: LoadBalancer Services get no NLB -- fix: install the AWS Load Balancer Controller"
    )
    assert line_of(lines, "NetworkPolicy enforcement").startswith(
        "! NetworkPolicy enforcement: no VPC CNI (kube-system/aws-node)"
    )
    assert (
        line_of(lines, "StorageClass") == f"+ StorageClass: default {STORAGE_CLASS} (no monitor checked has storage on)"
    )
    assert line_of(lines, "permissions to install").startswith("+ permissions to install")

    install(bare, api)
    apply(bare, aws_node(policy=False))
    code, lines = doctor(bare)
    assert code == 0, lines  # the network policy line is a warning: it blocks nothing
    assert line_of(lines, "CRD") == f"+ CRD {CRD}: installed and current"
    assert line_of(lines, "operator") == (
        "+ operator: loadtest-monitor-system/loadtest-monitor running (1/1 ready, load balancer mode "
        "aws-load-balancer-controller)"
    )
    assert line_of(lines, "load balancers") == "+ load balancers: AWS Load Balancer Controller running (1/1 ready)"
    assert line_of(lines, "NetworkPolicy enforcement") == (
        "! NetworkPolicy enforcement: the VPC CNI's agent runs without --enable-network-policy=true: NetworkPolicies "
        "are not enforced, Graphite is open to every pod -- fix: turn on the VPC CNI's network policy support: aws "
        'eks update-addon --addon-name vpc-cni --configuration-values \'{"enableNetworkPolicy": "true"}\' '
        "(README, Security)"
    )

    apply(bare, aws_node(policy=True))
    # A monitor with storage and no default StorageClass: its PVC would stay Pending.
    set_default_class(api, False)
    try:
        store = minimal("store", influxdb={"storage": {"enabled": True}})
        assert apply_monitor(bare, "default", store).returncode == 0
        code, lines = doctor(bare, "-n", "default")
        assert code == 1, lines
        assert line_of(lines, "NetworkPolicy enforcement") == (
            "+ NetworkPolicy enforcement: VPC CNI network policy agent on (--enable-network-policy=true)"
        )
        assert line_of(lines, "StorageClass").startswith(
            "x StorageClass: default/store: no default StorageClass: its PVC stays Pending -- fix: set "
            f"influxdb.storage.storageClassName to one of: {STORAGE_CLASS}"
        )
    finally:
        set_default_class(api, True)
    proc = subprocess.run(
        [CLI, "doctor", "-n", "default", "-o", "json"], env=bare.env(), capture_output=True, text=True, check=False
    )
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["ok"] is True, report
    storage = [c for c in report["checks"] if c["title"] == "StorageClass"]
    assert storage == [
        {
            "status": "ok",
            "title": "StorageClass",
            "detail": f"default/store: class {STORAGE_CLASS} (kwok.x-k8s.io/volume)",
            "fix": "",
        }
    ]
    assert bare.kubectl("delete", "ltm", "store", "-n", "default", "--wait=false").returncode == 0


@pytest.fixture(scope="module")
def operator(bare: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(bare, tmp_path_factory.mktemp("doctor-operator")) as op:
        yield op


def test_a_monitor_whose_image_cannot_be_pulled(bare: LocalCluster, api: pykube.HTTPClient, operator: Operator) -> None:
    install(bare, api)  # as the first test left it, if it ran alone
    apply(bare, aws_node(policy=True))
    assert bare.kubectl("create", "namespace", "perf").returncode == 0
    assert apply_monitor(bare, "perf", minimal("checkout")).returncode == 0
    wait_ready(api, "perf", "checkout")
    lines = settled(bare, "checkout", "-n", "perf")
    assert line_of(lines, "monitor perf/checkout") == "+ monitor perf/checkout: Ready"
    assert (
        line_of(lines, "children of perf/checkout") == "+ children of perf/checkout: all 14 present and the operator's"
    )
    graphite = get_monitor(api, "perf", "checkout")["status"]["graphite"]["address"]
    assert line_of(lines, "Graphite reachable") == f"+ Graphite reachable: {graphite} has 1 ready endpoint(s)"
    assert line_of(lines, "metrics arriving").startswith("! metrics arriving: cannot tell from outside")
    assert line_of(lines, "images pullable").startswith("+ images pullable")

    # What the kubelet reports when the image cannot be pulled (KWOK runs no containers).
    pod = next(
        iter(
            pykube.Pod.objects(api, namespace="perf").filter(
                selector={"app.kubernetes.io/name": "influxdb", "loadtest.dev/monitor": "checkout"}
            )
        )
    )
    statuses = pod.obj["status"]["containerStatuses"]
    image = statuses[0]["image"]
    message = f'Back-off pulling image "{image}"'
    statuses[0].update(
        ready=False, started=False, state={"waiting": {"reason": "ImagePullBackOff", "message": message}}
    )
    not_ready = [
        {**c, "status": "False"} if c["type"] in ("Ready", "ContainersReady") else c
        for c in pod.obj["status"]["conditions"]
    ]
    pod.patch({"status": {"containerStatuses": statuses, "conditions": not_ready}}, subresource="status")
    wait_for(
        lambda: condition(get_monitor(api, "perf", "checkout"), "Ready").get("reason") == "ImagePullBackOff",
        30,
        "Ready=False ImagePullBackOff",
    )

    def flipped() -> list[str] | None:  # the EndpointSlice controller follows the pod's Ready on its own
        lines = doctor(bare, "checkout", "-n", "perf")[1]
        return lines if line_of(lines, "Graphite reachable").startswith("x ") else None

    lines = wait_for(flipped, 30, "Graphite line flipped")
    code, lines = doctor(bare, "checkout", "-n", "perf")
    assert code == 1, lines
    assert line_of(lines, "images pullable") == (
        f"x images pullable: perf/{pod.name} container {statuses[0]['name']}: image {image} ImagePullBackOff "
        f"({message}) -- fix: check that the image exists and the nodes can pull it (tag, registry access, "
        "imagePullSecrets; ECR: the node role's ecr:GetAuthorizationToken and ecr:BatchGetImage), then correct "
        "spec.influxdb.image of the monitor"
    )
    monitor_lines = [x for x in lines if x[2:].startswith("monitor perf/checkout")]
    # Ready says what, the failing condition why, with the fix.
    assert (
        monitor_lines[0] == "x monitor perf/checkout: Ready=False (ImagePullBackOff) -- fix: see the conditions below"
    )
    assert monitor_lines[1].startswith("x monitor perf/checkout: InfluxDBReady=False (ImagePullBackOff): Deployment ")
    assert monitor_lines[1].endswith(
        "-- fix: correct spec.influxdb.image or spec.grafana.image, or the nodes' access to the registry"
    )
    assert len(monitor_lines) == 2, monitor_lines
    assert line_of(lines, "Graphite reachable").startswith(
        "x Graphite reachable: Service perf/checkout-graphite has no ready endpoint: Gatling's metrics would be lost"
    )


def viewer_kubeconfig(bare: LocalCluster, path: Path) -> Path:
    """A ServiceAccount bound to the built-in `view` ClusterRole: no CRDs, StorageClasses or writes."""
    for args in (
        ("create", "serviceaccount", "doctor-viewer", "-n", "default"),
        (
            "create",
            "clusterrolebinding",
            "doctor-viewer",
            "--clusterrole=view",
            "--serviceaccount=default:doctor-viewer",
        ),
    ):
        done = bare.kubectl(*args)
        assert done.returncode == 0, done.stderr
    token = bare.kubectl("create", "token", "doctor-viewer", "-n", "default", "--duration=1h")
    assert token.returncode == 0, token.stderr
    admin = yaml.safe_load(Path(bare.kubeconfig_path).read_text())
    entry = admin["clusters"][0]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [entry],
                "users": [{"name": "viewer", "user": {"token": token.stdout.strip()}}],
                "contexts": [{"name": "viewer", "context": {"cluster": entry["name"], "user": "viewer"}}],
                "current-context": "viewer",
            }
        )
    )
    return path


def test_a_read_only_user_gets_warnings_never_a_false_absence(
    bare: LocalCluster, api: pykube.HTTPClient, tmp_path: Path
) -> None:
    install(bare, api)
    env = {**bare.env(), "KUBECONFIG": str(viewer_kubeconfig(bare, tmp_path / "kubeconfig"))}
    # -n default: the monitor another test breaks on purpose lives elsewhere.
    proc = subprocess.run(
        [CLI, "doctor", "--ascii", "-n", "default"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, "\n".join(
        lines
    )  # nothing it could see blocks; what it could not see is not called missing
    assert line_of(lines, f"CRD {CRD}") == (
        f"! CRD {CRD}: cannot tell: a read was refused (see the cannot-read line) -- fix: doctor needs get/list on it"
    )
    assert line_of(lines, "StorageClass").startswith("! StorageClass: cannot tell")
    assert line_of(lines, "load balancers").startswith("! load balancers: cannot tell")
    assert line_of(lines, "operator").startswith("+ operator: loadtest-monitor-system/loadtest-monitor running")
    assert line_of(lines, "permissions to install").startswith(
        "! permissions to install: you may not create customresourcedefinitions, create clusterroles, "
        "create clusterrolebindings: `loadtest-monitor up` cannot install or upgrade the CRD and operator"
    )
    refused = [x for x in lines if x.startswith("! cannot read: ")]
    assert [x.split(":")[1].strip() for x in refused] == [
        f"CRD {CRD}",
        "CustomResourceDefinitions",
        "StorageClasses",
        "CSIDrivers",
    ], refused


NODE_CLASS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "nodeclasses.eks.amazonaws.com"},
    "spec": {
        "group": "eks.amazonaws.com",
        "scope": "Cluster",
        "names": {"plural": "nodeclasses", "singular": "nodeclass", "kind": "NodeClass"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


def test_on_eks_auto_mode_the_operators_mode_and_the_vpc_cni_configmap_flip_their_lines(
    bare: LocalCluster, api: pykube.HTTPClient
) -> None:
    """EKS Auto Mode as the cluster shows it: its NodeClass CRD, no aws-node, no load balancer controller."""
    install(bare, api)
    for kind, name in (("deployment", "aws-load-balancer-controller"), ("daemonset", "aws-node")):
        assert bare.kubectl("delete", kind, name, "-n", "kube-system", "--ignore-not-found").returncode == 0
    apply(bare, NODE_CLASS_CRD)
    code, lines = doctor(bare, "-n", "default")
    assert code == 1, lines
    assert line_of(lines, "load balancers") == (
        "x load balancers: EKS Auto Mode cluster, but the operator is in aws-load-balancer-controller mode and no "
        "aws-load-balancer-controller runs -- fix: set LTM_LOAD_BALANCER_MODE=eks-auto-mode on the operator (Helm: "
        "aws.loadBalancerMode=eks-auto-mode)"
    )
    assert line_of(lines, "NetworkPolicy enforcement").startswith(
        "! NetworkPolicy enforcement: EKS Auto Mode without enable-network-policy-controller: NetworkPolicies are not "
        "enforced, Graphite is open to every pod -- fix: kubectl -n kube-system create configmap amazon-vpc-cni "
        "--from-literal=enable-network-policy-controller=true"
    )

    ns = "loadtest-monitor-system"
    done = bare.kubectl("set", "env", "deploy/loadtest-monitor", "-n", ns, "LTM_LOAD_BALANCER_MODE=eks-auto-mode")
    assert done.returncode == 0, done.stderr
    rolled = bare.kubectl("rollout", "status", "deploy/loadtest-monitor", "-n", ns, "--timeout=60s")
    assert rolled.returncode == 0, rolled.stderr
    apply(
        bare,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "amazon-vpc-cni", "namespace": "kube-system"},
            "data": {"enable-network-policy-controller": "true"},
        },
    )
    code, lines = doctor(bare, "-n", "default")
    assert code == 0, lines
    assert line_of(lines, "operator") == (
        "+ operator: loadtest-monitor-system/loadtest-monitor running (1/1 ready, load balancer mode eks-auto-mode)"
    )
    assert line_of(lines, "load balancers") == (
        "+ load balancers: EKS Auto Mode (nodeclasses.eks.amazonaws.com), operator mode eks-auto-mode"
    )
    assert line_of(lines, "NetworkPolicy enforcement") == (
        "+ NetworkPolicy enforcement: EKS Auto Mode: enable-network-policy-controller is true (ConfigMap "
        "kube-system/amazon-vpc-cni)"
    )
