"""`loadtest-monitor down` says what data goes with a monitor before it deletes it (issue 17), on a
real API server: without a terminal and without --yes it deletes nothing and says how to keep the
data; --yes deletes; a monitor whose data is kept (storage on, keepOnDelete) is deleted without a
question. No operator runs here: the monitors and their claim are created by the test, the claim
with the monitor's labels and ownerReference, as the operator makes it; kube-controller-manager's
garbage collector deletes it after the monitor.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pykube

from ltm_harness.cluster import LocalCluster
from tests.integration.operator_support import monitor_kind

CLI = str(Path(sys.executable).parent / "loadtest-monitor")


def down(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    # stdin is not a terminal (as in CI): the command must answer at once, never wait for input.
    return subprocess.run([CLI, "down", *args, "--timeout", "60s"], env=cluster.env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, check=False)


def create_monitor(api: pykube.HTTPClient, namespace: str, name: str, spec: dict[str, Any]) -> Any:
    monitor = monitor_kind(api)(api, {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor",
                                      "metadata": {"name": name, "namespace": namespace}, "spec": spec})
    monitor.create()
    return monitor


def owned_claim(api: pykube.HTTPClient, monitor: Any) -> pykube.PersistentVolumeClaim:
    meta = monitor.obj["metadata"]
    claim = pykube.PersistentVolumeClaim(api, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": f"{meta['name']}-influxdb", "namespace": meta["namespace"],
            "labels": {"app.kubernetes.io/managed-by": "loadtest-monitor",
                       "app.kubernetes.io/instance": meta["name"]},
            "ownerReferences": [{"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor",
                                 "name": meta["name"], "uid": meta["uid"], "controller": True}],
        },
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    })
    claim.create()
    return claim


def test_emptydir_data_is_named_and_nothing_is_deleted_without_yes(cluster, kube_api, namespace) -> None:
    monitor = create_monitor(kube_api, namespace, "checkout", {})
    refused = down(cluster, "checkout", "-n", namespace)
    assert refused.returncode == 1
    ref = f"{namespace}/checkout"
    assert f"{ref}: deleting it deletes data:" in refused.stdout
    assert "InfluxDB's data (every run's series) is in an emptyDir" in refused.stdout
    assert "Grafana's annotations and dashboard edits are in its pod" in refused.stdout
    assert "to keep it: an emptyDir cannot be kept: export what you need from Grafana now" in refused.stdout
    assert refused.stderr.strip() == (
        f"error: {ref}: not deleted: the data above would be lost and there is no terminal to ask; keep it as "
        "said above, or run `loadtest-monitor down` again with --yes to delete anyway"
    )
    assert monitor.exists(), "nothing may be deleted without an answer"

    deleted = down(cluster, "checkout", "-n", namespace, "--yes")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert f"{ref}: --yes given: deleting" in deleted.stdout and f"{ref}: gone" in deleted.stdout
    assert not monitor.exists()


def test_a_claim_deleted_with_the_monitor_is_named_with_the_patch_that_keeps_it(cluster, kube_api, namespace) -> None:
    monitor = create_monitor(kube_api, namespace, "search", {"influxdb": {"storage": {"enabled": True}}})
    claim = owned_claim(kube_api, monitor)
    refused = down(cluster, "search", "-n", namespace)
    assert refused.returncode == 1
    assert "PersistentVolumeClaim search-influxdb (InfluxDB's data) is deleted: keepOnDelete is off" in refused.stdout
    assert "emptyDir" not in refused.stdout and "Grafana's annotations" not in refused.stdout
    patch = "-p '{\"spec\":{\"influxdb\":{\"storage\":{\"keepOnDelete\":true}}}}' (then run down again)"
    assert (f"to keep it: keep the claim: kubectl -n {namespace} patch loadtestmonitors search --type merge "
            f"{patch}") in refused.stdout
    assert monitor.exists() and claim.exists()

    deleted = down(cluster, "search", "-n", namespace, "-y")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert not monitor.exists() and not claim.exists()  # down waited for the garbage collector


def test_kept_data_deletes_without_a_question(cluster, kube_api, namespace) -> None:
    spec = {"influxdb": {"storage": {"enabled": True, "keepOnDelete": True}}}
    monitor = create_monitor(kube_api, namespace, "kept", spec)
    deleted = down(cluster, "kept", "-n", namespace)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "deletes data" not in deleted.stdout
    assert not monitor.exists()
