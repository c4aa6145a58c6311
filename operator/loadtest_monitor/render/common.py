"""Building blocks shared by the child renderers: metadata, owner references, pod security."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadtest_monitor.identity import (
    API_VERSION,
    CONFIG_HASH_ANNOTATION,
    DEFAULT_CLUSTER_DOMAIN,
    GRAFANA_PORT,
    INFLUXDB_HTTP_PORT,
    KIND,
    ChildNames,
    child_labels,
    selector_labels,
)
from loadtest_monitor.load_balancer import (
    EKS_AUTO_MODE_LB_CLASS,
    LB_MODE_CONTROLLER,
    LB_MODE_EKS_AUTO,
    LB_SCHEME_ANNOTATION,
)

# Re-exported for spec/monitor.py, which imports it from here: once it imports loadtest_monitor.load_balancer,
# this line goes and so does the import cycle between spec/monitor.py and this module.
from loadtest_monitor.load_balancer import nlb_annotations as nlb_annotations
from loadtest_monitor.obj import Obj
from loadtest_monitor.spec.monitor import MonitorSpec


@dataclass(frozen=True)
class Owner:
    """The LoadtestMonitor the children belong to. `uid` is empty when rendering offline."""

    name: str
    namespace: str
    uid: str = ""

    @property
    def names(self) -> ChildNames:
        return ChildNames(self.name, self.namespace)


@dataclass(frozen=True)
class RenderContext:
    owner: Owner
    spec: MonitorSpec
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    load_balancer_mode: str = LB_MODE_CONTROLLER
    #: Where the operator's own pods run (Settings.operator_namespace); None outside the cluster.
    operator_namespace: str | None = None

    @property
    def names(self) -> ChildNames:
        return self.owner.names

    @property
    def influxdb_url(self) -> str:
        """InfluxDB's HTTP API in the cluster: Grafana's datasource and status.influxdb.url."""
        return self._service_url(self.names.influxdb_service, INFLUXDB_HTTP_PORT)

    @property
    def grafana_internal_url(self) -> str:
        """Grafana in the cluster: status.grafana.internalUrl (and its url unless a load balancer serves it)."""
        return self._service_url(self.names.grafana_service, GRAFANA_PORT)

    def _service_url(self, service: str, port: int) -> str:
        return f"http://{self.names.service_fqdn(service, self.cluster_domain)}:{port}"


def owner_reference(owner: Owner) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(
    ctx: RenderContext,
    name: str,
    app: str,
    component: str,
    *,
    owned: bool = True,
    annotations: dict[str, str] | None = None,
) -> Obj:
    """Metadata of a child; `owned=False` leaves out the ownerReference (a PVC kept on delete)."""
    meta: Obj = {
        "name": name,
        "namespace": ctx.owner.namespace,
        "labels": child_labels(ctx.owner.name, app, component),
    }
    if annotations:
        meta["annotations"] = dict(sorted(annotations.items()))
    if owned and ctx.owner.uid:
        meta["ownerReferences"] = [owner_reference(ctx.owner)]
    return meta


def content_hash(*parts: Any) -> str:
    """A stable hash of JSON-able content, for pod-template annotations."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()[:16]


def pod_security_context(uid: int) -> Obj:
    """Restricted Pod Security Standard, with numeric IDs because images name their users."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Obj:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def placement(ctx: RenderContext) -> Obj:
    """nodeSelector and tolerations for every pod of the monitor; empty ones are left out."""
    out: Obj = {}
    if ctx.spec.placement.node_selector:
        out["nodeSelector"] = dict(ctx.spec.placement.node_selector)
    if ctx.spec.placement.tolerations:
        out["tolerations"] = [dict(t) for t in ctx.spec.placement.tolerations]
    return out


def http_probes(path: str) -> Obj:
    """Readiness and liveness of a container serving HTTP on its port named `http`: ready within
    seconds, restarted only after a minute of failures (a busy InfluxDB or Grafana is not dead)."""
    get = {"path": path, "port": "http"}
    return {
        "readinessProbe": {"httpGet": get, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {"httpGet": get, "initialDelaySeconds": 30, "periodSeconds": 10, "failureThreshold": 6},
    }


def single_pod_deployment(
    ctx: RenderContext,
    name: str,
    app: str,
    component: str,
    *,
    uid: int,
    config_hash: str,
    pod: Obj,
) -> Obj:
    """A one-replica Deployment, recreated rather than rolled (one writer per data directory), its pod
    running as `uid` with the settings every child pod shares. `config_hash` (content_hash of what
    the pod reads at start) is in the pod template, so a change rolls the pod; `pod` holds the
    containers and volumes."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(ctx, name, app, component),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector_labels(ctx.owner.name, app)},
            "template": {
                "metadata": {
                    "labels": metadata(ctx, "", app, component)["labels"],
                    "annotations": {CONFIG_HASH_ANNOTATION: config_hash},
                },
                "spec": {
                    **placement(ctx),
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(uid),
                    **pod,
                },
            },
        },
    }


def config_map(ctx: RenderContext, name: str, app: str, component: str, data: dict[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(ctx, name, app, component),
        "data": dict(sorted(data.items())),
    }


def secret(ctx: RenderContext, name: str, app: str, component: str, data: Mapping[str, str]) -> Obj:
    """An Opaque Secret; values base64-encoded as the API server returns them (drift compares them)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata(ctx, name, app, component),
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(data.items())},
    }


def secret_env(env_name: str, secret_name: str, key: str) -> Obj:
    """One key of a Secret as an environment variable: only that key reaches the container."""
    return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def load_balancer(ctx: RenderContext, scheme: str) -> tuple[dict[str, str], Obj]:
    """(annotations, spec fields) of a LoadBalancer Service in the operator's load balancer mode.

    EKS Auto Mode picks its NLB by `spec.loadBalancerClass` (immutable: switching modes means
    recreating the Service) and reads the same scheme annotation; the Load Balancer Controller
    is driven by annotations alone and its webhook sets the class itself, which we never fight.
    """
    if ctx.load_balancer_mode == LB_MODE_EKS_AUTO:
        return {LB_SCHEME_ANNOTATION: scheme}, {"loadBalancerClass": EKS_AUTO_MODE_LB_CLASS}
    return nlb_annotations(scheme), {}


DNS_PORT = 53


def dns_egress_rule() -> Obj:
    """Egress to DNS: port 53 (UDP and TCP) of pods in any namespace (CoreDNS / kube-dns).

    Pods only, no ipBlock: an address outside the cluster's pods (the instance metadata service,
    the internet) matches no rule of an egress allow-list, so it needs no `except`."""
    return {
        "to": [{"namespaceSelector": {}}],
        "ports": [{"port": DNS_PORT, "protocol": "UDP"}, {"port": DNS_PORT, "protocol": "TCP"}],
    }
