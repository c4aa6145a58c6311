"""What a user of the local control plane harness relies on, checked against the real thing."""

from __future__ import annotations

import functools
import json
import subprocess
import uuid
from typing import Any

import pykube
import pytest
import yaml

from ltm_harness.binaries import kubernetes_version
from ltm_harness.cluster import SELF_TEST_CRD, STORAGE_CLASS, LocalCluster
from ltm_harness.repo import PROJECT_CRDS_DIR
from ltm_harness.wait import wait_for

BUSYBOX = "busybox:1.36"  # never pulled: KWOK fakes the kubelet


def _condition(obj: dict[str, Any], kind: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


def _gone(obj: pykube.objects.APIObject) -> bool:
    return not obj.exists()


def _deployment(namespace: str, name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": BUSYBOX, "command": ["sleep", "3600"]}]},
            },
        },
    }


def _configmap(namespace: str, name: str, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **metadata},
        "data": {"key": "value"},
    }


def test_apiserver_reports_the_built_version(kube_api: pykube.HTTPClient) -> None:
    resp = kube_api.get(base="/version", version="")
    resp.raise_for_status()
    info = resp.json()
    expected = kubernetes_version()
    assert info["gitVersion"] == expected
    assert (info["major"], info["minor"]) == ("1", expected.split(".")[1])
    assert info["gitTreeState"] == "clean"
    assert not info["buildDate"].startswith("1970")


def test_kubectl_reports_the_built_version_for_client_and_server(cluster: LocalCluster) -> None:
    proc = cluster.kubectl("version", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    versions = json.loads(proc.stdout)
    assert versions["clientVersion"]["gitVersion"] == kubernetes_version()
    assert versions["serverVersion"]["gitVersion"] == kubernetes_version()


def test_env_points_kubectl_at_the_cluster(cluster: LocalCluster) -> None:
    proc = subprocess.run(
        [str(cluster.binaries.kubectl), "get", "nodes", "-o", "name"],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [f"node/{cluster.node_name}"]
    assert cluster.server.startswith("https://127.0.0.1:")


def test_kwok_node_is_ready_and_schedulable(kube_api: pykube.HTTPClient, cluster: LocalCluster) -> None:
    node = pykube.Node.objects(kube_api).get(name=cluster.node_name)
    assert _condition(node.obj, "Ready") == "True"
    assert node.annotations["kwok.x-k8s.io/node"] == "fake"
    assert not node.obj["spec"].get("taints")
    assert not node.unschedulable
    assert int(node.obj["status"]["allocatable"]["pods"]) >= 100
    assert cluster.api_get(f"/api/v1/nodes/{cluster.node_name}")["metadata"]["uid"] == node.metadata["uid"]


def test_deployment_becomes_available_and_its_deletion_cascades(
    kube_api: pykube.HTTPClient, cluster: LocalCluster, namespace: str
) -> None:
    deployment = pykube.Deployment(kube_api, _deployment(namespace, "web", replicas=2))
    deployment.create()

    def available() -> bool:
        deployment.reload()
        status = deployment.obj.get("status", {})
        return _condition(deployment.obj, "Available") == "True" and status.get("availableReplicas") == 2

    wait_for(available, 60, "Deployment web to become Available with 2 replicas")

    replicasets = list(pykube.ReplicaSet.objects(kube_api, namespace=namespace).filter(selector={"app": "web"}))
    assert len(replicasets) == 1
    assert replicasets[0].metadata["ownerReferences"][0]["uid"] == deployment.metadata["uid"]
    pods = list(pykube.Pod.objects(kube_api, namespace=namespace).filter(selector={"app": "web"}))
    assert len(pods) == 2
    for pod in pods:
        assert pod.obj["spec"]["nodeName"] == cluster.node_name  # placed by kube-scheduler
        assert pod.obj["status"]["phase"] == "Running"  # made so by KWOK
        assert pod.ready
        assert pod.obj["status"].get("podIP")
        assert pod.metadata["ownerReferences"][0]["uid"] == replicasets[0].metadata["uid"]

    deployment.delete(propagation_policy="Background")

    def cascaded() -> bool:
        rs_left = list(pykube.ReplicaSet.objects(kube_api, namespace=namespace).filter(selector={"app": "web"}))
        pods_left = list(pykube.Pod.objects(kube_api, namespace=namespace).filter(selector={"app": "web"}))
        return not rs_left and not pods_left

    wait_for(cascaded, 60, "the ReplicaSet and Pods of the deleted Deployment to be collected")


def test_job_runs_to_completion(kube_api: pykube.HTTPClient, namespace: str) -> None:
    job = pykube.Job(
        kube_api,
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "once", "namespace": namespace},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": BUSYBOX, "command": ["true"]}],
                    }
                },
            },
        },
    )
    job.create()

    def complete() -> bool:
        job.reload()
        return _condition(job.obj, "Complete") == "True"

    # KWOK's pod-complete stage makes a Job's running pod Succeeded; the job controller notices.
    wait_for(complete, 60, "Job once to complete")
    assert job.obj["status"]["succeeded"] == 1


