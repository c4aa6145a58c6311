"""The one table of the Kubernetes kinds the product touches, and their REST paths.

Every fact about a kind lives in its row: its apiVersion, plural, scope, whether the operator
watches it (and how the store keeps it), and whether a reconcile may delete it when the spec stops
wanting it. The operator's watches and indexes (controller/handlers.py), its prune list
(controller/reconcile.py) and both clients' paths (kube/client.py, kube/rest.py) read this table,
so adding a kind (a LoadtestRun's Job) is one row.

It lives in kube/ and imports only the floor, so the controller and the clients can both import it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from loadtest_monitor.identity import API_VERSION, KIND, PLURAL, RUN_KIND, RUN_PLURAL

CRD_API = "apiextensions.k8s.io/v1"


class Watch(enum.Enum):
    """How the operator watches a kind (and so what its store holds of it)."""

    NONE = "none"  # not watched: read by name (Secrets: RBAC has no list/watch on them), or the CLI's only
    PRIMARY = "primary"  # the custom resource: every object, kept whole by (namespace, name)
    CHILD = "child"  # our children: a server-side label selector, kept whole by (namespace, name)
    POD = "pod"  # our Deployments' pods: label-selected, kept as status summaries per monitor


@dataclass(frozen=True)
class KindInfo:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True
    watch: Watch = Watch.NONE
    # A child that stops being wanted when the spec changes (storage, a NetworkPolicy, our own
    # Secrets) is deleted by the reconcile; the others go only with the monitor (ownerReferences).
    prunable: bool = False
    # Objects of this kind that belong to a monitor carry its labels (rendered with them, or made from
    # its pod templates): `down` waits until none is left.
    labelled: bool = False

    @property
    def group(self) -> str:
        """The API group ("" for the core group, as kopf and the watches name it)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def index(self) -> str:
        """The id of its kopf index, which is also the keyword kopf passes the index to handlers under."""
        return f"{self.plural}_index"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path; a namespaced kind without a namespace lists across all namespaces."""
        root = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            root = f"{root}/namespaces/{namespace}"
        where = f"{root}/{self.plural}"
        return f"{where}/{name}" if name else where


_NETWORKING = "networking.k8s.io/v1"
_RBAC = "rbac.authorization.k8s.io/v1"

KINDS: tuple[KindInfo, ...] = (
    KindInfo(API_VERSION, KIND, PLURAL, watch=Watch.PRIMARY),
    KindInfo(API_VERSION, RUN_KIND, RUN_PLURAL),
    KindInfo("batch/v1", "Job", "jobs"),
    KindInfo("apps/v1", "Deployment", "deployments", watch=Watch.CHILD, labelled=True),
    KindInfo("apps/v1", "ReplicaSet", "replicasets", labelled=True),
    KindInfo("v1", "Pod", "pods", watch=Watch.POD, labelled=True),
    KindInfo("v1", "Service", "services", watch=Watch.CHILD, labelled=True),
    KindInfo("v1", "ConfigMap", "configmaps", watch=Watch.CHILD, labelled=True),
    KindInfo("v1", "PersistentVolumeClaim", "persistentvolumeclaims", watch=Watch.CHILD, prunable=True, labelled=True),
    KindInfo(_NETWORKING, "NetworkPolicy", "networkpolicies", watch=Watch.CHILD, prunable=True, labelled=True),
    KindInfo("v1", "Secret", "secrets", prunable=True, labelled=True),
    KindInfo("v1", "Event", "events"),
    KindInfo("v1", "ServiceAccount", "serviceaccounts"),
    KindInfo(_RBAC, "Role", "roles"),
    KindInfo(_RBAC, "RoleBinding", "rolebindings"),
    KindInfo(_RBAC, "ClusterRole", "clusterroles", namespaced=False),
    KindInfo(_RBAC, "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    KindInfo("v1", "Namespace", "namespaces", namespaced=False),
    KindInfo(CRD_API, "CustomResourceDefinition", "customresourcedefinitions", namespaced=False),
)

_BY_KIND = {(k.api_version, k.kind): k for k in KINDS}


def info(api_version: str, kind: str) -> KindInfo:
    try:
        return _BY_KIND[(api_version, kind)]
    except KeyError:
        raise KeyError(f"{api_version} {kind} is not in kube/kinds.KINDS: add its row there") from None


def path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path of a kind of the table (see KindInfo.path)."""
    return info(api_version, kind).path(namespace, name)


def watched(*how: Watch) -> tuple[KindInfo, ...]:
    """The kinds watched in one of these ways, in table order."""
    return tuple(k for k in KINDS if k.watch in how)


PRUNABLE: tuple[KindInfo, ...] = tuple(k for k in KINDS if k.prunable)
LABELLED: tuple[KindInfo, ...] = tuple(k for k in KINDS if k.labelled)
