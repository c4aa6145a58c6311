"""An edit while the API server is slow: the pass is cut short by its deadline and deletes
nothing the monitor still wants (issue 14, item 1), on the real control plane.

The operator talks to the API server through ltm_harness.delay_proxy (every request it sends
arrives seconds late; answers and watch events are not delayed), with a 12 s reconcile deadline.
The edit changes the InfluxDB config and Deployment, and both InfluxDB Services are deleted at
the same moment, so the pass has at least four slow writes to make before it reaches the
NetworkPolicy and the admin Secret: it always stops at its deadline there. Before the fix, that
pass pruned every prunable child it had not reached (NetworkPolicy, admin Secret).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykube
import pytest

from ltm_harness.delay_proxy import DelayingProxy
from ltm_harness.kubeconfig import with_server
from tests.integration.operator_support import (
    Operator,
    apply_monitor,
    children,
    minimal,
    wait_for,
    wait_ready,
)

#: Slower than a quarter of the deadline, faster than one request's timeout (4 s).
LATENCY = 3.2
KEPT = (
    "PersistentVolumeClaim/checkout-influxdb-data",
    "NetworkPolicy/checkout-influxdb",
    "Secret/checkout-grafana-admin",
)
CUT_SHORT = "reconcile deadline passed"
SPEC: dict[str, Any] = {"influxdb": {"storage": {"enabled": True}}, "graphite": {"networkPolicy": True}}


@pytest.fixture
def proxy(cluster: Any) -> Iterator[DelayingProxy]:
    with DelayingProxy(cluster.ports["apiserver"]) as made:
        yield made


@pytest.fixture
def operator(cluster: Any, crd: None, proxy: DelayingProxy, tmp_path: Path) -> Iterator[Operator]:
    kubeconfig = with_server(Path(cluster.kubeconfig_path), tmp_path / "kubeconfig", proxy.server)
    op = Operator(
        cluster,
        tmp_path / "operator.log",
        kubeconfig=kubeconfig,
        resync_seconds=20,
        extra_env={"LTM_REQUEST_TIMEOUT_SECONDS": "4", "LTM_RECONCILE_DEADLINE_SECONDS": "12"},
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()


def _identity(api: pykube.HTTPClient, namespace: str) -> dict[str, Any]:
    found = children(api, namespace, "checkout")
    missing = [label for label in KEPT if label not in found]
    assert not missing, f"deleted: {missing}"
    return {
        **{label: found[label]["metadata"]["uid"] for label in KEPT},
        "password": found["Secret/checkout-grafana-admin"]["data"]["admin-password"],
    }


def test_an_edit_cut_short_by_a_slow_api_server_deletes_no_wanted_child(
    cluster: Any, operator: Operator, proxy: DelayingProxy, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    assert apply_monitor(cluster, namespace, minimal("checkout", **SPEC)).returncode == 0
    wait_ready(kube_api, namespace, "checkout")
    before = _identity(kube_api, namespace)
    log_size = operator.log_path.stat().st_size

    proxy.latency = LATENCY
    edited = minimal("checkout", **{**SPEC, "influxdb": {**SPEC["influxdb"], "retention": "14d"}})
    assert apply_monitor(cluster, namespace, edited).returncode == 0
    deleted = cluster.kubectl("delete", "-n", namespace, "service", "checkout-graphite", "checkout-influxdb")
    assert deleted.returncode == 0, deleted.stderr

    def cut_short() -> bool | None:
        return CUT_SHORT in operator.log_path.read_text(errors="replace")[log_size:] or None

    wait_for(cut_short, 45, "a reconcile cut short by its deadline", interval=0.5)
    time.sleep(2 * LATENCY)  # what a prune after the cut would have sent has arrived by now
    assert _identity(kube_api, namespace) == before, operator.log_tail()

    proxy.latency = 0.0
    wait_ready(kube_api, namespace, "checkout", timeout=60)
    assert _identity(kube_api, namespace) == before, operator.log_tail()
