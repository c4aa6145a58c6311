"""The operator's whole lifecycle against the real control plane.

The operator runs as its own process (`loadtest-monitor run`), exactly as a user starts it; every
assertion reads the cluster through pykube or kubectl, never through the operator's own code.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from typing import Any

import pykube
import pytest
import yaml

from tests.integration.operator_support import (
    EXAMPLE,
    WRITE_VERBS,
    Operator,
    apply_monitor,
    children,
    condition,
    config_map_data,
    default_children,
    deployment,
    get_monitor,
    minimal,
    operator_requests,
    replica_sets,
    running_operator,
    wait_for,
    wait_ready,
)


@pytest.fixture(scope="module")
def operator(cluster: Any, crd: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(cluster, tmp_path_factory.mktemp("operator")) as op:
        yield op


@pytest.fixture
def api(kube_api: pykube.HTTPClient) -> pykube.HTTPClient:
    return kube_api


# --- tests ----------------------------------------------------------------------------------------


def test_example_monitor_becomes_ready_with_every_child(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    result = cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    waited = cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "--timeout=120s", "loadtestmonitor/checkout"
    )
    assert waited.returncode == 0, waited.stderr + operator.log_tail()
    mon = wait_ready(api, namespace, "checkout")
    uid = mon["metadata"]["uid"]

    objs = children(api, namespace, "checkout")
    assert set(objs) == default_children("checkout")
    for key, obj in objs.items():
        refs = obj["metadata"].get("ownerReferences") or []
        assert [(r["kind"], r["name"], r["uid"], r.get("controller")) for r in refs] == [
            ("LoadtestMonitor", "checkout", uid, True)
        ], key
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "loadtest-monitor"

    graphite_dns = f"checkout-graphite.{namespace}.svc.cluster.local"
    conf = objs["ConfigMap/checkout-gatling"]["data"]["gatling.conf"]
    assert f'"host" = "{graphite_dns}"' in conf
    for dep in ("checkout-influxdb", "checkout-grafana"):
        conds = {c["type"]: c["status"] for c in objs[f"Deployment/{dep}"]["status"].get("conditions", [])}
        assert conds.get("Available") == "True", dep

    password = base64.b64decode(objs["Secret/checkout-grafana-admin"]["data"]["admin-password"]).decode()
    assert len(password) >= 24
    status = mon["status"]
    assert status["graphite"]["address"] == f"{graphite_dns}:2003"
    assert status["gatlingConfig"]["configMap"] == "checkout-gatling"
    assert status["grafana"]["adminSecret"]["name"] == "checkout-grafana-admin"
    assert password not in yaml.safe_dump(status)
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "yaml").stdout
    assert password not in events
    log = operator.log_path.read_text(errors="replace")
    assert password not in log
    # Issue 17: kopf's line per child watch event is DEBUG (this operator runs --verbose, so it is
    # printed); INFO carries the reconciles that changed something, the monitor turning Ready among them.
    per_event = [line for line in log.splitlines() if "Handler '_child_event' succeeded." in line]
    assert per_event and [line for line in per_event if "[DEBUG" not in line] == [], per_event[:3]
    assert re.search(rf"\[INFO +\] reconciled {namespace}/checkout: .*status written \(Ready=True\)", log), log[-3000:]
    for cond_type in ("Ready", "InfluxDBReady", "GrafanaReady", "ConfigPublished"):
        cond = condition(mon, cond_type)
        assert cond["status"] == "True", cond_type
        assert cond["observedGeneration"] == mon["metadata"]["generation"]
        assert cond["lastTransitionTime"] and cond["reason"] and cond["message"]

    table = cluster.kubectl("get", "ltm", "-n", namespace).stdout
    header, row = table.strip().splitlines()[:2]
    assert header.split() == ["NAME", "READY", "GRAFANA", "GRAPHITE", "AGE"]
    assert row.split()[:2] == ["checkout", "True"]
    assert f"{graphite_dns}:2003" in row


def test_load_balancer_hostname_becomes_the_grafana_url(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(api, namespace, "checkout")
    hostname = "k8s-perf-checkout-0123456789.elb.eu-west-1.amazonaws.com"
    svc = pykube.Service.objects(api, namespace=namespace).get(name="checkout-grafana")
    # What the AWS Load Balancer Controller writes once the NLB exists.
    svc.patch({"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}, subresource="status")
    url = wait_for(
        lambda: get_monitor(api, namespace, "checkout")["status"]["grafana"].get("url"), 30, "status.grafana.url"
    )
    assert url == f"http://{hostname}:3000"
    row = cluster.kubectl("get", "ltm", "checkout", "-n", namespace, "--no-headers").stdout
    assert f"http://{hostname}:3000" in row


def test_pods_pass_restricted_pod_security_admission(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    labelled = cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    assert labelled.returncode == 0, labelled.stderr
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(api, namespace, "checkout")
    pods = list(pykube.Pod.objects(api, namespace=namespace))
    assert sorted(p.labels["app.kubernetes.io/name"] for p in pods) == ["grafana", "influxdb"]


def test_spec_changes_update_children_and_roll_pods(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(api, namespace, "checkout")
    influx_rs_before = replica_sets(api, namespace, "influxdb")
    grafana_rs_before = replica_sets(api, namespace, "grafana")

    changed = minimal(influxdb={"image": "influxdb:1.8.10"}, gatling={"writePeriod": 5})
    assert apply_monitor(cluster, namespace, changed).returncode == 0
    mon = wait_ready(api, namespace, "checkout")
    assert mon["metadata"]["generation"] == 2
    assert mon["status"]["observedGeneration"] == 2
    assert condition(mon, "Ready")["observedGeneration"] == 2

    influx = deployment(api, namespace, "checkout-influxdb")
    assert influx["spec"]["template"]["spec"]["containers"][0]["image"] == "influxdb:1.8.10"
    assert "\"writePeriod\" = 5" in config_map_data(api, namespace, "checkout-gatling")["gatling.conf"]
    assert replica_sets(api, namespace, "influxdb") - influx_rs_before, "InfluxDB pods did not roll"
    # Grafana's inputs did not change: its pods must not roll.
    assert replica_sets(api, namespace, "grafana") == grafana_rs_before


def test_storage_can_be_added_removed_and_kept_on_delete(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    uid = wait_ready(api, namespace, "checkout")["metadata"]["uid"]
    pvcs = pykube.PersistentVolumeClaim.objects(api, namespace=namespace)

    storage = {"enabled": True, "size": "5Gi"}
    assert apply_monitor(cluster, namespace, minimal(influxdb={"storage": storage})).returncode == 0
    pvc = wait_for(lambda: pvcs.get_or_none(name="checkout-influxdb-data"), 30, "the PVC")
    assert pvc.obj["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert [r["uid"] for r in pvc.obj["metadata"]["ownerReferences"]] == [uid]

    def uses_claim() -> bool:
        volumes = deployment(api, namespace, "checkout-influxdb")["spec"]["template"]["spec"]["volumes"]
        return {"name": "data", "persistentVolumeClaim": {"claimName": "checkout-influxdb-data"}} in volumes

    wait_for(uses_claim, 30, "InfluxDB to mount the PVC")

    shrink = minimal(influxdb={"storage": {"enabled": True, "size": "1Gi"}})
    rejected = apply_monitor(cluster, namespace, shrink)
    assert rejected.returncode != 0
    assert "influxdb.storage.size can only grow" in rejected.stderr

    def pvc_going(name: str) -> bool:
        # The pvc-protection finalizer keeps a claim while a pod uses it: deletion requested is the check.
        pvc = pvcs.get_or_none(name=name)
        return pvc is None or bool(pvc.obj["metadata"].get("deletionTimestamp"))

    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_for(lambda: pvc_going("checkout-influxdb-data"), 30, "the owned PVC to be removed")

    kept = {"enabled": True, "size": "5Gi", "keepOnDelete": True}
    assert apply_monitor(cluster, namespace, minimal("kept", influxdb={"storage": kept})).returncode == 0
    pvc = wait_for(lambda: pvcs.get_or_none(name="kept-influxdb-data"), 30, "the kept PVC")
    assert not pvc.obj["metadata"].get("ownerReferences")

    assert cluster.kubectl("delete", "ltm", "kept", "-n", namespace, "--timeout=60s").returncode == 0
    wait_for(
        lambda: not any(o.name.startswith("kept-") for o in pykube.Deployment.objects(api, namespace=namespace)),
        90,
        "the Deployments to be garbage-collected",
    )
    kept_pvc = pvcs.get_or_none(name="kept-influxdb-data")
    assert kept_pvc is not None and not kept_pvc.obj["metadata"].get("deletionTimestamp"), "keepOnDelete PVC deleted"


def test_drift_is_restored(cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str) -> None:
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(api, namespace, "checkout")
    services = pykube.Service.objects(api, namespace=namespace)
    old_uid = services.get(name="checkout-graphite").obj["metadata"]["uid"]
    original = config_map_data(api, namespace, "checkout-gatling")

    services.get(name="checkout-graphite").delete()
    cm = pykube.ConfigMap.objects(api, namespace=namespace).get(name="checkout-gatling")
    cm.obj["data"]["gatling.conf"] = "gatling.data.graphite.host = wrong\n"
    cm.update()
    started = time.monotonic()

    restored = wait_for(
        lambda: (svc := services.get_or_none(name="checkout-graphite")) and svc.obj["metadata"]["uid"] != old_uid,
        60,
        "the deleted Service to come back",
    )
    assert restored
    wait_for(lambda: config_map_data(api, namespace, "checkout-gatling") == original, 60, "the ConfigMap content")
    assert time.monotonic() - started < 60

    # Secrets are not watched (that would mean every Secret of the cluster): the resync restores
    # a deleted admin Secret, with a new password, and Grafana rolls to pick it up.
    secrets = pykube.Secret.objects(api, namespace=namespace)
    old_password = secrets.get(name="checkout-grafana-admin").obj["data"]["admin-password"]
    grafana_rs = replica_sets(api, namespace, "grafana")
    secrets.get(name="checkout-grafana-admin").delete()
    new_secret = wait_for(lambda: secrets.get_or_none(name="checkout-grafana-admin"), 60, "the admin Secret")
    assert new_secret.obj["data"]["admin-password"] != old_password
    wait_for(lambda: replica_sets(api, namespace, "grafana") - grafana_rs, 30, "Grafana to roll")

    # A label someone else adds is theirs: not fought over, not removed.
    cm = pykube.ConfigMap.objects(api, namespace=namespace).get(name="checkout-gatling")
    cm.obj["metadata"]["labels"]["team"] = "perf"
    cm.update()
    time.sleep(3)
    assert pykube.ConfigMap.objects(api, namespace=namespace).get(name="checkout-gatling").labels["team"] == "perf"


def test_delete_removes_every_child(cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str) -> None:
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(api, namespace, "checkout")
    assert children(api, namespace, "checkout")
    deleted = cluster.kubectl("delete", "ltm", "checkout", "-n", namespace, "--timeout=30s")
    assert deleted.returncode == 0, deleted.stderr  # no finalizer holds it
    wait_for(lambda: not children(api, namespace, "checkout"), 90, "every child to be garbage-collected")


def test_invalid_specs_are_rejected_early_and_change_nothing(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    rejected = apply_monitor(cluster, namespace, minimal(gatling={"writePeriod": 0}, graphite={"protocol": "http"}))
    assert rejected.returncode != 0
    assert "spec.gatling.writePeriod" in rejected.stderr
    assert "spec.graphite.protocol" in rejected.stderr

    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(api, namespace, "checkout")
    before = {k: v["metadata"]["resourceVersion"] for k, v in children(api, namespace, "checkout").items()}

    assert apply_monitor(cluster, namespace, minimal(influxdb={"image": "influxdb:2.7"})).returncode == 0

    def invalid() -> dict[str, Any] | None:
        mon = get_monitor(api, namespace, "checkout")
        ready = condition(mon, "Ready")
        return mon if ready.get("reason") == "InvalidSpec" and ready.get("observedGeneration") == 2 else None

    mon = wait_for(invalid, 30, "Ready=False InvalidSpec")
    ready = condition(mon, "Ready")
    assert ready["status"] == "False"
    assert "spec.influxdb.image" in ready["message"]
    assert "1.x" in ready["message"]
    events = cluster.kubectl("get", "events", "-n", namespace, "--field-selector", "reason=InvalidSpec", "-o", "yaml")
    assert "spec.influxdb.image" in events.stdout
    after = {k: v["metadata"]["resourceVersion"] for k, v in children(api, namespace, "checkout").items()}
    unchanged = {k for k in before if not k.startswith("Deployment/")}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    image = deployment(api, namespace, "checkout-influxdb")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "influxdb:1.13.2"

    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    assert wait_ready(api, namespace, "checkout")["status"]["observedGeneration"] == 3


def test_restart_creates_no_duplicates_and_writes_nothing(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(api, namespace, "checkout")
    before = children(api, namespace, "checkout")
    operator.stop()
    mark = cluster.audit_mark()
    operator.start()

    def reconciled_after_restart() -> bool:
        # The admin Secret is read by name: the one read of a reconcile, before anything is written.
        return any(
            e["verb"] == "get"
            and e.get("objectRef", {}).get("resource") == "secrets"
            and e.get("objectRef", {}).get("namespace") == namespace
            for e in operator_requests(cluster, mark)
        )

    wait_for(reconciled_after_restart, 60, "the restarted operator to reconcile the monitor")
    time.sleep(5)  # let any follow-up events settle
    writes = [
        (
            e["verb"],
            e.get("objectRef", {}).get("namespace"),
            e.get("objectRef", {}).get("resource"),
            e.get("objectRef", {}).get("name"),
            e.get("responseStatus", {}).get("code"),
        )
        for e in operator_requests(cluster, mark)
        if e["verb"] in WRITE_VERBS and e.get("objectRef", {}).get("namespace") == namespace
    ]
    assert writes == [], writes
    after = children(api, namespace, "checkout")
    assert sorted(after) == sorted(before)
    assert {k: v["metadata"]["uid"] for k, v in after.items()} == {k: v["metadata"]["uid"] for k, v in before.items()}


def test_same_name_in_two_namespaces_is_isolated(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    other = f"{namespace}-b"
    assert cluster.kubectl("create", "namespace", other).returncode == 0
    try:
        assert apply_monitor(cluster, namespace, minimal()).returncode == 0
        assert apply_monitor(cluster, other, minimal(gatling={"writePeriod": 3})).returncode == 0
        first = wait_ready(api, namespace, "checkout")
        second = wait_ready(api, other, "checkout")
        a, b = children(api, namespace, "checkout"), children(api, other, "checkout")
        assert sorted(a) == sorted(b)
        for key in a:
            assert a[key]["metadata"]["ownerReferences"][0]["uid"] == first["metadata"]["uid"]
            assert b[key]["metadata"]["ownerReferences"][0]["uid"] == second["metadata"]["uid"]
        assert f"checkout-graphite.{other}.svc" in b["ConfigMap/checkout-gatling"]["data"]["gatling.conf"]
        assert "\"writePeriod\" = 3" in b["ConfigMap/checkout-gatling"]["data"]["gatling.conf"]
        assert "\"writePeriod\" = 1" in a["ConfigMap/checkout-gatling"]["data"]["gatling.conf"]
        secret_a = a["Secret/checkout-grafana-admin"]["data"]["admin-password"]
        assert secret_a != b["Secret/checkout-grafana-admin"]["data"]["admin-password"]

        assert cluster.kubectl("delete", "ltm", "checkout", "-n", other).returncode == 0
        wait_for(lambda: not children(api, other, "checkout"), 90, "the second monitor's children to go")
        assert sorted(children(api, namespace, "checkout")) == sorted(a)
        assert condition(get_monitor(api, namespace, "checkout"), "Ready")["status"] == "True"
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false")


def test_offline_render_is_accepted_by_the_api_server(cluster: Any, namespace: str, crd: None) -> None:
    """`loadtest-monitor render` output passes the real API server's validation (server dry-run)."""
    import subprocess
    import sys
    from pathlib import Path

    rendered = subprocess.run(
        [str(Path(sys.executable).parent / "loadtest-monitor"), "render", "-f", str(EXAMPLE), "-n", namespace],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == 12  # the 14 children but the 2 Secrets


def test_network_policies_are_pruned_when_switched_off_and_return_when_on(
    cluster: Any, operator: Operator, api: pykube.HTTPClient, namespace: str
) -> None:
    kind = pykube.object_factory(api, "networking.k8s.io/v1", "NetworkPolicy")
    wanted = {"checkout-influxdb", "checkout-grafana"}

    def policies() -> Any:
        return kind.objects(api, namespace=namespace)  # a fresh query: pykube caches a listed one

    def names() -> set[str]:
        return {p.name for p in policies()}

    selector = {"matchLabels": {"loadtest.dev/role": "runner"}}
    assert apply_monitor(cluster, namespace, minimal(graphite={"runnerPodSelector": selector})).returncode == 0
    wait_for(lambda: names() == wanted or None, 60, "both NetworkPolicies")
    grafana = policies().get(name="checkout-grafana").obj["spec"]
    assert grafana["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for rule in grafana["egress"] for p in rule["ports"]] == [8086, 53, 53]
    graphite_peers = policies().get(name="checkout-influxdb").obj["spec"]["ingress"][0]["from"]
    assert graphite_peers == [{"podSelector": selector}]

    off = minimal(graphite={"runnerPodSelector": selector, "networkPolicy": False})
    assert apply_monitor(cluster, namespace, off).returncode == 0
    wait_for(lambda: not names() or None, 60, "both NetworkPolicies to be pruned")
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_for(lambda: names() == wanted or None, 60, "both NetworkPolicies back")
    peers = policies().get(name="checkout-influxdb").obj["spec"]["ingress"][0]["from"]
    assert peers == [{"podSelector": {}}], "the runner selector dropped with the field"
    wait_ready(api, namespace, "checkout")
