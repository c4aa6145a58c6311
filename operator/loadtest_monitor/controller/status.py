"""Status of a LoadtestMonitor, computed from what the cluster reports (pure functions).

Conditions follow the Kubernetes API conventions: a condition's lastTransitionTime only moves
when its status changes, so an unchanged world produces an identical status and no write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtest_monitor.identity import GATLING_CONF_KEY, GRAFANA_PORT, GRAPHITE_PORT, JAVA_PROPERTIES_KEY
from loadtest_monitor.obj import Obj
from loadtest_monitor.render import bootstrap
from loadtest_monitor.render.common import RenderContext
from loadtest_monitor.render.grafana import admin_secret_location
from loadtest_monitor.render.monitor import graphite_host

READY = "Ready"
INFLUXDB_READY = "InfluxDBReady"
GRAFANA_READY = "GrafanaReady"
CONFIG_PUBLISHED = "ConfigPublished"

REASON_INVALID_SPEC = "InvalidSpec"
REASON_APPLY_FAILED = "ApplyFailed"
REASON_AVAILABLE = "Available"
REASON_PROGRESSING = "Progressing"
REASON_PUBLISHED = "Published"
REASON_ADMIN_SECRET_MISSING = "AdminSecretMissing"
REASON_ADMIN_SECRET_NOT_ALLOWED = "AdminSecretNotAllowed"
REASON_NAME_CONFLICT = "NameConflict"
REASON_PROGRESS_DEADLINE = "ProgressDeadlineExceeded"
# The ReplicaSet cannot create the pod at all (a ServiceAccount that does not exist, such as
# spec.archive.serviceAccountName, a quota): no pod ever shows a reason, so the Deployment's says it.
REASON_REPLICA_FAILURE = "ReplicaFailure"

# Container waiting reasons that will not clear up by waiting: the child is Degraded.
CONDITION_MESSAGE_LIMIT = 1024

DEGRADED_WAITING_REASONS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
)



@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True", "False" or "Unknown"
    reason: str
    message: str


def merge_conditions(
    previous: Sequence[Mapping[str, Any]], current: Sequence[Condition], generation: int, now: str
) -> list[Obj]:
    """New condition dicts; lastTransitionTime is kept from `previous` while the status holds."""
    old = {str(c.get("type")): c for c in previous}
    merged: list[Obj] = []
    for cond in current:
        before = old.get(cond.type)
        unchanged = before is not None and before.get("status") == cond.status
        merged.append(
            {
                "type": cond.type,
                "status": cond.status,
                "reason": cond.reason,
                "message": cond.message,
                "lastTransitionTime": str(before.get("lastTransitionTime")) if unchanged and before else now,
                "observedGeneration": generation,
            }
        )
    return merged


def _degraded_pod(pods: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(reason, message) of the first container that waits for a reason waiting will not fix."""
    for pod in pods:
        pod_status = pod.get("status") or {}
        statuses = [*(pod_status.get("initContainerStatuses") or []), *(pod_status.get("containerStatuses") or [])]
        for container in statuses:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = str(waiting.get("reason") or "")
            if reason in DEGRADED_WAITING_REASONS:
                pod_name = (pod.get("metadata") or {}).get("name", "")
                detail = f": {waiting['message']}" if waiting.get("message") else ""
                return reason, f"pod {pod_name} container {container.get('name')} is in {reason}{detail}"
    return None


def bootstrap_failure(cond: Condition, pods: Sequence[Mapping[str, Any]]) -> Condition:
    """InfluxDB's condition with the bootstrap's failure (RetentionFailed, UsersFailed …) if a pod
    reports one: InfluxDB runs, but not as the spec asks, so the monitor is not Ready until fixed."""
    for pod in pods:
        outcome = bootstrap.pod_outcome(pod)
        if outcome is not None and outcome.failed:
            pod_name = (pod.get("metadata") or {}).get("name", "")
            message = f"pod {pod_name}: {outcome.message}"[:CONDITION_MESSAGE_LIMIT]
            return Condition(cond.type, "False", outcome.reason, message)
    return cond


