"""Reconcile core on the real API server: removals reach the children, foreign objects are never
taken, a failure is never a deletion, status is written whole, reads come from label-selected
watches (the audit log shows it).

The operator runs as its own process with a 5 s resync; every check reads the cluster through
pykube, kubectl or the audit log.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pykube
import pytest
import yaml

from tests.integration.operator_support import (
    WRITE_VERBS,
    Operator,
    apply_monitor,
    children,
    condition,
    deployment,
    get_monitor,
    minimal,
    operator_requests,
    operator_writes,
    running_operator,
    wait_for,
    wait_ready,
    warnings_with_reason,
)

RESYNC = 5
CHILD_KINDS = {"configmaps", "services", "deployments", "persistentvolumeclaims", "networkpolicies", "pods"}


@pytest.fixture(scope="module")
def operator(cluster: Any, crd: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(cluster, tmp_path_factory.mktemp("operator"), resync_seconds=RESYNC) as op:
        yield op


def _container(dep: dict[str, Any]) -> dict[str, Any]:
    return dict(dep["spec"]["template"]["spec"]["containers"][0])


def _pod_spec(dep: dict[str, Any]) -> dict[str, Any]:
    return dict(dep["spec"]["template"]["spec"])


def _svc(api: pykube.HTTPClient, ns: str, name: str) -> dict[str, Any] | None:
    found = pykube.Service.objects(api, namespace=ns).get_or_none(name=name)
    return dict(found.obj) if found else None


def _netpol(api: pykube.HTTPClient, ns: str) -> dict[str, Any] | None:
    kind = pykube.object_factory(api, "networking.k8s.io/v1", "NetworkPolicy")
    found = kind.objects(api, namespace=ns).get_or_none(name="checkout-influxdb")
    return dict(found.obj) if found else None


def _env_names(api: pykube.HTTPClient, ns: str) -> set[str]:
    return {e["name"] for e in _container(deployment(api, ns, "checkout-grafana")).get("env", [])}


def _pvc_present(api: pykube.HTTPClient, ns: str) -> bool:
    pvc = pykube.PersistentVolumeClaim.objects(api, namespace=ns).get_or_none(name="checkout-influxdb-data")
    return pvc is not None and not pvc.obj["metadata"].get("deletionTimestamp")


# (spec with the setting, what shows it on the live children)
REMOVABLE: dict[str, tuple[dict[str, Any], Callable[[pykube.HTTPClient, str], bool]]] = {
    "anonymousViewing": (
        {"grafana": {"anonymousViewing": True}},
        lambda api, ns: "GF_AUTH_ANONYMOUS_ENABLED" in _env_names(api, ns),
    ),
    "tolerations": (
        {
            "placement": {
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "perf", "effect": "NoSchedule"}]
            }
        },
        lambda api, ns: all(
            _pod_spec(deployment(api, ns, d)).get("tolerations") for d in ("checkout-influxdb", "checkout-grafana")
        ),
    ),
    "nodeSelector": (
        {"placement": {"nodeSelector": {"type": "kwok"}}},
        lambda api, ns: bool(_pod_spec(deployment(api, ns, "checkout-grafana")).get("nodeSelector")),
    ),
    "loadBalancerSourceRanges": (
        {"grafana": {"service": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"]}}},
        lambda api, ns: bool((_svc(api, ns, "checkout-grafana") or {}).get("spec", {}).get("loadBalancerSourceRanges")),
    ),
    "serviceAnnotations": (
        {"grafana": {"service": {"annotations": {"example.com/team": "perf"}}}},
        lambda api, ns: (
            "example.com/team" in ((_svc(api, ns, "checkout-grafana") or {})["metadata"].get("annotations") or {})
        ),
    ),
    "resources": (
        {
            "influxdb": {
                "resources": {"limits": {"cpu": "3", "memory": "3Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}
            }
        },
        lambda api, ns: (
            _container(deployment(api, ns, "checkout-influxdb")).get("resources", {}).get("limits", {}).get("cpu")
            == "3"
        ),
    ),
    "allowedNamespacesAndSourceRanges": (
        {"graphite": {"allowedNamespaces": ["runners"], "allowedSourceRanges": ["10.1.0.0/16"]}},
        lambda api, ns: "runners" in str(_netpol(api, ns)) and "10.1.0.0/16" in str(_netpol(api, ns)),
    ),
    "internalLoadBalancer": (
        {"graphite": {"exposure": "InternalLoadBalancer", "allowedSourceRanges": ["10.2.0.0/16"]}},
        lambda api, ns: bool(
            (_svc(api, ns, "checkout-graphite") or {})["metadata"]
            .get("annotations", {})
            .get("service.beta.kubernetes.io/aws-load-balancer-scheme")
        ),
    ),
    "storage": (
        {"influxdb": {"storage": {"enabled": True, "size": "1Gi"}}},
        lambda api, ns: (
            _pvc_present(api, ns)
            and any(
                "persistentVolumeClaim" in v for v in _pod_spec(deployment(api, ns, "checkout-influxdb"))["volumes"]
            )
        ),
    ),
    "networkPolicy": (
        {"graphite": {"networkPolicy": True}},
        lambda api, ns: _netpol(api, ns) is not None,
    ),
}


@pytest.mark.parametrize("setting", sorted(REMOVABLE))
def test_a_removed_setting_is_gone_from_the_live_children(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str, setting: str
) -> None:
    spec, shows = REMOVABLE[setting]
    assert apply_monitor(cluster, namespace, minimal(**spec)).returncode == 0
    wait_for(lambda: shows(kube_api, namespace), 60, f"{setting} on the children")
    without = {"graphite": {"networkPolicy": False}} if setting == "networkPolicy" else {}
    manifest = minimal(**without) if without else minimal()
    assert apply_monitor(cluster, namespace, manifest).returncode == 0
    wait_for(lambda: not shows(kube_api, namespace), 60, f"{setting} to be removed from the children")


def test_normalised_quantities_and_fields_of_other_managers_cause_no_writes(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    spec = {
        "influxdb": {
            "resources": {
                "limits": {"cpu": "1000m", "memory": "1024Mi"},
                "requests": {"cpu": "500m", "memory": "512Mi"},
            },
            "storage": {"enabled": True, "size": "10240Mi"},
        }
    }
    assert apply_monitor(cluster, namespace, minimal(**spec)).returncode == 0
    wait_ready(kube_api, namespace, "checkout")
    limits = _container(deployment(kube_api, namespace, "checkout-influxdb"))["resources"]["limits"]
    assert limits == {"cpu": "1", "memory": "1Gi"}  # the API server's canonical form
    # Another manager adds what it wants to our Service (as an admission webhook or a controller would).
    patched = cluster.kubectl(
        "patch",
        "service",
        "checkout-grafana",
        "-n",
        namespace,
        "--field-manager=someone-else",
        "--type=merge",
        "-p",
        '{"metadata":{"annotations":{"example.com/owner":"them"}},"spec":{"sessionAffinity":"ClientIP"}}',
    )
    assert patched.returncode == 0, patched.stderr
    time.sleep(2)
    mark = cluster.audit_mark()
    time.sleep(3 * RESYNC + 2)
    assert operator_writes(cluster, mark, namespace) == []
    svc = _svc(kube_api, namespace, "checkout-grafana") or {}
    assert svc["metadata"]["annotations"]["example.com/owner"] == "them"
    assert svc["spec"]["sessionAffinity"] == "ClientIP"


FOREIGN: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # kind: (name, object body, monitor spec that wants that child)
    "ConfigMap": ("checkout-gatling", {"apiVersion": "v1", "kind": "ConfigMap", "data": {"theirs": "yes"}}, {}),
    "Secret": ("checkout-grafana-admin", {"apiVersion": "v1", "kind": "Secret", "stringData": {"theirs": "yes"}}, {}),
    "Service": (
        "checkout-graphite",
        {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}], "selector": {"app": "theirs"}}},
        {},
    ),
    "Deployment": (
        "checkout-grafana",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "theirs"}},
                "template": {
                    "metadata": {"labels": {"app": "theirs"}},
                    "spec": {"containers": [{"name": "x", "image": "theirs:1"}]},
                },
            },
        },
        {},
    ),
    "PersistentVolumeClaim": (
        "checkout-influxdb-data",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
        {"influxdb": {"storage": {"enabled": True, "size": "1Gi"}}},
    ),
    "NetworkPolicy": (
        "checkout-influxdb",
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "spec": {"podSelector": {}}},
        {},
    ),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_foreign_object_with_a_child_name_is_never_touched(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str, kind: str
) -> None:
    name, body, spec = FOREIGN[kind]
    foreign = {**body, "metadata": {"name": name, "namespace": namespace, "labels": {"team": "other"}}}
    created = cluster.kubectl("create", "-f", "-", "-o", "yaml", input=yaml.safe_dump(foreign))
    assert created.returncode == 0, created.stderr
    before = yaml.safe_load(created.stdout)
    mark = cluster.audit_mark()
    assert apply_monitor(cluster, namespace, minimal(**spec)).returncode == 0

    def conflict() -> dict[str, Any] | None:
        ready = condition(get_monitor(kube_api, namespace, "checkout"), "Ready")
        return ready if ready.get("reason") == "NameConflict" else None

    ready = wait_for(conflict, 60, "Ready=False NameConflict")
    assert ready["status"] == "False"
    assert f"{kind} {name}" in ready["message"] and "delete or rename it" in ready["message"]
    time.sleep(3 * RESYNC)  # several passes: still one Event, still untouched
    now = cluster.kubectl("get", kind.lower(), name, "-n", namespace, "-o", "yaml")
    after = yaml.safe_load(now.stdout)
    # Its controllers may update it (status, binding); the operator never writes to it.
    plural = {"NetworkPolicy": "networkpolicies", "PersistentVolumeClaim": "persistentvolumeclaims"}.get(
        kind, kind.lower() + "s"
    )
    target = {"resource": plural, "namespace": namespace, "name": name}
    sent = [
        (e["verb"], e.get("responseStatus", {}).get("code"))
        for e in operator_requests(cluster, mark)
        if e["verb"] in WRITE_VERBS and {k: e.get("objectRef", {}).get(k) for k in target} == target
    ]
    # One create-only apply, refused by the API server (409: the name is taken, nothing changed);
    # later passes read the name and send nothing. Secrets are read by name first: not even that.
    assert sent == ([] if kind == "Secret" else [("patch", 409)]), sent
    assert "loadtest-monitor" not in {m.get("manager") for m in after["metadata"].get("managedFields") or []}
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"].get("labels") == {"team": "other"}
    assert not after["metadata"].get("ownerReferences")
    assert len(warnings_with_reason(cluster, namespace, "NameConflict")) == 1

    assert cluster.kubectl("delete", kind.lower(), name, "-n", namespace, "--wait=true").returncode == 0
    gone = time.monotonic()
    mon = wait_ready(kube_api, namespace, "checkout", timeout=RESYNC + 60)
    assert time.monotonic() - gone < RESYNC + 60
    assert condition(mon, "Ready")["status"] == "True"
    assert f"{kind}/{name}" in children(kube_api, namespace, "checkout")


def test_a_deployment_of_ours_with_another_selector_is_recreated(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    """Selectors are immutable: ours (our ownerReference) is replaced, never left stale."""
    # The monitor exists first with a spec only the operator refuses (nothing is created), so the
    # old Deployment can carry its ownerReference: labels alone would not make it ours.
    invalid = minimal(graphite={"allowedSourceRanges": ["10.1.2.3/8"]})
    assert apply_monitor(cluster, namespace, invalid).returncode == 0

    def refused() -> dict[str, Any] | None:
        mon = get_monitor(kube_api, namespace, "checkout")
        return mon if condition(mon, "Ready").get("reason") == "InvalidSpec" else None

    mon = wait_for(refused, 60, "Ready=False InvalidSpec")
    owner = {
        "apiVersion": "loadtest.dev/v1alpha1",
        "kind": "LoadtestMonitor",
        "name": "checkout",
        "uid": mon["metadata"]["uid"],
        "controller": True,
    }
    labels = {"app.kubernetes.io/managed-by": "loadtest-monitor", "app.kubernetes.io/instance": "checkout"}
    old = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "checkout-influxdb",
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"old": "selector"}},
            "template": {
                "metadata": {"labels": {"old": "selector"}},
                "spec": {"containers": [{"name": "x", "image": "x"}]},
            },
        },
    }
    created = cluster.kubectl("create", "-f", "-", "-o", "jsonpath={.metadata.uid}", input=yaml.safe_dump(old))
    assert created.returncode == 0, created.stderr
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(kube_api, namespace, "checkout")
    dep = deployment(kube_api, namespace, "checkout-influxdb")
    assert dep["metadata"]["uid"] != created.stdout
    assert dep["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "influxdb"


def test_a_network_policy_the_api_server_refuses_stays_and_is_named(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(kube_api, namespace, "checkout")
    uid = (_netpol(kube_api, namespace) or {})["metadata"]["uid"]
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": f"freeze-{namespace}"},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["networking.k8s.io"],
                        "apiVersions": ["*"],
                        "operations": ["UPDATE"],
                        "resources": ["networkpolicies"],
                    }
                ]
            },
            "validations": [{"expression": "false", "message": "network policies are frozen here"}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": f"freeze-{namespace}"},
        "spec": {
            "policyName": f"freeze-{namespace}",
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}},
        },
    }

    assert cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([policy, binding])).returncode == 0
    try:
        time.sleep(2)  # the policy reaches the admission chain
        changed = minimal(graphite={"allowedNamespaces": ["runners"]})
        assert apply_monitor(cluster, namespace, changed).returncode == 0

        def failed() -> dict[str, Any] | None:
            ready = condition(get_monitor(kube_api, namespace, "checkout"), "Ready")
            return ready if ready.get("reason") == "ApplyFailed" else None

        ready = wait_for(failed, 60, "Ready=False ApplyFailed")
        assert "NetworkPolicy checkout-influxdb" in ready["message"] and "frozen" in ready["message"]
        time.sleep(2 * RESYNC)
        still = _netpol(kube_api, namespace)
        assert still is not None and still["metadata"]["uid"] == uid, "the refused NetworkPolicy was deleted"
    finally:
        cluster.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", f"freeze-{namespace}")
    wait_for(lambda: "runners" in str(_netpol(kube_api, namespace)), 60, "the NetworkPolicy update once allowed")
    wait_ready(kube_api, namespace, "checkout")


def test_growing_storage_on_a_class_that_cannot_expand_keeps_the_pvc(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    storage = {"enabled": True, "size": "1Gi"}
    assert apply_monitor(cluster, namespace, minimal(influxdb={"storage": storage})).returncode == 0
    pvcs = pykube.PersistentVolumeClaim.objects(kube_api, namespace=namespace)
    pvc = wait_for(lambda: pvcs.get_or_none(name="checkout-influxdb-data"), 60, "the PVC")
    uid = pvc.obj["metadata"]["uid"]
    grown = minimal(influxdb={"storage": {"enabled": True, "size": "2Gi"}})
    assert apply_monitor(cluster, namespace, grown).returncode == 0

    def failed() -> dict[str, Any] | None:
        ready = condition(get_monitor(kube_api, namespace, "checkout"), "Ready")
        return ready if ready.get("reason") == "ApplyFailed" else None

    ready = wait_for(failed, 60, "Ready=False ApplyFailed")
    assert "PersistentVolumeClaim checkout-influxdb-data" in ready["message"]
    time.sleep(2 * RESYNC)
    kept = pvcs.get_or_none(name="checkout-influxdb-data")
    assert kept is not None and kept.obj["metadata"]["uid"] == uid
    assert not kept.obj["metadata"].get("deletionTimestamp"), "the PVC (and its data) is being deleted"


def test_keep_on_delete_switched_on_releases_the_pvc(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    assert (
        apply_monitor(cluster, namespace, minimal(influxdb={"storage": {"enabled": True, "size": "1Gi"}})).returncode
        == 0
    )
    pvcs = pykube.PersistentVolumeClaim.objects(kube_api, namespace=namespace)
    wait_for(
        lambda: (p := pvcs.get_or_none(name="checkout-influxdb-data")) and p.obj["metadata"].get("ownerReferences"),
        60,
        "owned PVC",
    )
    kept = minimal(influxdb={"storage": {"enabled": True, "size": "1Gi", "keepOnDelete": True}})
    assert apply_monitor(cluster, namespace, kept).returncode == 0
    wait_for(
        lambda: not pvcs.get(name="checkout-influxdb-data").obj["metadata"].get("ownerReferences"),
        60,
        "the ownerReference to go",
    )
    assert cluster.kubectl("delete", "ltm", "checkout", "-n", namespace).returncode == 0
    wait_for(
        lambda: not any(True for _ in pykube.Deployment.objects(kube_api, namespace=namespace)),
        90,
        "GC of the Deployments",
    )
    pvc = pvcs.get_or_none(name="checkout-influxdb-data")
    assert pvc is not None and not pvc.obj["metadata"].get("deletionTimestamp")


def test_status_keys_that_no_longer_apply_are_removed(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    internal = {"exposure": "InternalLoadBalancer", "allowedSourceRanges": ["10.2.0.0/16"]}
    assert apply_monitor(cluster, namespace, minimal(graphite=internal)).returncode == 0
    wait_for(lambda: _svc(kube_api, namespace, "checkout-graphite"), 60, "the Graphite Service")
    svc = pykube.Service.objects(kube_api, namespace=namespace).get(name="checkout-graphite")
    svc.patch({"status": {"loadBalancer": {"ingress": [{"hostname": "internal-nlb.example"}]}}}, subresource="status")
    wait_for(
        lambda: get_monitor(kube_api, namespace, "checkout")["status"]["graphite"].get("externalAddress"),
        60,
        "status.graphite.externalAddress",
    )
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_for(
        lambda: "externalAddress" not in get_monitor(kube_api, namespace, "checkout")["status"]["graphite"],
        60,
        "status.graphite.externalAddress to go",
    )
    wait_ready(kube_api, namespace, "checkout")
    time.sleep(2)
    mark = cluster.audit_mark()
    time.sleep(2 * RESYNC + 1)
    assert [w for w in operator_writes(cluster, mark, namespace) if w[1] == "loadtestmonitors"] == []


def test_reads_come_from_label_selected_watches_and_secrets_by_name(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(kube_api, namespace, "checkout")
    # The operator's watches are cluster-wide; requests in other tests' namespaces may be a CLI's
    # run with the same identity (archive restore, down), not the operator's.
    requests = [
        e for e in operator_requests(cluster, 0) if e.get("objectRef", {}).get("namespace") in (None, namespace)
    ]
    for event in requests:
        resource = event.get("objectRef", {}).get("resource")
        if event["verb"] in ("list", "watch") and resource in CHILD_KINDS:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(event["requestURI"]).query)
            assert query.get("labelSelector") == ["app.kubernetes.io/managed-by=loadtest-monitor"], event["requestURI"]
        if resource == "secrets":
            assert event["verb"] not in ("list", "watch"), event["requestURI"]
    time.sleep(2)
    mark = cluster.audit_mark()
    minutes = (4 * RESYNC + 1) / 60
    time.sleep(4 * RESYNC + 1)
    reads = [
        e
        for e in operator_requests(cluster, mark)
        if e["verb"] in ("get", "list") and e.get("objectRef", {}).get("namespace") == namespace
    ]
    # At most two GETs per resync: the generated Secrets (admin, InfluxDB credentials), read by name.
    generated = {"checkout-grafana-admin", "checkout-influxdb-auth"}
    assert all(
        e["objectRef"]["resource"] == "secrets" and e["verb"] == "get" and e["objectRef"]["name"] in generated
        for e in reads
    ), reads
    assert len(reads) <= len(generated) * (4 + 1)
    assert len(reads) / minutes <= len(generated) * (60 / RESYNC + 12)


def test_a_crash_looping_pod_makes_the_monitor_degraded(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(kube_api, namespace, "checkout")
    pod = next(
        iter(pykube.Pod.objects(kube_api, namespace=namespace).filter(selector={"app.kubernetes.io/name": "grafana"}))
    )
    statuses = pod.obj["status"]["containerStatuses"]
    statuses[0]["state"] = {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}
    }
    statuses[0]["ready"] = False
    pod.patch({"status": {"containerStatuses": statuses}}, subresource="status")

    def degraded() -> dict[str, Any] | None:
        ready = condition(get_monitor(kube_api, namespace, "checkout"), "Ready")
        return ready if ready.get("reason") == "CrashLoopBackOff" else None

    ready = wait_for(degraded, 30, "Ready=False CrashLoopBackOff")
    assert ready["status"] == "False" and "grafana" in ready["message"]
