"""Plain REST reads and writes for the `up` and `down` commands, through the official client.

kube.py serves the operator's reconcile (namespaced children of one monitor); `up`/`down` also
handle cluster-scoped objects (the CRD, ClusterRoles, Namespaces) and list across namespaces.
Same ApiClient, same server-side apply; a separate field manager tells their writes apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from loadtest_monitor.identity import API_VERSION, KIND, PLURAL

if TYPE_CHECKING:  # the client is imported when a command talks to a cluster, not for `render`
    from kubernetes import client

Obj = dict[str, Any]

CLI_FIELD_MANAGER = "loadtest-monitor-cli"

# (apiVersion, kind) -> (plural, namespaced)
KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("customresourcedefinitions", False),
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "Service"): ("services", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("v1", "Pod"): ("pods", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "ReplicaSet"): ("replicasets", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    (API_VERSION, KIND): (PLURAL, True),
}


class RestError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path; namespace None on a namespaced kind lists across all namespaces."""
    plural, namespaced = KINDS[(api_version, kind)]
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    where = f"{root}/namespaces/{namespace}/{plural}" if namespaced and namespace else f"{root}/{plural}"
    return f"{where}/{name}" if name else where


def path_of(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])


class Rest:
    def __init__(self, api: client.ApiClient, timeout: float = 30.0) -> None:
        self.api = api
        self.timeout = timeout

    def call(
        self,
        method: str,
        url_path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        from kubernetes.client.exceptions import ApiException

        method_, url, headers, payload, _ = self.api.param_serialize(
            method,
            url_path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.call_api(
                method_, url, header_params=headers, body=payload, _request_timeout=self.timeout
            )
        except ApiException as err:
            raise RestError(int(err.status or 0), _message(err.body, err.reason)) from err
        raw = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status < 300:
            raise RestError(response.status, _message(raw, response.reason))
        return cast(Obj, json.loads(raw) if raw else {})

    def get(self, url_path: str) -> Obj | None:
        try:
            return self.call("GET", url_path)
        except RestError as err:
            if err.status == 404:
                return None
            raise

    def list(self, url_path: str, label_selector: str = "") -> list[Obj]:
        query = [("labelSelector", label_selector)] if label_selector else []
        return list(self.call("GET", url_path, query=query).get("items") or [])

    def apply(self, obj: Mapping[str, Any]) -> Obj:
        """Server-side apply, forcing conflicts: `up` owns what it installs."""
        return self.call(
            "PATCH",
            path_of(obj),
            body=json.dumps(obj),
            query=[("fieldManager", CLI_FIELD_MANAGER), ("force", "true")],
            content_type="application/apply-patch+yaml",
        )

    def delete(self, url_path: str) -> bool:
        """Deletes (children go in the background); False if it was already gone."""
        try:
            self.call("DELETE", url_path, body={"propagationPolicy": "Background"})
        except RestError as err:
            if err.status == 404:
                return False
            raise
        return True


def _message(raw: bytes | str | None, fallback: str | None) -> str:
    try:
        return str(json.loads(raw or "{}").get("message") or fallback)
    except (TypeError, ValueError):
        return str(fallback)
