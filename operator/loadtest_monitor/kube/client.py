"""The one runtime client layer: server-side apply, get, delete, status and Events.

Requests go straight to the REST paths through the official client's ApiClient, so there is
no discovery round trip and the product talks to the API server through exactly one client.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Mapping
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError

from loadtest_monitor import __version__
from loadtest_monitor.identity import API_VERSION, FIELD_MANAGER, KIND, PLURAL, RUN_KIND, RUN_PLURAL

USER_AGENT = f"loadtest-monitor/{__version__}"

# A resourceVersion as a precondition of an apply that creates: the API server creates the
# object if the name is free, and refuses (409) if any object has it, because no object's
# resourceVersion (an etcd revision) ever reaches the largest int64. Checked against the API
# server in tests/integration (current and the 1.27 floor) for every kind we create.
CREATE_ONLY_RESOURCE_VERSION = str(2**63 - 1)

Obj = dict[str, Any]

# (apiVersion, kind) -> plural resource name, for every kind the operator touches.
RESOURCES: dict[tuple[str, str], str] = {
    ("v1", "ConfigMap"): "configmaps",
    ("v1", "Secret"): "secrets",
    ("v1", "Service"): "services",
    ("v1", "PersistentVolumeClaim"): "persistentvolumeclaims",
    ("v1", "Event"): "events",
    ("apps/v1", "Deployment"): "deployments",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
    (API_VERSION, KIND): PLURAL,
    (API_VERSION, RUN_KIND): RUN_PLURAL,
    ("batch/v1", "Job"): "jobs",
    ("v1", "Pod"): "pods",
}


class KubeError(RuntimeError):
    """An API error with the server's own message, safe to show in status and Events."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _message_of(raw: bytes | str | None, fallback: str | None) -> str:
    """The `message` of a Kubernetes Status body, which names the field at fault."""
    try:
        body = json.loads(raw or "{}")
        return str(body.get("message") or fallback)
    except (TypeError, ValueError):
        return str(fallback)


def _server_message(err: ApiException) -> str:
    return _message_of(err.body, err.reason)


def resource_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    plural = RESOURCES[(api_version, kind)]
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{root}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def load_client_config() -> client.ApiClient:
    """In-cluster credentials in a pod, else the kubeconfig (KUBECONFIG or ~/.kube/config).

    One retry at most: the default (3 retries of a 30 s read) turned one call to an API server
    that does not answer into two minutes; the reconcile retries with back-off instead.
    """
    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[attr-defined,no-untyped-call]
    else:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[attr-defined,no-untyped-call]
    configuration.retries = 1
    api = client.ApiClient(configuration)
    api.user_agent = USER_AGENT  # lets the audit log tell the operator's requests apart
    return api


class Kube:
    def __init__(self, api: client.ApiClient, field_manager: str = FIELD_MANAGER, timeout: float = 10.0) -> None:
        self.api = api
        self.field_manager = field_manager
        self.timeout = timeout
        # Counted so tests and benchmarks can see how many writes a reconcile made.
        self.writes = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        method_, url, headers, payload, _ = self.api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.call_api(
                method_, url, header_params=headers, body=payload, _request_timeout=(self.timeout, self.timeout)
            )
        except ApiException as err:
            raise KubeError(int(err.status or 0), _server_message(err)) from err
        except (TransportError, OSError) as err:  # refused, reset, timed out: an API error like any other
            raise KubeError(0, f"API server unreachable: {type(err).__name__}: {err}") from err
        try:
            raw = response.read()  # type: ignore[no-untyped-call]
        except (TransportError, OSError) as err:
            raise KubeError(0, f"API server connection lost: {type(err).__name__}") from err
        if not 200 <= response.status < 300:
            raise KubeError(response.status, _message_of(raw, response.reason))
        try:
            data = json.loads(raw) if raw else {}
        except ValueError as err:
            raise KubeError(response.status, f"API server answered with no JSON: {err}") from err
        return cast(Obj, data or {})

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return self.request("GET", resource_path(api_version, kind, namespace, name))
        except KubeError as err:
            if err.status == 404:
                return None
            raise

    def apply(self, obj: Mapping[str, Any], *, uid: str | None = None) -> Obj:
        """Server-side apply with our field manager.

        `uid` None: create only. The request carries a resourceVersion no object can have, so
        the API server creates the object when the name is free and answers 409 when any object
        of that name exists (it is then left exactly as it was): one request, no GET first, and
        never a merge into somebody else's object. Not forced.
        `uid` given: update exactly that object, which the caller proved ours (the API server
        refuses the request if the object of that name has another uid, or is gone); forced,
        because a field somebody else took over on our object is taken back.
        """
        meta = dict(obj["metadata"])
        query = [("fieldManager", self.field_manager)]
        if uid:
            meta["uid"] = uid
            query.append(("force", "true"))
        else:
            meta["resourceVersion"] = CREATE_ONLY_RESOURCE_VERSION
        body = {**obj, "metadata": meta}
        self.writes += 1
        return self.request(
            "PATCH",
            resource_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"]),
            body=json.dumps(body),
            query=query,
            content_type="application/apply-patch+yaml",
        )

    def delete(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> None:
        """Deletes exactly the object with this uid (a replacement of the same name stays)."""
        self.writes += 1
        try:
            self.request(
                "DELETE",
                resource_path(api_version, kind, namespace, name),
                body={"propagationPolicy": "Background", "preconditions": {"uid": uid}},
            )
        except KubeError as err:
            if err.status != 404:
                raise

    def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any], kind: str = KIND) -> Obj:
        """A JSON merge patch of the status subresource (of a monitor, or of `kind`: LoadtestRun);
        a None value removes that key."""
        self.writes += 1
        return self.request(
            "PATCH",
            resource_path(API_VERSION, kind, namespace, name) + "/status",
            body={"status": dict(patch)},
            content_type="application/merge-patch+json",
        )

    def merge_patch(self, api_version: str, kind: str, namespace: str, name: str, patch: Mapping[str, Any]) -> Obj:
        """A JSON merge patch of the object itself (a pod's annotation, a Job's deadline)."""
        self.writes += 1
        return self.request(
            "PATCH",
            resource_path(api_version, kind, namespace, name),
            body=dict(patch),
            content_type="application/merge-patch+json",
        )

    def post_event(self, involved: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """A core/v1 Event on a monitor or a run, as `kubectl describe ltm/ltr` shows them."""
        meta = involved["metadata"]
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": involved.get("kind") or KIND,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid", ""),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": socket.gethostname()[:128],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self.writes += 1
        self.request("POST", resource_path("v1", "Event", meta["namespace"]), body=event)

    def monitors_served(self) -> bool:
        """Does API discovery list the LoadtestMonitor resource (the CRD installed and served)?"""
        try:
            found = self.request("GET", f"/apis/{API_VERSION}")
        except KubeError as err:
            if err.status == 404:
                return False
            raise
        return any(r.get("name") == PLURAL for r in found.get("resources") or [])
