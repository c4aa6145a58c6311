"""What doctor reads from the cluster: GETs and LISTs only (and SelfSubjectAccessReviews, which
store nothing). A read the user may not make becomes a warning line, never a crash; an API server
that does not answer raises RestError (the command says so and exits 1).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from loadtest_monitor.cli.crd_fence import has_fence
from loadtest_monitor.cli.install import ManifestsMissing, crd_objects
from loadtest_monitor.doctor.cluster import load_balancer_mode
from loadtest_monitor.doctor.eks import AUTO_MODE_CRD, LBC_CRDS, LBC_NAME
from loadtest_monitor.doctor.result import Check, warn
from loadtest_monitor.identity import API_VERSION, CRD_NAME, KIND, LABEL_INSTANCE, MANAGED_SELECTOR, OPERATOR_SELECTOR
from loadtest_monitor.kube.rest import CRD_API, Rest, RestError, path
from loadtest_monitor.obj import Obj
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.monitor import offline_credentials, render_all
from loadtest_monitor.spec.monitor import SpecError, parse_spec

T = TypeVar("T")

# (verb, group, resource) that `up` needs to install the CRD and the operator's cluster RBAC.
INSTALL_RIGHTS = (
    ("create", "apiextensions.k8s.io", "customresourcedefinitions"),
    ("create", "rbac.authorization.k8s.io", "clusterroles"),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
)


@dataclass
class ClusterFacts:
    version: Obj = field(default_factory=dict)
    crd: Obj | None = None
    fenced: bool = False
    packaged_crd: Obj | None = None
    operators: list[Obj] = field(default_factory=list)
    operator_pods: list[Obj] = field(default_factory=list)
    pods: list[Obj] = field(default_factory=list)  # the operator's and the monitors' in scope
    lb_controller: Obj | None = None
    crds_present: list[str] = field(default_factory=list)  # of LBC_CRDS and AUTO_MODE_CRD
    daemonsets: list[Obj] = field(default_factory=list)
    vpc_cni_config: Obj | None = None
    storage_classes: list[Obj] = field(default_factory=list)
    csi_drivers: list[str] = field(default_factory=list)
    monitors: list[Obj] = field(default_factory=list)  # in scope
    denied: list[str] = field(default_factory=list)
    unreadable: list[Check] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # topics a refused read left unknown

    @property
    def operator(self) -> Obj | None:
        return self.operators[0] if self.operators else None


@dataclass
class MonitorFacts:
    monitor: Obj
    desired: list[tuple[str, str]]  # (kind, name); empty when the spec does not parse
    live: dict[tuple[str, str], Obj | None]
    graphite_slices: list[Obj]
    spec_problem: str = ""


# What a refused read leaves unknown: the check of that topic then says "cannot tell" instead of
# reporting an absence it could not see (a read-only user is not told the CRD is missing).
TOPIC_CRD = "crd"
TOPIC_OPERATOR = "operator"
TOPIC_LOAD_BALANCERS = "load balancers"
TOPIC_NETWORK_POLICY = "network policy"
TOPIC_STORAGE = "storage"
TOPIC_PODS = "pods"
TOPIC_MONITORS = "monitors"


class Reader:
    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self.unreadable: list[Check] = []
        self.refused: set[str] = set()

    def attempt(self, what: str, read: Callable[[], T], default: T, topic: str = "") -> T:
        """The read's answer; on a refusal (403 and the like) a warning line (one per `what`),
        the topic marked unknown, and `default`. An unreachable API server (status 0) is not a
        refusal: it propagates."""
        try:
            return read()
        except RestError as err:
            if err.status == 0:
                raise
            if not any(c.detail.startswith(f"{what}: ") for c in self.unreadable):
                self.unreadable.append(warn("cannot read", f"{what}: {err}", "doctor needs get/list on it"))
            self.refused.add(topic or what)
            return default

    def get(self, url: str) -> Obj | None:
        return self.rest.get(url)

    def list(self, url: str, selector: str = "") -> list[Obj]:
        return self.rest.list(url, selector)


def _packaged_crd() -> Obj | None:
    try:
        found = [c for c in crd_objects() if c["metadata"]["name"] == CRD_NAME]
    except ManifestsMissing:  # the operator image carries no manifests
        return None
    return found[0] if found else None


def _pods_of(reader: Reader, deployment: Obj) -> list[Obj]:
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    ns = deployment["metadata"]["namespace"]
    return reader.attempt(
        f"pods in {ns}", functools.partial(reader.list, path("v1", "Pod", ns), selector), [], TOPIC_PODS
    )


def _lookup(reader: Reader, url: str) -> tuple[Obj | None]:
    """The object or None, in a tuple: tells "absent" apart from "could not read"."""
    return (reader.get(url),)


def _allowed(rest: Rest, verb: str, group: str, resource: str) -> bool:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": verb, "group": group, "resource": resource}},
    }
    answer = rest.call("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=review)
    return bool((answer.get("status") or {}).get("allowed"))


def read_cluster(rest: Rest, namespace: str | None, monitor: str | None) -> ClusterFacts:
    """Everything the cluster checks need. `namespace` None: all namespaces; `monitor` narrows the
    monitors and their pods to that one."""
    r = Reader(rest)
    facts = ClusterFacts(version=rest.call("GET", "/version"))  # the first request: is the API server there?
    crd_url = path(CRD_API, "CustomResourceDefinition", name=CRD_NAME)
    facts.crd = r.attempt(f"CRD {CRD_NAME}", functools.partial(r.get, crd_url), None, TOPIC_CRD)
    facts.fenced = facts.crd is not None and has_fence(facts.crd)
    facts.packaged_crd = _packaged_crd()
    operators_url = path("apps/v1", "Deployment")
    facts.operators = r.attempt(
        "Deployments", functools.partial(r.list, operators_url, OPERATOR_SELECTOR), [], TOPIC_OPERATOR
    )
    for deployment in facts.operators:
        facts.operator_pods += _pods_of(r, deployment)
    facts.pods = list(facts.operator_pods)
    if facts.crd is not None:
        monitors_url = path(API_VERSION, KIND, namespace)
        facts.monitors = r.attempt(f"{KIND}s", functools.partial(r.list, monitors_url), [], TOPIC_MONITORS)
        if monitor is not None:
            facts.monitors = [m for m in facts.monitors if m["metadata"]["name"] == monitor]
    selector = MANAGED_SELECTOR + (f",{LABEL_INSTANCE}={monitor}" if monitor else "")
    pods_url = path("v1", "Pod", namespace)
    facts.pods += r.attempt("the monitors' pods", functools.partial(r.list, pods_url, selector), [], TOPIC_PODS)
    lbc_url = f"/apis/apps/v1/namespaces/kube-system/deployments/{LBC_NAME}"
    facts.lb_controller = r.attempt(
        f"kube-system/{LBC_NAME}", functools.partial(r.get, lbc_url), None, TOPIC_LOAD_BALANCERS
    )
    for name in (*LBC_CRDS, AUTO_MODE_CRD):
        url = path(CRD_API, "CustomResourceDefinition", name=name)
        if r.attempt("CustomResourceDefinitions", functools.partial(r.get, url), None, TOPIC_LOAD_BALANCERS):
            facts.crds_present.append(name)
    facts.daemonsets = r.attempt(
        "DaemonSets", functools.partial(r.list, "/apis/apps/v1/daemonsets"), [], TOPIC_NETWORK_POLICY
    )
    cm_url = "/api/v1/namespaces/kube-system/configmaps/amazon-vpc-cni"
    facts.vpc_cni_config = r.attempt(
        "kube-system/amazon-vpc-cni", functools.partial(r.get, cm_url), None, TOPIC_NETWORK_POLICY
    )
    storage = "/apis/storage.k8s.io/v1"
    facts.storage_classes = r.attempt(
        "StorageClasses", functools.partial(r.list, f"{storage}/storageclasses"), [], TOPIC_STORAGE
    )
    drivers: list[Obj] = r.attempt("CSIDrivers", functools.partial(r.list, f"{storage}/csidrivers"), [], TOPIC_STORAGE)
    facts.csi_drivers = [str(d["metadata"]["name"]) for d in drivers]
    for verb, group, resource in INSTALL_RIGHTS:
        if not r.attempt("SelfSubjectAccessReview", functools.partial(_allowed, rest, verb, group, resource), True):
            facts.denied.append(f"{verb} {resource}")
    facts.unreadable = r.unreadable
    facts.refused = r.refused
    return facts


# --- one monitor ----------------------------------------------------------------------------------


def desired_children(monitor: Mapping[str, Any], load_balancer_mode_: str) -> list[tuple[str, str]]:
    """(kind, name) of every child the monitor's spec asks for: what the operator renders. Raises SpecError."""
    meta = monitor["metadata"]
    owner = Owner(meta["name"], meta["namespace"], meta.get("uid", ""))
    ctx = RenderContext(owner, parse_spec(monitor.get("spec")), load_balancer_mode=load_balancer_mode_)
    return [(o["kind"], o["metadata"]["name"]) for o in render_all(ctx, offline_credentials(ctx))]


API_VERSIONS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
}


def read_monitor(rest: Rest, cluster: ClusterFacts, monitor: Obj) -> MonitorFacts:
    r = Reader(rest)
    ns, name = monitor["metadata"]["namespace"], monitor["metadata"]["name"]
    try:
        desired = desired_children(monitor, load_balancer_mode(cluster.operator))
        problem = ""
    except SpecError as err:
        desired, problem = [], str(err)
    live: dict[tuple[str, str], Obj | None] = {}
    for kind, child in desired:
        url = path(API_VERSIONS[kind], kind, ns, child)
        found = r.attempt(f"{kind} {ns}/{child}", functools.partial(_lookup, r, url), None)
        if found is not None:  # None: not readable, so neither present nor missing
            live[(kind, child)] = found[0]
    service = f"{name}-graphite"
    slices_url = f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
    slices: list[Obj] = r.attempt(
        "EndpointSlices", functools.partial(r.list, slices_url, f"kubernetes.io/service-name={service}"), []
    )
    cluster.unreadable += r.unreadable
    cluster.refused |= r.refused
    return MonitorFacts(monitor, desired, live, slices, problem)
