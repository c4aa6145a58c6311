"""Ownership and references decided by what a caller cannot forge (issue 14, item 3), on the fake.

Labels are written by whoever creates an object: they make a child ours only for the PVC a monitor
keeps with keepOnDelete. A Secret named by adminSecretRef is mounted only once it names the monitor.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from loadtest_monitor.identity import (
    ADMIN_SECRET_OPT_IN,
    API_VERSION,
    FIELD_MANAGER,
    KIND,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
)
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.monitor import generated_secrets, render_all
from loadtest_monitor.spec.monitor import parse_spec
from tests.unit.fake_kube import FakeKube, make_reconciler
from tests.unit.reconcile_support import NS, monitor, ready, roll_out

OUR_LABELS = {LABEL_MANAGED_BY: FIELD_MANAGER, LABEL_INSTANCE: "checkout"}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _passes(fake: FakeKube, count: int = 3) -> Any:
    rec = make_reconciler(fake)
    for _ in range(count):
        rec.reconcile(NS, "checkout")
        roll_out(fake)
    return rec


@pytest.mark.parametrize("secret", ["checkout-grafana-admin", "checkout-influxdb-auth"])
def test_a_labelled_secret_with_a_chosen_password_is_a_conflict_never_read_or_mounted(secret: str) -> None:
    fake = FakeKube()
    planted = fake.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret, "namespace": NS, "labels": dict(OUR_LABELS)},
            "data": {key: _b64("chosen-by-somebody") for key in ("admin-password", "reader-password")},
        }
    )
    monitor(fake)
    _passes(fake)
    assert fake.found("Secret", secret) == planted
    assert ("apply", "Secret", secret) not in fake.calls
    cond = ready(fake)
    assert (cond["status"], cond["reason"]) == ("False", "NameConflict") and f"Secret {secret}" in cond["message"]
    # Whatever mounts it waits; nothing written carries (or hashes) the planted password.
    mounting = "checkout-grafana" if secret.endswith("grafana-admin") else "checkout-influxdb"
    assert fake.find("Deployment", mounting) is None
    written = json.dumps([o for k, o in fake.objects.items() if k[3] != secret])
    assert _b64("chosen-by-somebody") not in written and "chosen-by-somebody" not in written


def _every_child_but_secrets_and_pvcs() -> list[tuple[str, str, str]]:
    """Every kind and name a default monitor renders (Secrets have their own test; a kept PVC is
    the one kind adopted by its labels), so a new child kind is covered without editing this test."""
    ctx = RenderContext(Owner("checkout", NS), parse_spec({}))
    credentials = {name: dict.fromkeys(keys, "x") for name, keys in generated_secrets(ctx).items()}
    return sorted(
        (obj["kind"], obj["apiVersion"], obj["metadata"]["name"])
        for obj in render_all(ctx, credentials)
        if obj["kind"] not in ("Secret", "PersistentVolumeClaim")
    )


@pytest.mark.parametrize(("kind", "api_version", "name"), _every_child_but_secrets_and_pvcs())
def test_a_labelled_child_without_our_owner_reference_is_not_adopted(kind: str, api_version: str, name: str) -> None:
    fake = FakeKube()
    planted = fake.put(
        {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": NS, "labels": OUR_LABELS}}
    )
    monitor(fake)
    _passes(fake)
    assert ("apply", kind, name) not in fake.calls and ("delete", kind, name) not in fake.calls
    live = fake.found(kind, name)["metadata"]
    assert (live["labels"], live.get("ownerReferences"), live["uid"]) == (OUR_LABELS, None, planted["metadata"]["uid"])
    assert ready(fake)["reason"] == "NameConflict"


def test_a_labelled_pvc_owned_by_something_else_is_not_adopted() -> None:
    fake = FakeKube()
    foreign_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "someone-else"}
    planted = fake.put(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": "checkout-influxdb-data",
                "namespace": NS,
                "labels": OUR_LABELS,
                "ownerReferences": [foreign_ref],
            },
        }
    )
    monitor(fake, {"influxdb": {"storage": {"enabled": True, "keepOnDelete": True}}})
    _passes(fake)
    assert fake.found("PersistentVolumeClaim", "checkout-influxdb-data") == planted
    assert fake.find("Deployment", "checkout-influxdb") is None
    assert ready(fake)["reason"] == "NameConflict"


def test_a_labelled_pvc_is_only_looked_at_when_the_spec_wants_storage() -> None:
    """Label adoption needs a claim the spec asks for: with storage off nothing mounts, writes or prunes it."""
    fake = FakeKube()
    planted = fake.put(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "checkout-influxdb-data", "namespace": NS, "labels": OUR_LABELS},
            "spec": {"resources": {"requests": {"storage": "1Gi"}}},
        }
    )
    monitor(fake)
    _passes(fake)
    assert [c for c in fake.calls if c[1] == "PersistentVolumeClaim"] == []
    assert fake.found("PersistentVolumeClaim", "checkout-influxdb-data")["metadata"] == planted["metadata"]
    volumes = fake.found("Deployment", "checkout-influxdb")["spec"]["template"]["spec"]["volumes"]
    assert "checkout-influxdb-data" not in str(volumes)
    assert ready(fake)["status"] == "True"


# --- adminSecretRef: the referenced Secret must opt in -------------------------------------------


def _team_secret(fake: FakeKube, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return fake.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "team-grafana", "namespace": NS, "annotations": annotations or {}},
            "data": {"admin-user": _b64("admin"), "admin-password": _b64("s3cret")},
        }
    )


REF = {"grafana": {"adminSecretRef": {"name": "team-grafana"}}}


def test_a_secret_that_does_not_name_the_monitor_is_never_mounted_and_says_how_to_allow_it() -> None:
    fake = FakeKube()
    _team_secret(fake)
    monitor(fake, REF)
    rec = make_reconciler(fake)
    rec.reconcile(NS, "checkout")
    # At once, not after InfluxDB rolled out: the user must act.
    cond = ready(fake)
    assert (cond["status"], cond["reason"]) == ("False", "AdminSecretNotAllowed")
    command = f"kubectl annotate secret team-grafana -n {NS} {ADMIN_SECRET_OPT_IN}=checkout"
    assert "'team-grafana'" in cond["message"] and command in cond["message"]
    assert fake.find("Deployment", "checkout-grafana") is None
    assert fake.find("Deployment", "checkout-influxdb") is not None  # the rest is reconciled
    for _ in range(3):
        roll_out(fake)
        rec.reconcile(NS, "checkout")
    assert fake.find("Deployment", "checkout-grafana") is None
    status = fake.objects[(API_VERSION, KIND, NS, "checkout")]["status"]
    grafana = next(c for c in status["conditions"] if c["type"] == "GrafanaReady")
    assert grafana["reason"] == "AdminSecretNotAllowed"
    warnings = [e for e in fake.events if e[0] == "Warning"]
    assert warnings == [("Warning", "AdminSecretNotAllowed", ready(fake)["message"])]

    # The Secret's owner opts in: the next pass that reads it (the resync) mounts it.
    _team_secret(fake, {ADMIN_SECRET_OPT_IN: "other, checkout"})
    fake.tick()
    rec.reconcile(NS, "checkout")
    roll_out(fake)
    rec.reconcile(NS, "checkout")
    volumes = fake.found("Deployment", "checkout-grafana")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "admin", "secretName": "team-grafana"}.items() <= {
        "name": volumes[0]["name"],
        "secretName": volumes[0]["secret"]["secretName"],
    }.items()
    assert ready(fake)["status"] == "True"


def test_an_opt_in_naming_other_monitors_only_is_not_enough_and_the_command_keeps_them() -> None:
    fake = FakeKube()
    _team_secret(fake, {ADMIN_SECRET_OPT_IN: "payments,search"})
    monitor(fake, REF)
    make_reconciler(fake).reconcile(NS, "checkout")
    message = ready(fake)["message"]
    assert ready(fake)["reason"] == "AdminSecretNotAllowed"
    command = f"kubectl annotate --overwrite secret team-grafana -n {NS} {ADMIN_SECRET_OPT_IN}=payments,search,checkout"
    assert command in message


def test_a_secret_not_opted_in_reveals_nothing_about_its_keys() -> None:
    fake = FakeKube()
    fake.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "team-grafana", "namespace": NS}, "data": {}})
    monitor(fake, REF)
    make_reconciler(fake).reconcile(NS, "checkout")
    cond = ready(fake)
    assert cond["reason"] == "AdminSecretNotAllowed" and "admin-user" not in cond["message"]


def test_an_opt_in_withdrawn_leaves_the_running_grafana_as_it_is() -> None:
    fake = FakeKube()
    _team_secret(fake, {ADMIN_SECRET_OPT_IN: "checkout"})
    monitor(fake, REF)
    rec = _passes(fake)
    before = fake.found("Deployment", "checkout-grafana")
    _team_secret(fake, {})
    fake.tick()
    monitor(fake, {"grafana": {**REF["grafana"], "anonymousViewing": True}})  # would change the Deployment
    rec.reconcile(NS, "checkout")
    assert fake.found("Deployment", "checkout-grafana") == before
    assert ("delete", "Deployment", "checkout-grafana") not in fake.calls
    assert ready(fake)["reason"] == "AdminSecretNotAllowed"
