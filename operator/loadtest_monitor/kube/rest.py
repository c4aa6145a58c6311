"""Plain REST reads and writes for the `up` and `down` commands, through the official client.

kube/client.py serves the operator's reconcile (namespaced children of one monitor); `up`/`down` also
handle cluster-scoped objects (the CRD, ClusterRoles, Namespaces) and list across namespaces.
Requests go through kube/client.py (one client layer); a separate field manager tells their writes apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubernetes import client

from loadtest_monitor.identity import CLI_FIELD_MANAGER
from loadtest_monitor.kube.client import Kube, KubeError

# The paths of every kind come from the one table; re-exported for the commands that build them.
from loadtest_monitor.kube.kinds import CRD_API as CRD_API
from loadtest_monitor.kube.kinds import path as path
from loadtest_monitor.obj import Obj

#: The same error as the operator's client layer (the server's message, the HTTP status).
RestError = KubeError


def path_of(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])


class Rest:
    """Path-based requests over the operator's client layer (kube/client.py): one way to talk to the API
    server, with its timeouts and error handling; only the field manager differs."""

    def __init__(self, api: client.ApiClient, timeout: float = 30.0) -> None:
        self.kube = Kube(api, field_manager=CLI_FIELD_MANAGER, timeout=timeout)

    def call(
        self,
        method: str,
        url_path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        return self.kube.request(method, url_path, body=body, query=query, content_type=content_type)

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

    def put(self, obj: Mapping[str, Any]) -> Obj:
        """Replaces the object; its metadata.resourceVersion makes the write fail (409) if it changed."""
        return self.call("PUT", path_of(obj), body=dict(obj))

    def delete(self, url_path: str, uid: str | None = None, resource_version: str | None = None) -> bool:
        """Deletes (children go in the background); False if it was already gone.

        With `uid` (and `resource_version`), only exactly that object (in that version) is deleted:
        the API server refuses (409) when the name now holds another object, or it changed."""
        body: Obj = {"propagationPolicy": "Background"}
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            body["preconditions"] = preconditions
        try:
            self.call("DELETE", url_path, body=body)
        except RestError as err:
            if err.status == 404:
                return False
            raise
        return True
