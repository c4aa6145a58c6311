"""Ownership and adminSecretRef on the real API server with the operator running (issue 14, item 3).

A Secret planted under a generated Secret's name with the operator's labels and a chosen password is
somebody else's (NameConflict, never read or mounted); a Secret named by adminSecretRef is mounted
only once it names the monitor, and the command the status gives is the one that allows it.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any

import pykube
import pytest
import yaml

from loadtest_monitor.identity import ADMIN_SECRET_OPT_IN, FIELD_MANAGER, LABEL_INSTANCE, LABEL_MANAGED_BY
from tests.integration.operator_support import (
    Operator,
    apply_monitor,
    condition,
    get_monitor,
    minimal,
    running_operator,
    wait_for,
    wait_ready,
    warnings_with_reason,
)

RESYNC = 5


@pytest.fixture(scope="module")
def operator(cluster: Any, crd: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(cluster, tmp_path_factory.mktemp("operator"), resync_seconds=RESYNC) as op:
        yield op


def _ready_with(api: pykube.HTTPClient, namespace: str, name: str, reason: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        mon = get_monitor(api, namespace, name)
        ready = condition(mon, "Ready")
        return mon if ready.get("reason") == reason else None

    return wait_for(check, 60, f"{name} Ready reason {reason}")


def _exists(api: pykube.HTTPClient, kind: Any, namespace: str, name: str) -> bool:
    return kind.objects(api, namespace=namespace).get_or_none(name=name) is not None


def test_a_planted_labelled_secret_is_never_read_nor_mounted(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    planted = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "planted-grafana-admin",
            "labels": {LABEL_MANAGED_BY: FIELD_MANAGER, LABEL_INSTANCE: "planted"},
        },
        "stringData": {"admin-user": "admin", "admin-password": "chosen-by-somebody"},
    }
    made = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(planted))
    assert made.returncode == 0, made.stderr
    before = pykube.Secret.objects(kube_api, namespace=namespace).get(name="planted-grafana-admin").obj
    assert apply_monitor(cluster, namespace, minimal("planted")).returncode == 0
    mon = _ready_with(kube_api, namespace, "planted", "NameConflict")
    assert "Secret planted-grafana-admin" in condition(mon, "Ready")["message"]
    wait_for(
        lambda: _exists(kube_api, pykube.Deployment, namespace, "planted-influxdb") or None, 60, "InfluxDB applied"
    )
    after = pykube.Secret.objects(kube_api, namespace=namespace).get(name="planted-grafana-admin").obj
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert not after["metadata"].get("ownerReferences")
    assert not _exists(kube_api, pykube.Deployment, namespace, "planted-grafana")


def test_an_admin_secret_is_mounted_only_once_it_names_the_monitor(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    made = cluster.kubectl(
        "create", "secret", "generic", "team-grafana", "-n", namespace,
        "--from-literal=admin-user=admin", "--from-literal=admin-password=s3cret",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    spec = {"grafana": {"adminSecretRef": {"name": "team-grafana"}}}
    assert apply_monitor(cluster, namespace, minimal("optin", **spec)).returncode == 0
    mon = _ready_with(kube_api, namespace, "optin", "AdminSecretNotAllowed")
    message = condition(mon, "Ready")["message"]
    assert condition(mon, "GrafanaReady")["reason"] == "AdminSecretNotAllowed"
    assert "'team-grafana'" in message and ADMIN_SECRET_OPT_IN in message
    wait_for(lambda: _exists(kube_api, pykube.Deployment, namespace, "optin-influxdb") or None, 60, "InfluxDB")
    assert not _exists(kube_api, pykube.Deployment, namespace, "optin-grafana")
    warnings = wait_for(
        lambda: warnings_with_reason(cluster, namespace, "AdminSecretNotAllowed") or None, 30, "the Warning Event"
    )
    assert len(warnings) == 1 and "kubectl annotate" in warnings[0]["message"]

    # The Secret's owner runs the command the status gives, as it is written there.
    command = shlex.split(message.split("`")[1])
    assert command[:2] == ["kubectl", "annotate"]
    annotated = cluster.kubectl(*command[1:])
    assert annotated.returncode == 0, annotated.stderr
    wait_ready(kube_api, namespace, "optin", timeout=120)
    grafana = pykube.Deployment.objects(kube_api, namespace=namespace).get(name="optin-grafana").obj
    volumes = {v["name"]: v for v in grafana["spec"]["template"]["spec"]["volumes"]}
    assert volumes["admin"]["secret"]["secretName"] == "team-grafana"
    assert len(warnings_with_reason(cluster, namespace, "AdminSecretNotAllowed")) == 1
