"""`up` stops at once when the operator's image cannot be pulled, instead of waiting out --timeout.

A cluster of its own with no CRD: `up` installs the operator from the package. Its nodes are
cordoned first, so KWOK never starts the operator's pod; the test then writes into the pod's status
what a kubelet writes when the image is missing (`ImagePullBackOff` with the kubelet's message).
No operator process runs, so without the fail-fast `up` would print "no status yet" and wait
the whole --timeout.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pykube
import pytest
import yaml

from ltm_harness.cluster import LocalCluster
from ltm_harness.kube_session import admin_client, bare_cluster
from tests.integration.operator_support import wait_for

CLI = str(Path(sys.executable).parent / "loadtest-monitor")
OPERATOR_NS = "loadtest-monitor-system"
PULL_MESSAGE = 'Back-off pulling image "loadtest-monitor:0.1.0": not found'


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with bare_cluster(tmp_path_factory.mktemp("pull-cluster")) as local:
        yield local


def test_up_fails_fast_naming_the_image_and_the_fix(bare, tmp_path) -> None:
    api = admin_client(bare)
    for node in pykube.Node.objects(api):
        node.patch({"spec": {"unschedulable": True}})
    monitor = tmp_path / "monitor.yaml"
    monitor.write_text(yaml.safe_dump({"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor",
                                       "metadata": {"name": "checkout", "namespace": "perf"}}))
    started = time.monotonic()
    proc = subprocess.Popen([CLI, "up", "-f", str(monitor), "--timeout", "5m"], env=bare.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def operator_pod() -> pykube.Pod | None:
            pods = list(pykube.Pod.objects(api, namespace=OPERATOR_NS))
            return pods[0] if pods else None

        pod = wait_for(operator_pod, 120, "the operator's pod")
        # What the kubelet reports after a failed pull and its first retry.
        pod.patch({"status": {"containerStatuses": [{
            "name": "operator", "image": "loadtest-monitor:0.1.0", "imageID": "", "ready": False,
            "restartCount": 0, "started": False,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": PULL_MESSAGE}},
        }]}}, subresource="status")
        patched_at = time.monotonic()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    waited = time.monotonic() - patched_at
    assert proc.returncode == 1, out + err
    assert "operator: installed in namespace loadtest-monitor-system (image loadtest-monitor:0.1.0)" in out
    first, *rest = err.strip().splitlines()
    assert first == (
        f"error: the operator cannot start: {OPERATOR_NS}/{pod.name} container operator: "
        f"image loadtest-monitor:0.1.0 ImagePullBackOff ({PULL_MESSAGE})."
    )
    fix = "\n".join(rest)
    assert "loadtest-monitor images push --aws-profile P" in fix
    assert f"kubectl -n {OPERATOR_NS} set image deployment/loadtest-monitor operator=IMAGE" in fix
    assert "docs/images.md" in fix
    # The pull state is read every 5 s: well before --timeout (5 minutes).
    assert waited < 15, f"up took {waited:.1f} s after the pod reported ImagePullBackOff"
    total = time.monotonic() - started
    sys.stdout.write(f"\nup stopped {waited:.1f} s after ImagePullBackOff ({total:.0f} s in all)\n")
