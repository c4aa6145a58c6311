"""The reconcile's decisions (apply, skip, conflict, prune, removal, failure) on the in-memory fake."""

from __future__ import annotations

import base64
import copy

import pytest

from loadtest_monitor.controller.apply import APPLIED_HASH
from loadtest_monitor.identity import API_VERSION, KIND
from loadtest_monitor.kube.client import KubeError
from tests.unit.fake_kube import FakeKube, make_reconciler
from tests.unit.reconcile_support import NS, monitor, ready, roll_out, settle


def test_first_pass_creates_every_child_and_a_second_writes_nothing() -> None:
    fake = FakeKube()
    monitor(fake)
    rec = make_reconciler(fake)
    rec.reconcile(NS, "checkout")
    # Creating reads nothing but the two generated Secrets (by name): a create-only apply per child.
    assert [c for c in fake.calls if c[0] == "get"] == [
        ("get", "Secret", "checkout-influxdb-auth"),
        ("get", "Secret", "checkout-grafana-admin"),
    ]
    assert fake.refused_creates == []
    roll_out(fake)
    rec.reconcile(NS, "checkout")
    assert ready(fake)["status"] == "True"
    assert {k[1] for k in fake.objects} >= {"ConfigMap", "Secret", "Service", "Deployment", "NetworkPolicy"}
    assert all(APPLIED_HASH in o["metadata"]["annotations"] for k, o in fake.objects.items() if k[1] != KIND)
    fake.calls.clear()
    outcome = rec.reconcile(NS, "checkout")
    assert fake.calls == []  # everything from the store, the Secret read moments ago reused
    assert not outcome.applied and not outcome.status_written
    fake.tick()
    rec.reconcile(NS, "checkout")
    # The only reads of a resync: the generated Secrets, by name (Secrets are not watched).
    assert fake.calls == [("get", "Secret", "checkout-influxdb-auth"), ("get", "Secret", "checkout-grafana-admin")]


def test_a_removed_setting_is_removed_from_the_child() -> None:
    fake = FakeKube()
    monitor(fake, {"grafana": {"anonymousViewing": True}, "placement": {"nodeSelector": {"pool": "perf"}}})
    rec = settle(fake)
    env = fake.found("Deployment", "checkout-grafana")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "GF_AUTH_ANONYMOUS_ENABLED", "value": "true"} in env
    monitor(fake, {})
    outcome = rec.reconcile(NS, "checkout")
    assert "Deployment/checkout-grafana" in outcome.applied
    pod = fake.found("Deployment", "checkout-grafana")["spec"]["template"]["spec"]
    assert all(e["name"] != "GF_AUTH_ANONYMOUS_ENABLED" for e in pod["containers"][0]["env"])
    assert "nodeSelector" not in pod


