"""Checks of one named monitor, pure functions of the objects facts.py read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_monitor.doctor.result import Check, Status, fail, ok, warn
from loadtest_monitor.identity import (
    FIELD_MANAGER,
    GRAFANA_PORT,
    GRAPHITE_PORT,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_MONITOR,
    LABEL_NAME,
    PLURAL,
    ChildNames,
)
from loadtest_monitor.obj import Obj

# What to do about a condition that is False, by its reason (controller/status.py and the README's Status).
REASON_FIXES = {
    "InvalidSpec": "correct the field the message names and apply the monitor again",
    "AdminSecretMissing": "create the Secret named in spec.grafana.adminSecretRef, with its user and password keys",
    "NameConflict": "delete or rename the object that holds the child's name (the operator never takes it over)",
    "ApplyFailed": "read the API server's message; the operator retries with back-off",
    "ImagePullBackOff": "correct spec.influxdb.image or spec.grafana.image, or the nodes' access to the registry",
    "ErrImagePull": "correct spec.influxdb.image or spec.grafana.image, or the nodes' access to the registry",
    "CrashLoopBackOff": "kubectl -n {ns} logs deploy/{name}-influxdb --previous (or deploy/{name}-grafana)",
    "ProgressDeadlineExceeded": "kubectl -n {ns} describe deploy/{name}-influxdb deploy/{name}-grafana",
    "RetentionFailed": "check spec.influxdb.retention; the bootstrap's message is in the InfluxDB pod (README)",
    "DatabaseFailed": "check spec.influxdb.database; the bootstrap's message is in the InfluxDB pod (README)",
    "UsersFailed": "check the Secret {name}-influxdb-auth; the bootstrap's message is in the InfluxDB pod (README)",
    "InfluxDBUnavailable": "kubectl -n {ns} logs deploy/{name}-influxdb -c bootstrap",
}
WAITING_REASONS = ("Progressing",)


def monitor_ref(monitor: Mapping[str, Any]) -> tuple[str, str]:
    meta = monitor.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def missing_monitor(namespace: str, name: str) -> Check:
    return fail(f"monitor {namespace}/{name}", "not found", f"kubectl get {PLURAL} -A lists the monitors")


def conditions(monitor: Mapping[str, Any]) -> list[Check]:
    """Ready, then one line for each other condition that is not True, with its message and fix."""
    ns, name = monitor_ref(monitor)
    title = f"monitor {ns}/{name}"
    status = monitor.get("status") or {}
    found = {str(c.get("type")): c for c in status.get("conditions") or []}
    if not found:
        return [fail(title, "no status yet: the operator has not reconciled it", "check the operator line above")]
    ready = found.get("Ready", {})
    current = status.get("observedGeneration") == (monitor.get("metadata") or {}).get("generation")
    if ready.get("status") == "True" and current:
        return [ok(title, "Ready")]
    failing = [
        _condition_check(title, c, ns, name)
        for t, c in sorted(found.items())
        if t != "Ready" and c.get("status") != "True"
    ]
    out = []
    if ready and failing and ready.get("status") != "True":
        # Ready's message repeats the failing condition's: one line says what, the next ones why.
        summary = f"Ready={ready.get('status')} ({ready.get('reason', '')})"
        out.append(
            fail(title, summary, "see the conditions below")
            if any(c.status is Status.FAIL for c in failing)
            else warn(title, summary, "see the conditions below")
        )
    elif ready:
        out.append(_condition_check(title, ready, ns, name))
    out += failing
    if ready.get("status") == "True" and not current:
        out.append(warn(title, "Ready, but the operator has not seen the latest spec yet", "wait a few seconds"))
    return out


def _condition_check(title: str, cond: Mapping[str, Any], ns: str, name: str) -> Check:
    reason = str(cond.get("reason", ""))
    detail = f"{cond.get('type')}={cond.get('status')} ({reason}): {cond.get('message', '')}".rstrip(": ")
    if cond.get("status") == "True":
        return ok(title, detail)
    fix = REASON_FIXES.get(reason, f"kubectl -n {ns} describe {PLURAL}/{name}").format(ns=ns, name=name)
    if reason in WAITING_REASONS:
        return warn(title, detail, "wait: it is rolling out")
    return fail(title, detail, fix)


def is_ours(obj: Mapping[str, Any], monitor_uid: str, monitor_name: str) -> bool:
    """The operator's child: our ownerReference, or (a PVC kept on delete) our labels for this monitor."""
    meta = obj.get("metadata") or {}
    if any(ref.get("uid") == monitor_uid for ref in meta.get("ownerReferences") or []):
        return True
    labels = meta.get("labels") or {}
    owned_elsewhere = bool(meta.get("ownerReferences"))
    return (
        not owned_elsewhere
        and labels.get(LABEL_MANAGED_BY) == FIELD_MANAGER
        and labels.get(LABEL_INSTANCE) == monitor_name
    )


