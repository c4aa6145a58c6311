"""The operator works with exactly the RBAC it ships (manifests/base), and nothing more.

The ServiceAccount, ClusterRoles and bindings of the kustomize base are applied to the real API
server; the operator then runs with a token of that ServiceAccount and must bring a monitor to
Ready without a single request being refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykube
import pytest
import yaml

from ltm_harness.repo import PROJECT_CRDS_DIR
from tests.integration.operator_support import REPO, Operator, apply_monitor, minimal, wait_ready

SA_NAMESPACE = "loadtest-monitor-system"
SA_NAME = "loadtest-monitor"
RBAC_KINDS = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"}


def _sa_kubeconfig(cluster: Any, token: str, path: Path) -> Path:
    admin = yaml.safe_load(Path(cluster.kubeconfig_path).read_text())
    cluster_entry = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster_entry],
        "users": [{"name": SA_NAME, "user": {"token": token}}],
        "contexts": [{"name": SA_NAME, "context": {"cluster": cluster_entry["name"], "user": SA_NAME}}],
        "current-context": SA_NAME,
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def operator_as_service_account(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    rendered = cluster.kubectl("kustomize", str(REPO / "manifests" / "base"))
    assert rendered.returncode == 0, rendered.stderr
    rbac = [d for d in yaml.safe_load_all(rendered.stdout) if d and d["kind"] in RBAC_KINDS]
    assert {d["kind"] for d in rbac} == RBAC_KINDS
    applied = cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(rbac))
    assert applied.returncode == 0, applied.stderr
    crd = cluster.kubectl("apply", "--server-side", "-f", str(PROJECT_CRDS_DIR))
    assert crd.returncode == 0, crd.stderr
    token = cluster.kubectl("create", "token", SA_NAME, "-n", SA_NAMESPACE, "--duration=1h")
    assert token.returncode == 0, token.stderr
    work = tmp_path_factory.mktemp("rbac")
    op = Operator(
        cluster, work / "operator.log", kubeconfig=_sa_kubeconfig(cluster, token.stdout.strip(), work / "kubeconfig")
    )
    op.start()
    try:
        yield op
    finally:
        op.stop()


def test_shipped_rbac_is_enough_and_nothing_is_refused(
    cluster: Any, operator_as_service_account: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    mark = cluster.audit_mark()
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(kube_api, namespace, "checkout", timeout=120)
    user = f"system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"
    events = [
        e
        for e in cluster.audit_events(mark)
        if e.get("user", {}).get("username") == user and e.get("stage") == "ResponseComplete"
    ]
    assert events, "no request of the operator's ServiceAccount reached the API server"
    # Only this test's namespace and cluster scope: other tests leave namespaces terminating, and
    # the API server answers 403 to any create there, whoever asks.
    refused = [
        (e["verb"], e.get("objectRef", {}).get("resource"), e.get("responseStatus", {}).get("message", ""))
        for e in events
        if e.get("responseStatus", {}).get("code") in (401, 403)
        and e.get("objectRef", {}).get("namespace") in (None, namespace)
    ]
    assert refused == [], refused
    posted = cluster.kubectl("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=checkout")
    assert "Ready" in posted.stdout


def test_shipped_rbac_runs_a_loadtest_run(
    cluster: Any, operator_as_service_account: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    """Every request of a run's life (Job, start-at on the pods, the deadline cut by a crash, the
    monitor's finalizer, status and Events) with the shipped RBAC: none refused."""
    from tests.integration.test_runs import (
        ended,
        kubectl_apply,
        run_manifest,
        runner_pods,
        running,
        set_gatling,
        wait_phase,
    )

    mark = cluster.audit_mark()
    assert apply_monitor(cluster, namespace, minimal()).returncode == 0
    wait_ready(kube_api, namespace, "checkout", timeout=120)
    assert kubectl_apply(cluster, namespace, run_manifest("rbac", runners=2)).returncode == 0
    pods = runner_pods(kube_api, namespace, "rbac", 2)
    for pod in pods:
        set_gatling(kube_api, pod, running(), "Running")
    wait_phase(kube_api, namespace, "rbac", "Running")
    set_gatling(kube_api, pods[0], ended(0), "Succeeded")
    set_gatling(kube_api, pods[1], ended(0), "Succeeded")
    wait_phase(kube_api, namespace, "rbac", "Error", 120)  # its InfluxDB is not reachable from here
    user = f"system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"
    refused = [
        (e["verb"], e.get("objectRef", {}).get("resource"), e.get("responseStatus", {}).get("message", ""))
        for e in cluster.audit_events(mark)
        if e.get("user", {}).get("username") == user
        and e.get("stage") == "ResponseComplete"
        and e.get("responseStatus", {}).get("code") in (401, 403)
        and e.get("objectRef", {}).get("namespace") in (None, namespace)
    ]
    assert refused == [], refused


def test_shipped_rbac_is_least_privilege(cluster: Any, operator_as_service_account: Operator) -> None:
    user = f"system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"
    refused = (
        ("watch", "secrets"),
        ("list", "secrets"),
        ("create", "pods"),
        ("delete", "pods"),
        ("list", "nodes"),
        ("update", "loadtestmonitors.loadtest.dev"),
        ("create", "loadtestruns.loadtest.dev"),
        ("patch", "loadtestruns.loadtest.dev"),
    )
    for verb, resource in refused:
        answer = cluster.kubectl("auth", "can-i", verb, resource, "--all-namespaces", "--as", user)
        assert answer.stdout.strip() == "no", f"{verb} {resource}: {answer.stdout}"
    allowed = (
        ("patch", "loadtestmonitors.loadtest.dev", "--subresource=status"),
        ("create", "events", ""),
        ("patch", "deployments.apps", ""),
        ("delete", "persistentvolumeclaims", ""),
        ("get", "secrets", ""),
        ("watch", "pods", ""),  # label-selected, for crash loops and pull errors
        ("patch", "pods", ""),  # the start-at annotation of runner pods
        ("create", "jobs.batch", ""),  # a run's Indexed Job
        ("patch", "loadtestruns.loadtest.dev", "--subresource=status"),
        ("patch", "loadtestmonitors.loadtest.dev", ""),  # the active-runs finalizer
    )
    for verb, resource, extra in allowed:
        args = ["auth", "can-i", verb, resource, *([extra] if extra else []), "--all-namespaces", "--as", user]
        answer = cluster.kubectl(*args)
        assert answer.stdout.strip() == "yes", f"{verb} {resource} {extra}: {answer.stdout}"
