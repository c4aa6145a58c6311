"""Faults on the real control plane: the operator killed mid-reconcile, the API server gone for
20 s, a monitor deleted while the operator is down. Every check reads the cluster itself."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pykube
import pytest

from tests.integration.operator_support import (
    FreezableProxy,
    Operator,
    apply_monitor,
    children,
    config_map_data,
    default_children,
    minimal,
    operator_writes,
    wait_for,
    wait_ready,
)

EXPECTED = default_children("checkout")
GENERATED_SECRETS = ("Secret/checkout-grafana-admin", "Secret/checkout-influxdb-auth")


@pytest.fixture
def operator(cluster: Any, crd: None, tmp_path: Any) -> Iterator[Operator]:
    op = Operator(cluster, tmp_path / "operator.log", resync_seconds=5)
    try:
        yield op
    finally:
        op.stop()


def test_sigkill_at_ten_random_points_of_the_first_reconcile(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    secret_uids: dict[str, set[str]] = {key: set() for key in GENERATED_SECRETS}
    for _ in range(10):
        operator.start()
        time.sleep(rng.uniform(0.5, 4.0))  # start-up is ~1-2 s: the kills land before, in and after it
        operator.kill()
        found = children(kube_api, namespace, "checkout")
        for key in GENERATED_SECRETS:
            if key in found:
                secret_uids[key].add(found[key]["metadata"]["uid"])
    operator.start()
    wait_ready(kube_api, namespace, "checkout", timeout=120)
    objs = children(kube_api, namespace, "checkout")
    assert set(objs) == EXPECTED, f"seed {seed}"
    for key in GENERATED_SECRETS:
        secret_uids[key].add(objs[key]["metadata"]["uid"])
        assert len(secret_uids[key]) == 1, f"{key} was made again: its passwords changed (seed {seed})"
    for kind in (pykube.Deployment, pykube.Service, pykube.ConfigMap):
        names = [o.name for o in kind.objects(kube_api, namespace=namespace)]
        assert len(names) == len(set(names))
    # ReplicaSets: one per Deployment, not one per restart.
    assert len(list(pykube.ReplicaSet.objects(kube_api, namespace=namespace))) == 2, f"seed {seed}"


def test_api_server_down_for_20_s_then_back_converges_without_restart(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    operator.start()
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(kube_api, namespace, "checkout")
    pid = operator.proc.pid if operator.proc else 0
    assert apply_monitor(cluster, namespace, minimal(gatling={"writePeriod": 4})).returncode == 0
    cluster.stop_apiserver()  # mid-reconcile, or just before it
    time.sleep(20)
    cluster.start_apiserver()
    wait_for(
        lambda: '"writePeriod" = 4' in config_map_data(kube_api, namespace, "checkout-gatling")["gatling.conf"],
        90,
        "the change made before the outage",
    )
    assert apply_monitor(cluster, namespace, minimal(gatling={"writePeriod": 6})).returncode == 0
    started = time.monotonic()
    wait_for(
        lambda: '"writePeriod" = 6' in config_map_data(kube_api, namespace, "checkout-gatling")["gatling.conf"],
        60,
        "a change after the outage (the watches are back)",
    )
    assert time.monotonic() - started < 30, "converged only by resync: the monitor watch did not recover"
    wait_ready(kube_api, namespace, "checkout")
    assert operator.proc is not None and operator.proc.poll() is None and operator.proc.pid == pid


def test_monitor_deleted_while_the_operator_is_down(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    operator.start()
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(kube_api, namespace, "checkout")
    operator.stop()
    assert cluster.kubectl("delete", "ltm", "checkout", "-n", namespace, "--timeout=30s").returncode == 0
    wait_for(lambda: not children(kube_api, namespace, "checkout"), 120, "the garbage collector")
    mark = cluster.audit_mark()
    operator.start()
    assert apply_monitor(cluster, namespace, minimal("other")).returncode == 0
    wait_ready(kube_api, namespace, "other")
    assert not children(kube_api, namespace, "checkout")
    assert not [w for w in operator_writes(cluster, mark, namespace) if w[2].startswith("checkout")]
    log = operator.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def _healthz(port: int) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return 0


def test_an_api_server_that_does_not_answer_costs_seconds_not_minutes_and_work_resumes(
    cluster: Any, crd: None, kube_api: pykube.HTTPClient, namespace: str, tmp_path: Any
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy = FreezableProxy(cluster.ports["apiserver"])
    op = Operator(
        cluster,
        tmp_path / "operator.log",
        kubeconfig=proxy.kubeconfig(cluster, tmp_path / "kubeconfig"),
        resync_seconds=5,
        extra=("--liveness-port", str(port)),
        extra_env={"LTM_REQUEST_TIMEOUT_SECONDS": "2", "LTM_RECONCILE_DEADLINE_SECONDS": "10"},
    )
    op.start()
    try:
        assert apply_monitor(cluster, namespace, minimal()).returncode == 0
        wait_ready(kube_api, namespace, "checkout")
        assert wait_for(lambda: _healthz(port) == 200, 20, "healthz 200")
        proxy.frozen.set()
        frozen_at = time.monotonic()
        # The resync's reconcile gives up after 2 s x (1 + 1 retry) per call, and says why.
        wait_for(lambda: "API server unreachable" in op.log_path.read_text(errors="replace"), 40, "a bounded failure")
        assert time.monotonic() - frozen_at < 40
        assert _healthz(port) == 200  # reconciles do finish (and fail): the operator is alive
        proxy.frozen.clear()
        assert apply_monitor(cluster, namespace, minimal(gatling={"writePeriod": 7})).returncode == 0
        wait_for(
            lambda: '"writePeriod" = 7' in config_map_data(kube_api, namespace, "checkout-gatling")["gatling.conf"],
            90,
            "the operator to work again without a restart",
        )
        assert op.proc is not None and op.proc.poll() is None
    finally:
        op.stop()
        proxy.close()