def children(
    monitor: Mapping[str, Any], desired: Sequence[tuple[str, str]], live: Mapping[tuple[str, str], Obj | None]
) -> Check:
    """`desired`: (kind, name) of every child the spec asks for; `live`: what the cluster holds there
    (None: absent; a key left out: not readable, e.g. Secrets without RBAC)."""
    ns, name = monitor_ref(monitor)
    uid = str((monitor.get("metadata") or {}).get("uid", ""))
    title = f"children of {ns}/{name}"
    missing = [f"{k}/{n}" for k, n in desired if (k, n) in live and live[(k, n)] is None]
    foreign = [f"{k}/{n}" for k, n in desired if (obj := live.get((k, n))) is not None and not is_ours(obj, uid, name)]
    unread = [f"{k}/{n}" for k, n in desired if (k, n) not in live]
    if foreign:
        return fail(
            title,
            f"not made by the operator: {', '.join(foreign)}",
            "delete or rename these objects; the operator never takes over an object it did not create",
        )
    if missing:
        return fail(
            title,
            f"missing: {', '.join(missing)}",
            f"see the monitor's conditions; kubectl -n {ns} describe {PLURAL}/{name}",
        )
    detail = f"all {len(desired) - len(unread)} present and the operator's"
    if unread:
        return warn(title, f"{detail}; could not read {', '.join(unread)}", "needs get permission on them")
    return ok(title, detail)


def volume(pvc: Mapping[str, Any] | None) -> Check | None:
    """The InfluxDB volume's claim, when the monitor has one: Bound, or why not."""
    if pvc is None:
        return None
    meta = pvc.get("metadata") or {}
    phase = (pvc.get("status") or {}).get("phase", "Pending")
    title = f"volume {meta.get('namespace')}/{meta.get('name')}"
    if phase == "Bound":
        return ok(title, "Bound")
    return fail(
        title,
        f"{phase} (class {(pvc.get('spec') or {}).get('storageClassName') or 'default'})",
        f"kubectl -n {meta.get('namespace')} describe pvc {meta.get('name')} (StorageClass, EBS CSI driver)",
    )


def graphite_endpoints(monitor: str, namespace: str, slices: Sequence[Mapping[str, Any]], address: str) -> Check:
    """Graphite is reachable when its Service has a ready endpoint serving the Graphite port (read
    from the EndpointSlices: doctor opens no connection into the cluster)."""
    title = "Graphite reachable"
    service = f"{monitor}-graphite"
    ready = 0
    for eps in slices:
        if GRAPHITE_PORT not in {p.get("port") for p in eps.get("ports") or []}:
            continue
        for endpoint in eps.get("endpoints") or []:
            # The API says a missing `ready` means ready.
            if (endpoint.get("conditions") or {}).get("ready", True) is not False:
                ready += len(endpoint.get("addresses") or [])
    if ready:
        return ok(title, f"{address or service} has {ready} ready endpoint(s)")
    pods = f"{LABEL_MONITOR}={monitor},{LABEL_NAME}=influxdb"
    return fail(
        title,
        f"Service {namespace}/{service} has no ready endpoint: Gatling's metrics would be lost",
        f"the InfluxDB pod is not Ready: kubectl -n {namespace} describe pod -l {pods}",
    )


def grafana_address(monitor: Mapping[str, Any], service_type: str) -> Check:
    ns, name = monitor_ref(monitor)
    grafana = (monitor.get("status") or {}).get("grafana") or {}
    title = "Grafana address"
    if grafana.get("url"):
        return ok(title, str(grafana["url"]))
    if service_type == "LoadBalancer":
        return warn(
            title,
            "the load balancer has no address yet",
            f"kubectl -n {ns} describe svc {ChildNames(name, ns).grafana_service}"
            " (the load balancer controller's events say why)",
        )
    return ok(title, f"{service_type} Service: {_port_forward(ns, name)}")


def _port_forward(ns: str, name: str) -> str:
    return f"kubectl -n {ns} port-forward svc/{ChildNames(name, ns).grafana_service} {GRAFANA_PORT}"


def metrics_arriving(monitor: Mapping[str, Any]) -> Check:
    """The monitor's status has no field for received points, and doctor opens no connection into
    the cluster (nor through the API server's proxy): it cannot tell, and says so."""
    ns, name = monitor_ref(monitor)
    return warn(
        "metrics arriving",
        "cannot tell from outside (the monitor's status does not count received points)",
        f"during a run, watch the Gatling dashboard: {_port_forward(ns, name)}",
    )
