"""A LoadtestMonitor on a cluster, read the way a user checks it: applied with kubectl, its Ready
condition waited for, the children the operator labelled listed (integration and image tests, benches)."""

from __future__ import annotations

import subprocess
from typing import Any

import pykube
import yaml

from ltm_harness import wait
from ltm_harness.apiserver import ApiServer
from ltm_harness.repo import REPO_ROOT

#: The smallest monitor a user writes: a name and nothing else.
EXAMPLE = REPO_ROOT / "manifests" / "examples" / "monitor.yaml"


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


def apply_monitor(cluster: ApiServer, namespace: str, manifest: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))


def wait_ready(api: pykube.HTTPClient, namespace: str, name: str, timeout: float = 120) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        mon = get_monitor(api, namespace, name)
        ok = condition(mon, "Ready").get("status") == "True"
        observed = mon.get("status", {}).get("observedGeneration") == mon["metadata"]["generation"]
        return mon if ok and observed else None

    # Transient API errors while objects come and go count as "not yet".
    return wait.wait_for(ready, timeout, f"{namespace}/{name} Ready=True", 0.5, retry_on=(Exception,))


def children(api: pykube.HTTPClient, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    selector = {"app.kubernetes.io/instance": name, "app.kubernetes.io/managed-by": "loadtest-monitor"}
    found: dict[str, dict[str, Any]] = {}
    kinds = [pykube.ConfigMap, pykube.Secret, pykube.Service, pykube.Deployment, pykube.PersistentVolumeClaim]
    kinds.append(pykube.object_factory(api, "networking.k8s.io/v1", "NetworkPolicy"))
    for kind in kinds:
        for obj in kind.objects(api, namespace=namespace).filter(selector=selector):
            found[f"{obj.obj.get('kind', kind.kind)}/{obj.name}"] = dict(obj.obj)
    return found


def minimal(name: str = "checkout", /, **spec: Any) -> dict[str, Any]:
    manifest = yaml.safe_load(EXAMPLE.read_text())
    manifest["metadata"]["name"] = name
    if spec:
        manifest["spec"] = spec
    return dict(manifest)
