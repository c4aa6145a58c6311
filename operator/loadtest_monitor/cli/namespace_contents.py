"""What a namespace holds that is not of one `up` install: `down --uninstall` deletes the operator's
namespace only when this is empty.

Every namespaced kind the API server serves is listed (API discovery, so custom resources,
StatefulSets and Jobs count as much as Deployments and ConfigMaps). An object is of the install
when it carries the install's id, or when all its owners are of the install (the operator's
ReplicaSet and Pods). A kind that cannot be listed counts as a reason to keep the namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from loadtest_monitor.cli.install import install_id_of
from loadtest_monitor.kube.rest import Rest, RestError
from loadtest_monitor.obj import Obj

# Not objects anybody keeps: Events are a log, metrics are computed on the fly (metrics-server,
# prometheus-adapter, KEDA serve them from memory).
SKIPPED_GROUPS = {"events.k8s.io", "metrics.k8s.io", "custom.metrics.k8s.io", "external.metrics.k8s.io"}
SKIPPED_CORE = {"events"}
# Made in every namespace by the control plane itself (root-ca-cert-publisher, serviceaccount controller).
BUILT_IN = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}


@dataclass(frozen=True)
class Resource:
    root: str  # /api/v1 or /apis/GROUP/VERSION
    name: str  # the plural
    kind: str


def _listable(root: str, found: Obj) -> list[Resource]:
    out: list[Resource] = []
    for res in found.get("resources") or []:
        name = str(res.get("name", ""))
        if not res.get("namespaced") or "/" in name or "list" not in (res.get("verbs") or []):
            continue  # cluster-scoped, a subresource, or nothing that can be listed
        if root == "/api/v1" and name in SKIPPED_CORE:
            continue
        out.append(Resource(root, name, str(res.get("kind", name))))
    return out


def namespaced_resources(rest: Rest) -> tuple[list[Resource], list[str]]:
    """Every listable namespaced resource (preferred version of each group), and the API groups
    whose discovery failed (an aggregated API that is down: what it holds is unknown)."""
    roots = ["/api/v1"]
    for group in rest.call("GET", "/apis").get("groups") or []:
        if group.get("name") not in SKIPPED_GROUPS:
            roots.append(f"/apis/{group['preferredVersion']['groupVersion']}")
    resources: list[Resource] = []
    unknown: list[str] = []
    for root in roots:
        try:
            resources += _listable(root, rest.call("GET", root))
        except RestError as err:
            if err.status == 404:
                continue  # the group went away since /apis answered (a CRD just deleted): holds nothing
            unknown.append(f"{root}: discovery failed: {err}")
    return resources, unknown


def list_namespace(rest: Rest, namespace: str) -> tuple[list[tuple[str, Obj]], list[str]]:
    """(kind, object) of everything in the namespace, and what could not be listed."""
    resources, problems = namespaced_resources(rest)
    items: list[tuple[str, Obj]] = []
    for res in resources:
        try:
            listed = rest.call("GET", f"{res.root}/namespaces/{namespace}/{res.name}")
        except RestError as err:
            if err.status == 404:
                continue  # the group went away since discovery
            problems.append(f"{res.kind}: cannot list: {err}")
            continue
        items += [(res.kind, item) for item in listed.get("items") or []]
    return items, problems


def not_of_install(items: Iterable[tuple[str, Obj]], install_id: str, uids: Iterable[str]) -> list[str]:
    """Kind/name of each object that is neither of the install (its id, a uid in `uids`, or all of
    its owners of the install, transitively) nor made by the control plane in every namespace."""
    objects = [(kind, item["metadata"]) for kind, item in items]
    ours = set(uids) | {meta.get("uid") for _, meta in objects if install_id_of({"metadata": meta}) == install_id}
    grew = True
    while grew:  # owners before owned is not guaranteed by the listing order: repeat until stable
        grew = False
        for _, meta in objects:
            owners = [ref.get("uid") for ref in meta.get("ownerReferences") or []]
            if meta.get("uid") not in ours and owners and all(uid in ours for uid in owners):
                ours.add(meta.get("uid"))
                grew = True
    return sorted(
        f"{kind}/{meta['name']}"
        for kind, meta in objects
        if meta.get("uid") not in ours and (kind, meta.get("name")) not in BUILT_IN
    )


def foreign_contents(rest: Rest, namespace: str, install_id: str, uids: Iterable[str]) -> list[str]:
    """Why the namespace must be kept: its objects that are not of the install, and any kind that
    could not be listed. Empty: it holds nothing but the install's objects."""
    items, problems = list_namespace(rest, namespace)
    return not_of_install(items, install_id, uids) + problems