def deployment_condition(
    cond_type: str, deployment: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]] = ()
) -> Condition:
    """True once the Deployment's current generation is rolled out and Available.

    False with the Deployment's ReplicaFailure (no pod could be created) or ProgressDeadlineExceeded,
    or a pod's CrashLoopBackOff / ImagePullBackOff / ErrImagePull reason, when the rollout will not
    finish by itself.
    """
    if deployment is None:
        return Condition(cond_type, "False", REASON_PROGRESSING, "Deployment does not exist yet")
    name = deployment.get("metadata", {}).get("name", "")
    status = deployment.get("status") or {}
    degraded = _degraded_pod(pods)
    if degraded is not None:
        return Condition(cond_type, "False", degraded[0], f"Deployment {name}: {degraded[1]}")
    for cond in status.get("conditions") or []:
        if cond.get("type") == REASON_REPLICA_FAILURE and cond.get("status") == "True":
            message = f"Deployment {name}: {cond.get('message', '')}"[:CONDITION_MESSAGE_LIMIT]
            return Condition(cond_type, "False", REASON_REPLICA_FAILURE, message)
        if cond.get("type") == "Progressing" and cond.get("reason") == REASON_PROGRESS_DEADLINE:
            return Condition(
                cond_type, "False", REASON_PROGRESS_DEADLINE, f"Deployment {name}: {cond.get('message', '')}"
            )
    generation = deployment.get("metadata", {}).get("generation", 0)
    wanted = deployment.get("spec", {}).get("replicas", 1)
    available = any(c.get("type") == "Available" and c.get("status") == "True" for c in status.get("conditions") or [])
    rolled_out = (
        status.get("observedGeneration", 0) >= generation
        and status.get("updatedReplicas", 0) >= wanted
        and status.get("availableReplicas", 0) >= wanted
    )
    if available and rolled_out:
        return Condition(cond_type, "True", REASON_AVAILABLE, f"Deployment {name} is available")
    # Only the count a user waits for: every step of a rollout (a new ReplicaSet, an updated
    # replica) changing the message would be one more status write per monitor.
    return Condition(
        cond_type,
        "False",
        REASON_PROGRESSING,
        f"Deployment {name}: {status.get('availableReplicas', 0)}/{wanted} available",
    )


def ready_condition(parts: Sequence[Condition]) -> Condition:
    not_ready = [c for c in parts if c.status != "True"]
    if not not_ready:
        message = "InfluxDB and Grafana are available, gatling.conf is published"
        return Condition(READY, "True", REASON_AVAILABLE, message)
    # A part that waits for the user (a Secret not allowed, a crash loop) names Ready's reason before
    # one that is merely progressing: the Warning Event then comes at once, not after a rollout.
    first = next((c for c in not_ready if c.reason != REASON_PROGRESSING), not_ready[0])
    return Condition(READY, "False", first.reason, f"{first.type}: {first.message}")


def invalid_spec_conditions(message: str) -> list[Condition]:
    """Ready=False InvalidSpec; the component conditions say nothing was changed."""
    unchanged = "not reconciled while the spec is invalid; existing objects are left as they are"
    return [
        Condition(READY, "False", REASON_INVALID_SPEC, message),
        Condition(INFLUXDB_READY, "Unknown", REASON_INVALID_SPEC, unchanged),
        Condition(GRAFANA_READY, "Unknown", REASON_INVALID_SPEC, unchanged),
        Condition(CONFIG_PUBLISHED, "Unknown", REASON_INVALID_SPEC, unchanged),
    ]


def load_balancer_address(service: Mapping[str, Any] | None) -> str:
    """hostname (as the AWS controller reports NLBs) or ip of the first load-balancer ingress."""
    if service is None:
        return ""
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if not ingress:
        return ""
    first = ingress[0]
    return str(first.get("hostname") or first.get("ip") or "")


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> Obj:
    """The JSON merge patch turning `old` into `new`: keys no longer in `new` become null.

    Empty when nothing changed, so an unchanged world writes nothing; lists are sent whole.
    """
    patch: Obj = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            inner = status_patch(before, value)
            if inner:
                patch[key] = inner
        elif key not in old or before != value:
            patch[key] = value
    return patch


def addresses(
    ctx: RenderContext,
    grafana_service: Mapping[str, Any] | None,
    graphite_service: Mapping[str, Any] | None,
    load_balancer_state: Callable[[str], str] | None = None,
) -> Obj:
    """status.grafana / graphite / influxdb / gatlingConfig: where users and runners connect.

    `load_balancer_state` maps a load balancer's DNS name to its
    state (EKS only) or is None. Keys with nothing to say are left out, so they go from status.
    """
    names = ctx.names
    spec = ctx.spec
    internal_url = ctx.grafana_internal_url
    lb_host = load_balancer_address(grafana_service)
    if spec.grafana.service.type == "LoadBalancer":
        url = f"http://{lb_host}:{GRAFANA_PORT}" if lb_host else ""
    else:
        url = internal_url
    secret_name, user_key, password_key = admin_secret_location(ctx)
    host = graphite_host(ctx)
    graphite: Obj = {
        "host": host,
        "port": GRAPHITE_PORT,
        "protocol": spec.graphite.protocol,
        "address": f"{host}:{GRAPHITE_PORT}",
    }
    graphite_lb = load_balancer_address(graphite_service)
    if spec.graphite.exposure == "InternalLoadBalancer" and graphite_lb:
        graphite["externalAddress"] = f"{graphite_lb}:{GRAPHITE_PORT}"
    grafana: Obj = {
        "url": url,
        "internalUrl": internal_url,
        "service": names.grafana_service,
        "adminSecret": {"name": secret_name, "userKey": user_key, "passwordKey": password_key},
    }
    if lb_host and load_balancer_state is not None:
        grafana["loadBalancerState"] = load_balancer_state(lb_host)
    return {
        "grafana": grafana,
        "graphite": graphite,
        "influxdb": {
            "url": ctx.influxdb_url,
            "database": spec.influxdb.database,
        },
        "gatlingConfig": {
            "configMap": names.gatling_config,
            "key": GATLING_CONF_KEY,
            "javaSystemPropertiesKey": JAVA_PROPERTIES_KEY,
        },
    }