def test_statefulset_becomes_ready(kube_api: pykube.HTTPClient, namespace: str) -> None:
    spec = _deployment(namespace, "db", replicas=2)
    spec.update(apiVersion="apps/v1", kind="StatefulSet")
    spec["spec"]["serviceName"] = "db"
    statefulset = pykube.StatefulSet(kube_api, spec)
    statefulset.create()

    def ready() -> bool:
        statefulset.reload()
        return statefulset.obj.get("status", {}).get("readyReplicas") == 2

    wait_for(ready, 60, "StatefulSet db to have 2 ready replicas")
    names = sorted(p.name for p in pykube.Pod.objects(kube_api, namespace=namespace).filter(selector={"app": "db"}))
    assert names == ["db-0", "db-1"]


def test_persistent_volume_claim_is_bound_and_its_pod_runs(
    kube_api: pykube.HTTPClient, cluster: LocalCluster, namespace: str
) -> None:
    assert cluster.volumes_supported
    claim = pykube.PersistentVolumeClaim(
        kube_api,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": namespace},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    claim.create()
    manifest = _deployment(namespace, "stateful", replicas=1)
    pod_spec = manifest["spec"]["template"]["spec"]
    pod_spec["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    pod_spec["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    deployment = pykube.Deployment(kube_api, manifest)
    deployment.create()

    def bound() -> bool:
        claim.reload()
        return claim.obj.get("status", {}).get("phase") == "Bound"

    wait_for(bound, 60, "PVC data to be Bound")
    assert claim.obj["spec"]["storageClassName"] == STORAGE_CLASS  # the default class
    volume = pykube.PersistentVolume.objects(kube_api).get(name=claim.obj["spec"]["volumeName"])

    def available() -> bool:
        deployment.reload()
        return _condition(deployment.obj, "Available") == "True" and deployment.obj["status"].get("readyReplicas") == 1

    wait_for(available, 60, "the Deployment using the PVC to become Available")

    deployment.delete(propagation_policy="Foreground")
    wait_for(lambda: _gone(deployment), 60, "the Deployment to go")
    claim.delete()
    # kube-controller-manager drops the PVC's protection finalizer; KWOK releases and deletes the volume.
    wait_for(lambda: _gone(claim) and _gone(volume), 60, "the PVC and its volume to go")


def test_garbage_collector_deletes_a_configmap_whose_owner_is_gone(kube_api: pykube.HTTPClient, namespace: str) -> None:
    owner = pykube.ConfigMap(kube_api, _configmap(namespace, "owner"))
    owner.create()
    owner_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata["uid"]}
    dependent = pykube.ConfigMap(kube_api, _configmap(namespace, "dependent", ownerReferences=[owner_ref]))
    dependent.create()
    bystander = pykube.ConfigMap(kube_api, _configmap(namespace, "bystander"))
    bystander.create()

    owner.delete()
    # The garbage collector re-reads discovery every 30 s at worst; give it well over that.
    wait_for(lambda: _gone(dependent), 90, "the dependent ConfigMap to be garbage collected")
    assert bystander.exists()


class _Widget(pykube.objects.NamespacedAPIObject):
    version = f"{SELF_TEST_CRD['spec']['group']}/v1"
    endpoint = "widgets"
    kind = "Widget"


def test_project_crds_are_installed_at_start(kube_api: pykube.HTTPClient) -> None:
    for path in PROJECT_CRDS_DIR.glob("*.yaml"):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        crd = pykube.CustomResourceDefinition.objects(kube_api).get(name=name)
        assert _condition(crd.obj, "Established") == "True"


def test_garbage_collector_deletes_dependents_of_a_custom_resource(kube_api: pykube.HTTPClient, namespace: str) -> None:
    """The operator's case: what a custom resource owns goes when it goes (CRD installed before the GC started)."""
    widget = _Widget(
        kube_api, {"apiVersion": _Widget.version, "kind": "Widget", "metadata": {"name": "w", "namespace": namespace}}
    )
    widget.create()
    owner_ref = {"apiVersion": _Widget.version, "kind": "Widget", "name": "w", "uid": widget.metadata["uid"]}
    dependent = pykube.ConfigMap(kube_api, _configmap(namespace, "owned-by-widget", ownerReferences=[owner_ref]))
    dependent.create()

    widget.delete()
    wait_for(lambda: _gone(dependent), 90, "the Widget's ConfigMap to be garbage collected")


def test_namespace_deletion_completes(kube_api: pykube.HTTPClient) -> None:
    name = f"ltm-test-ns-{uuid.uuid4().hex[:8]}"
    ns = pykube.Namespace(kube_api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    ns.create()
    pykube.ConfigMap(kube_api, _configmap(name, "data")).create()
    deployment = pykube.Deployment(kube_api, _deployment(name, "app", replicas=1))
    deployment.create()

    def one_ready_pod() -> bool:
        pods = list(pykube.Pod.objects(kube_api, namespace=name).filter(selector={"app": "app"}))
        return len(pods) == 1 and pods[0].ready

    wait_for(one_ready_pod, 60, "the namespace's pod to be Ready")

    ns.delete()
    # The namespace controller empties it (the pod's deletion is finished by KWOK), then removes it.
    wait_for(lambda: _gone(ns), 90, f"namespace {name} to be deleted")


def test_audit_log_records_the_requests_made(cluster: LocalCluster, namespace: str) -> None:
    agent = f"ltm-audit-test/{uuid.uuid4().hex[:8]}"
    api = pykube.HTTPClient(pykube.KubeConfig.from_file(str(cluster.kubeconfig_path)))
    api.session.headers["User-Agent"] = agent
    mark = cluster.audit_mark()

    cm = pykube.ConfigMap(api, _configmap(namespace, "audited"))
    cm.create()
    cm.reload()
    assert [c.name for c in pykube.ConfigMap.objects(api, namespace=namespace).filter()].count("audited") == 1
    cm.delete()

    def ours(verb: str) -> dict[str, Any] | None:
        for event in cluster.audit_events(since=mark):
            ref = event.get("objectRef") or {}
            if (
                event.get("userAgent") == agent
                and event.get("verb") == verb
                and event.get("stage") == "ResponseComplete"
                and ref.get("resource") == "configmaps"
                and ref.get("namespace") == namespace
            ):
                return event
        return None

    events = {
        verb: wait_for(functools.partial(ours, verb), 30, f"the audit event of the {verb}")
        for verb in ("create", "get", "list", "delete")
    }
    for verb in ("create", "get", "delete"):
        assert events[verb]["objectRef"]["name"] == "audited"
    assert events["create"]["responseStatus"]["code"] == 201
    assert events["create"]["user"]["username"] == "admin"
    assert "system:masters" in events["create"]["user"]["groups"]
    assert events["create"]["requestURI"].startswith(f"/api/v1/namespaces/{namespace}/configmaps")
    deleted = cluster.wait_for_audit_event(
        lambda e: e.get("userAgent") == agent and e.get("verb") == "delete", timeout=10, since=mark
    )
    assert deleted["auditID"] == events["delete"]["auditID"]


def test_components_use_distinct_identities(cluster: LocalCluster) -> None:
    users = {event.get("user", {}).get("username") for event in cluster.audit_events()}
    assert {"system:kube-controller-manager", "system:kube-scheduler", "kwok-controller"} <= users


@pytest.mark.parametrize("component", ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"])
def test_every_component_runs_and_logs(cluster: LocalCluster, component: str) -> None:
    assert cluster.alive()[component]
    assert cluster.log_path(component).exists()
