"""The operator's whole lifecycle against the real control plane.

The operator runs as its own process (`loadtest-monitor run`), exactly as a user starts it; every
assertion reads the cluster through pykube or kubectl, never through the operator's own code.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pykube
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "loadtest.dev_loadtestmonitors.yaml"
EXAMPLE = REPO / "manifests" / "examples" / "monitor.yaml"
OPERATOR_AGENT = "loadtest-monitor/"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as err:  # transient API errors while objects come and go
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class Operator:
    """`loadtest-monitor run` as a subprocess, restartable."""

    def __init__(self, cluster: Any, log_path: Path) -> None:
        self.cluster = cluster
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = self.cluster.env()
        env["LTM_RESYNC_SECONDS"] = "20"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "loadtest-monitor"), "run", "--all-namespaces", "--verbose"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="module")
def crd(cluster: Any) -> None:
    result = cluster.kubectl("apply", "--server-side", "-f", str(CRD))
    assert result.returncode == 0, result.stderr
    result = cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/loadtestmonitors.loadtest.dev"
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def operator(cluster: Any, crd: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    op = Operator(cluster, tmp_path_factory.mktemp("operator") / "operator.log")
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture
def api(kube_api: pykube.HTTPClient) -> pykube.HTTPClient:
    return kube_api


def monitor_kind(api: pykube.HTTPClient) -> Any:
    return pykube.object_factory(api, "loadtest.dev/v1alpha1", "LoadtestMonitor")


def get_monitor(api: pykube.HTTPClient, namespace: str, name: str) -> dict[str, Any]:
    kind = monitor_kind(api)
    obj = kind.objects(api, namespace=namespace).get(name=name)
    return dict(obj.obj)


def condition(monitor: dict[str, Any], cond_type: str) -> dict[str, Any]:
    for cond in (monitor.get("status") or {}).get("conditions") or []:
        if cond["type"] == cond_type:
            return dict(cond)
    return {}


def apply_monitor(cluster: Any, namespace: str, manifest: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))


def wait_ready(api: pykube.HTTPClient, namespace: str, name: str, timeout: float = 120) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        mon = get_monitor(api, namespace, name)
        ok = condition(mon, "Ready").get("status") == "True"
        observed = mon.get("status", {}).get("observedGeneration") == mon["metadata"]["generation"]
        return mon if ok and observed else None

    return wait_for(ready, timeout, f"{namespace}/{name} Ready=True")


def children(api: pykube.HTTPClient, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    selector = {"app.kubernetes.io/instance": name, "app.kubernetes.io/managed-by": "loadtest-monitor"}
    found: dict[str, dict[str, Any]] = {}
    kinds = [pykube.ConfigMap, pykube.Secret, pykube.Service, pykube.Deployment, pykube.PersistentVolumeClaim]
    kinds.append(pykube.object_factory(api, "networking.k8s.io/v1", "NetworkPolicy"))
    for kind in kinds:
        for obj in kind.objects(api, namespace=namespace).filter(selector=selector):
            found[f"{obj.obj.get('kind', kind.kind)}/{obj.name}"] = dict(obj.obj)
    return found


def minimal(name: str = "checkout", **spec: Any) -> dict[str, Any]:
    manifest = yaml.safe_load(EXAMPLE.read_text())
    manifest["metadata"]["name"] = name
    if spec:
        manifest["spec"] = spec
    return dict(manifest)


# --- tests ----------------------------------------------------------------------------------------


def test_example_monitor_becomes_ready_with_every_child(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    result = cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    waited = cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "--timeout=120s", "loadtestmonitor/checkout"
    )
    assert waited.returncode == 0, waited.stderr + operator.log_tail()
    mon = wait_ready(api, namespace, "checkout")
    uid = mon["metadata"]["uid"]

    objs = children(api, namespace, "checkout")
    expected = {
        "ConfigMap/checkout-gatling",
        "ConfigMap/checkout-influxdb-config",
        "ConfigMap/checkout-grafana-datasources",
        "ConfigMap/checkout-grafana-dashboard-providers",
        "ConfigMap/checkout-grafana-dashboards",
        "Secret/checkout-grafana-admin",
        "Service/checkout-grafana",
        "Service/checkout-graphite",
        "Service/checkout-influxdb",
        "Deployment/checkout-grafana",
        "Deployment/checkout-influxdb",
        "NetworkPolicy/checkout-influxdb",
    }
    assert set(objs) == expected
    for key, obj in objs.items():
        refs = obj["metadata"].get("ownerReferences") or []
        assert [(r["kind"], r["name"], r["uid"], r.get("controller")) for r in refs] == [
            ("LoadtestMonitor", "checkout", uid, True)
        ], key
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "loadtest-monitor"

    graphite_dns = f"checkout-graphite.{namespace}.svc.cluster.local"
    conf = objs["ConfigMap/checkout-gatling"]["data"]["gatling.conf"]
    assert f'host = "{graphite_dns}"' in conf
    for dep in ("checkout-influxdb", "checkout-grafana"):
        conds = {c["type"]: c["status"] for c in objs[f"Deployment/{dep}"]["status"].get("conditions", [])}
        assert conds.get("Available") == "True", dep

    password = base64.b64decode(objs["Secret/checkout-grafana-admin"]["data"]["admin-password"]).decode()
    assert len(password) >= 24
    status = mon["status"]
    assert status["graphite"]["address"] == f"{graphite_dns}:2003"
    assert status["gatlingConfig"]["configMap"] == "checkout-gatling"
    assert status["grafana"]["adminSecret"]["name"] == "checkout-grafana-admin"
    assert password not in yaml.safe_dump(status)
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "yaml").stdout
    assert password not in events
    assert password not in operator.log_path.read_text(errors="replace")
    for cond_type in ("Ready", "InfluxDBReady", "GrafanaReady", "ConfigPublished"):
        cond = condition(mon, cond_type)
        assert cond["status"] == "True", cond_type
        assert cond["observedGeneration"] == mon["metadata"]["generation"]
        assert cond["lastTransitionTime"] and cond["reason"] and cond["message"]

    table = cluster.kubectl("get", "ltm", "-n", namespace).stdout
    header, row = table.strip().splitlines()[:2]
    assert header.split() == ["NAME", "READY", "GRAFANA", "GRAPHITE", "AGE"]
    assert row.split()[:2] == ["checkout", "True"]
    assert f"{graphite_dns}:2003" in row


def test_load_balancer_hostname_becomes_the_grafana_url(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(api, namespace, "checkout")
    hostname = "k8s-perf-checkout-0123456789.elb.eu-west-1.amazonaws.com"
    svc = pykube.Service.objects(api, namespace=namespace).get(name="checkout-grafana")
    # What the AWS Load Balancer Controller writes once the NLB exists.
    svc.patch({"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}, subresource="status")
    url = wait_for(
        lambda: get_monitor(api, namespace, "checkout")["status"]["grafana"].get("url"), 30, "status.grafana.url"
    )
    assert url == f"http://{hostname}:3000"
    row = cluster.kubectl("get", "ltm", "checkout", "-n", namespace, "--no-headers").stdout
    assert f"http://{hostname}:3000" in row