def test_server_normalised_quantities_cause_no_write() -> None:
    fake = FakeKube()
    monitor(fake, {"influxdb": {"resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}}}})
    rec = settle(fake)
    dep = fake.found("Deployment", "checkout-influxdb")
    dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] = {"cpu": "1", "memory": "1Gi"}
    fake.put(dep)  # what the API server stores
    fake.calls.clear()
    rec.reconcile(NS, "checkout")
    assert fake.writes() == []


def test_a_field_set_by_another_manager_causes_no_write() -> None:
    fake = FakeKube()
    monitor(fake)
    rec = settle(fake)
    svc = fake.found("Service", "checkout-grafana")
    svc["spec"]["loadBalancerClass"] = "eks.amazonaws.com/nlb"
    fake.put(svc)
    fake.calls.clear()
    rec.reconcile(NS, "checkout")
    assert fake.writes() == []


def test_a_hand_edit_of_our_field_is_restored() -> None:
    fake = FakeKube()
    monitor(fake)
    rec = settle(fake)
    cm = fake.found("ConfigMap", "checkout-gatling")
    original = copy.deepcopy(cm["data"])
    cm["data"]["gatling.conf"] = "wrong"
    fake.put(cm)
    assert "ConfigMap/checkout-gatling" in rec.reconcile(NS, "checkout").applied
    assert fake.found("ConfigMap", "checkout-gatling")["data"] == original


@pytest.mark.parametrize(
    ("kind", "api_version", "name"),
    [
        ("ConfigMap", "v1", "checkout-gatling"),
        ("Secret", "v1", "checkout-grafana-admin"),
        ("Service", "v1", "checkout-graphite"),
        ("Deployment", "apps/v1", "checkout-influxdb"),
        ("NetworkPolicy", "networking.k8s.io/v1", "checkout-influxdb"),
    ],
)
def test_a_foreign_object_is_never_touched_and_reported_once(kind: str, api_version: str, name: str) -> None:
    fake = FakeKube()
    foreign = fake.put(
        {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": NS}, "data": {"x": "eQ=="}}
    )
    # A foreign object carries no managed-by label: the label-selected watch never shows it.
    fake.sources.get((api_version, kind), {}).pop((NS, name), None)
    monitor(fake)
    rec = make_reconciler(fake)
    for _ in range(3):
        rec.reconcile(NS, "checkout")
        assert fake.found(kind, name) == foreign
        assert ("delete", kind, name) not in fake.calls
    # A watched kind is tried with a create-only apply, which the server refuses; a Secret is read
    # by name first, so being foreign it is not even tried.
    # Once, not every pass: a name found taken is then only read.
    assert fake.refused_creates == ([] if kind == "Secret" else [f"{kind}/{name}"])
    cond = ready(fake)
    assert (cond["status"], cond["reason"]) == ("False", "NameConflict")
    assert f"{kind} {name}" in cond["message"] and "delete or rename it" in cond["message"]
    assert [e for e in fake.events if e[0] == "Warning"] == [("Warning", "NameConflict", cond["message"])]

    fake.remove(api_version, kind, NS, name)
    fake.tick()  # the next resync
    rec.reconcile(NS, "checkout")
    roll_out(fake)
    rec.reconcile(NS, "checkout")
    assert ready(fake)["status"] == "True"
    assert fake.found(kind, name)["metadata"]["labels"]["app.kubernetes.io/instance"] == "checkout"


def test_a_kept_pvc_with_our_labels_is_adopted_and_a_failed_one_is_not_pruned() -> None:
    fake = FakeKube()
    monitor(fake, {"influxdb": {"storage": {"enabled": True, "size": "5Gi", "keepOnDelete": True}}})
    settle(fake)
    pvc = fake.found("PersistentVolumeClaim", "checkout-influxdb-data")
    assert not pvc["metadata"]["ownerReferences"]
    # The monitor is deleted and made again: a new uid, the kept PVC is re-adopted (labels).
    fake.remove(API_VERSION, KIND, NS, "checkout")
    for key, obj in list(fake.objects.items()):  # the garbage collector
        if obj["metadata"].get("ownerReferences"):
            fake.remove(*key)
    monitor(fake, {"influxdb": {"storage": {"enabled": True, "size": "10Gi", "keepOnDelete": True}}})
    rec = make_reconciler(fake)
    fake.fail[("apply", "PersistentVolumeClaim", "checkout-influxdb-data")] = KubeError(
        422, "PersistentVolumeClaim is invalid: spec.resources.requests.storage: Forbidden: cannot be resized"
    )
    outcome = rec.reconcile(NS, "checkout")
    assert fake.found("PersistentVolumeClaim", "checkout-influxdb-data")["metadata"]["uid"] == pvc["metadata"]["uid"]
    assert not outcome.pruned
    cond = ready(fake)
    assert cond["reason"] == "ApplyFailed" and "checkout-influxdb-data" in cond["message"]


def test_keep_on_delete_switched_on_removes_the_owner_reference() -> None:
    fake = FakeKube()
    monitor(fake, {"influxdb": {"storage": {"enabled": True, "size": "5Gi"}}})
    rec = settle(fake)
    assert fake.found("PersistentVolumeClaim", "checkout-influxdb-data")["metadata"]["ownerReferences"]
    monitor(fake, {"influxdb": {"storage": {"enabled": True, "size": "5Gi", "keepOnDelete": True}}})
    rec.reconcile(NS, "checkout")
    assert not fake.found("PersistentVolumeClaim", "checkout-influxdb-data")["metadata"]["ownerReferences"]


def test_storage_and_network_policy_switched_off_are_pruned_but_a_refused_one_stays() -> None:
    fake = FakeKube()
    monitor(fake, {"influxdb": {"storage": {"enabled": True, "size": "5Gi"}}})
    rec = settle(fake)
    monitor(fake, {"graphite": {"networkPolicy": False}})
    fake.fail[("delete", "NetworkPolicy", "checkout-influxdb")] = KubeError(500, "etcd timeout")
    outcome = rec.reconcile(NS, "checkout")
    assert outcome.pruned == ["PersistentVolumeClaim/checkout-influxdb-data", "NetworkPolicy/checkout-grafana"]
    assert fake.find("NetworkPolicy", "checkout-grafana") is None
    assert fake.find("NetworkPolicy", "checkout-influxdb") is not None
    assert "NetworkPolicy checkout-influxdb (to remove): etcd timeout" in ready(fake)["message"]
    del fake.fail[("delete", "NetworkPolicy", "checkout-influxdb")]
    assert rec.reconcile(NS, "checkout").pruned == ["NetworkPolicy/checkout-influxdb"]


def test_a_refused_network_policy_is_reported_and_never_deleted() -> None:
    fake = FakeKube()
    monitor(fake)
    rec = settle(fake)
    monitor(fake, {"graphite": {"allowedNamespaces": ["runners"]}})
    fake.fail[("apply", "NetworkPolicy", "checkout-influxdb")] = KubeError(403, "denied by policy")
    rec.reconcile(NS, "checkout")
    assert fake.find("NetworkPolicy", "checkout-influxdb") is not None
    assert ("delete", "NetworkPolicy", "checkout-influxdb") not in fake.calls
    assert "NetworkPolicy checkout-influxdb: denied by policy" in ready(fake)["message"]


def test_an_error_reading_the_admin_secret_never_regenerates_the_password() -> None:
    fake = FakeKube()
    monitor(fake)
    rec = settle(fake)
    before = fake.found("Secret", "checkout-grafana-admin")["data"]
    grafana = fake.found("Deployment", "checkout-grafana")
    monitor(fake, {"gatling": {"writePeriod": 5}})
    fake.fail[("get", "Secret", "checkout-grafana-admin")] = KubeError(0, "API server unreachable: timed out")
    fake.tick()
    outcome = rec.reconcile(NS, "checkout")
    assert not outcome.ok
    assert "ConfigMap/checkout-gatling" in outcome.applied  # the rest goes on
    assert fake.found("Secret", "checkout-grafana-admin")["data"] == before
    assert fake.found("Deployment", "checkout-grafana") == grafana
    assert "cannot be read" in ready(fake)["message"]


def test_a_secret_that_does_not_decode_is_reported_and_the_rest_reconciled() -> None:
    fake = FakeKube()
    monitor(fake)
    rec = settle(fake)
    secret = fake.found("Secret", "checkout-grafana-admin")
    secret["data"]["admin-password"] = "%%%not-base64"
    fake.put(secret)
    fake.tick()
    monitor(fake, {"gatling": {"writePeriod": 5}})
    outcome = rec.reconcile(NS, "checkout")
    assert "ConfigMap/checkout-gatling" in outcome.applied
    assert fake.found("Secret", "checkout-grafana-admin")["data"]["admin-password"] == "%%%not-base64"
    assert "not valid base64" in ready(fake)["message"]


def test_a_deleted_admin_secret_is_made_again_with_a_new_password() -> None:
    fake = FakeKube()
    monitor(fake)
    rec = settle(fake)
    old = fake.found("Secret", "checkout-grafana-admin")["data"]["admin-password"]
    fake.remove("v1", "Secret", NS, "checkout-grafana-admin")
    fake.tick()
    rec.reconcile(NS, "checkout")
    new = fake.found("Secret", "checkout-grafana-admin")["data"]["admin-password"]
    assert new != old and len(base64.b64decode(new)) >= 24


def test_an_event_that_cannot_be_posted_does_not_stop_the_reconcile() -> None:
    fake = FakeKube()
    monitor(fake)
    rec = settle(fake)
    monitor(fake, {"gatling": {"writePeriod": 5}})
    fake.fail[("event", "Event", "Reconciled")] = KubeError(403, "events is forbidden")
    outcome = rec.reconcile(NS, "checkout")
    assert ("event", "Event", "Reconciled") in fake.calls
    assert outcome.status_written and outcome.ok


def test_status_keys_no_longer_computed_are_removed() -> None:
    fake = FakeKube()
    monitor(fake, {"graphite": {"exposure": "InternalLoadBalancer", "allowedSourceRanges": ["10.0.0.0/16"]}})
    rec = settle(fake)
    svc = fake.found("Service", "checkout-graphite")
    svc["status"] = {"loadBalancer": {"ingress": [{"hostname": "nlb.example"}]}}
    fake.put(svc)
    rec.reconcile(NS, "checkout")
    status = fake.objects[(API_VERSION, KIND, NS, "checkout")]["status"]
    assert status["graphite"]["externalAddress"] == "nlb.example:2003"
    monitor(fake, {})
    rec.reconcile(NS, "checkout")
    status = fake.objects[(API_VERSION, KIND, NS, "checkout")]["status"]
    assert "externalAddress" not in status["graphite"]
    fake.calls.clear()
    rec.reconcile(NS, "checkout")
    assert ("status", KIND, "checkout") not in fake.calls


def test_a_deployment_whose_selector_changed_is_recreated() -> None:
    fake = FakeKube()
    monitor(fake)
    rec = settle(fake)
    dep = fake.found("Deployment", "checkout-influxdb")
    old_uid = dep["metadata"]["uid"]
    dep["spec"]["selector"] = {"matchLabels": {"old": "selector"}}
    dep["metadata"]["annotations"][APPLIED_HASH] = "older"
    fake.put(dep)
    outcome = rec.reconcile(NS, "checkout")
    assert "Deployment/checkout-influxdb" in outcome.applied
    new = fake.found("Deployment", "checkout-influxdb")
    assert new["metadata"]["uid"] != old_uid
    assert new["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "influxdb"


def test_an_invalid_spec_changes_no_child() -> None:
    fake = FakeKube()
    monitor(fake)
    rec = settle(fake)
    fake.calls.clear()
    monitor(fake, {"influxdb": {"image": "influxdb:2.7"}})
    outcome = rec.reconcile(NS, "checkout")
    assert outcome.invalid
    assert [c for c in fake.writes() if c[0] in ("apply", "delete")] == []
    assert ready(fake)["reason"] == "InvalidSpec"
    assert "graphite" in fake.objects[(API_VERSION, KIND, NS, "checkout")]["status"]


def test_a_deployment_never_mounts_a_foreign_pvc() -> None:
    fake = FakeKube()
    fake.put(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "checkout-influxdb-data", "namespace": NS},
            "spec": {"resources": {"requests": {"storage": "1Gi"}}},
        }
    )
    fake.sources[("v1", "PersistentVolumeClaim")].clear()  # not labelled: the watch never shows it
    monitor(fake, {"influxdb": {"storage": {"enabled": True, "size": "1Gi"}}})
    outcome = make_reconciler(fake).reconcile(NS, "checkout")
    assert fake.find("Deployment", "checkout-influxdb") is None
    assert "Deployment/checkout-grafana" in outcome.applied
    assert ready(fake)["reason"] == "NameConflict"


def test_a_missing_admin_secret_is_one_warning_event_naming_the_field() -> None:
    fake = FakeKube()
    monitor(fake, {"grafana": {"adminSecretRef": {"name": "team-grafana"}}})
    rec = make_reconciler(fake)
    for _ in range(3):
        rec.reconcile(NS, "checkout")
        roll_out(fake)
    cond = ready(fake)
    assert (cond["status"], cond["reason"]) == ("False", "AdminSecretMissing")
    warnings = [e for e in fake.events if e[0] == "Warning"]
    assert warnings == [("Warning", "AdminSecretMissing", cond["message"])]
    assert "spec.grafana.adminSecretRef" in cond["message"] and "team-grafana" in cond["message"]
