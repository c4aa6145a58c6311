"""spec.archive and storage on the real control plane, with the operator running as a user starts it:
a missing archive ServiceAccount is named in Ready (the ReplicaSet cannot create the pod), the pod
then runs with the user's ServiceAccount and the archive container, and Grafana's database sits on
its own bound claim that belongs to the monitor."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pykube
import pytest

from tests.integration.operator_support import (
    Operator,
    apply_monitor,
    children,
    condition,
    get_monitor,
    minimal,
    running_operator,
    wait_for,
    wait_ready,
)

pytestmark = pytest.mark.integration

ARCHIVE = {"s3": {"bucket": "perf-archives"}, "serviceAccountName": "loadtest-archive", "onDelete": True}


@pytest.fixture(scope="module")
def operator(cluster: Any, crd: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(cluster, tmp_path_factory.mktemp("operator")) as op:
        yield op


def test_archive_service_account_and_grafana_claim(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    manifest = minimal("kept", influxdb={"storage": {"enabled": True}}, archive=ARCHIVE)
    applied = apply_monitor(cluster, namespace, manifest)
    assert applied.returncode == 0, applied.stderr

    def refused() -> dict[str, Any] | None:
        ready = condition(get_monitor(kube_api, namespace, "kept"), "Ready")
        return ready if ready.get("reason") == "ReplicaFailure" else None

    ready = wait_for(refused, 120, "Ready=False ReplicaFailure for the missing ServiceAccount")
    assert ready["status"] == "False"
    assert 'serviceaccount "loadtest-archive" not found' in ready["message"], ready

    pykube.ServiceAccount(
        kube_api,
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "loadtest-archive", "namespace": namespace},
        },
    ).create()
    monitor = wait_ready(kube_api, namespace, "kept", timeout=240)
    uid = monitor["metadata"]["uid"]

    pods = list(pykube.Pod.objects(kube_api, namespace=namespace).filter(selector={"loadtest.dev/monitor": "kept"}))
    influx = [p.obj for p in pods if p.obj["metadata"]["labels"]["app.kubernetes.io/name"] == "influxdb"]
    assert len(influx) == 1
    spec = influx[0]["spec"]
    assert spec["serviceAccountName"] == "loadtest-archive"
    assert spec["automountServiceAccountToken"] is False
    assert not [v for v in spec["volumes"] if v.get("projected")], "no Kubernetes API token in the pod"
    assert [c["name"] for c in spec["containers"]] == ["influxdb", "archive"]
    assert spec["terminationGracePeriodSeconds"] == 630

    objs = children(kube_api, namespace, "kept")
    egress = objs["NetworkPolicy/kept-influxdb"]["spec"]["egress"]
    assert {"ports": [{"port": 443, "protocol": "TCP"}]} in egress, "the API server kept the archive's egress"
    claim = objs["PersistentVolumeClaim/kept-grafana-data"]
    assert [r["uid"] for r in claim["metadata"]["ownerReferences"]] == [uid]

    def bound() -> bool:
        live = pykube.PersistentVolumeClaim.objects(kube_api, namespace=namespace).get(name="kept-grafana-data")
        return live.obj.get("status", {}).get("phase") == "Bound"

    wait_for(bound, 60, "the Grafana claim to be Bound")


def test_archive_restore_names_what_the_target_monitor_lacks(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    """`archive restore --into` reaches the new monitor's InfluxDB pod through the API server; a
    monitor without spec.archive (no archive container) or no monitor at all is said in one line."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path)}
    url = "s3://perf-archives/loadtest-monitor/checkout/20261206T120000Z/"

    def restore(into: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "loadtest_monitor.cli", "archive", "restore", url, "--into", into]
        return subprocess.run([*command, "-n", namespace], env=env, capture_output=True, text=True, timeout=60)

    absent = restore("absent")
    assert absent.returncode == 1
    assert "no running InfluxDB pod of monitor 'absent'" in absent.stderr, absent.stderr

    assert apply_monitor(cluster, namespace, minimal("plain")).returncode == 0
    wait_ready(kube_api, namespace, "plain")
    plain = restore("plain")
    assert plain.returncode == 1
    assert "its InfluxDB pod has no 'archive' container: give the monitor spec.archive" in plain.stderr, plain.stderr
    assert "Traceback" not in plain.stderr
