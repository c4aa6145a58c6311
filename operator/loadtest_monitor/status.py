"""Status of a LoadtestMonitor, computed from what the cluster reports (pure functions).

Conditions follow the Kubernetes API conventions: a condition's lastTransitionTime only moves
when its status changes, so an unchanged world produces an identical status and no write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

READY = "Ready"
INFLUXDB_READY = "InfluxDBReady"
GRAFANA_READY = "GrafanaReady"
CONFIG_PUBLISHED = "ConfigPublished"
CONDITION_TYPES = (READY, INFLUXDB_READY, GRAFANA_READY, CONFIG_PUBLISHED)

REASON_INVALID_SPEC = "InvalidSpec"
REASON_APPLY_FAILED = "ApplyFailed"
REASON_AVAILABLE = "Available"
REASON_PROGRESSING = "Progressing"
REASON_PUBLISHED = "Published"
REASON_ADMIN_SECRET_MISSING = "AdminSecretMissing"

Obj = dict[str, Any]


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


def deployment_condition(cond_type: str, deployment: Mapping[str, Any] | None) -> Condition:
    """True once the Deployment's current generation is rolled out and Available."""
    if deployment is None:
        return Condition(cond_type, "False", REASON_PROGRESSING, "Deployment does not exist yet")
    name = deployment.get("metadata", {}).get("name", "")
    status = deployment.get("status") or {}
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
    return Condition(
        cond_type,
        "False",
        REASON_PROGRESSING,
        f"Deployment {name}: {status.get('availableReplicas', 0)}/{wanted} available, "
        f"{status.get('updatedReplicas', 0)}/{wanted} updated",
    )


def ready_condition(parts: Sequence[Condition]) -> Condition:
    not_ready = [c for c in parts if c.status != "True"]
    if not not_ready:
        message = "InfluxDB and Grafana are available, gatling.conf is published"
        return Condition(READY, "True", REASON_AVAILABLE, message)
    first = not_ready[0]
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
