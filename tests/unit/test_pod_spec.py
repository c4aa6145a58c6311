"""The pod runner's reading of a runner pod (ltm_harness.pod_spec), on the shipped example Jobs'
pod templates: what it would start, and the errors that name the field and the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from ltm_harness import pod_status
from ltm_harness.cluster import runner_pods_left_alone
from ltm_harness.pod_spec import (
    FAULT_ANNOTATION,
    START_AT_ANNOTATION,
    PodSpecError,
    gatling_version,
    read_pod,
    resolve_env,
)
from ltm_harness.repo import REPO_ROOT

EXAMPLES = REPO_ROOT / "manifests" / "examples"
CONF = {"checkout-gatling": {"gatling.conf": "gatling.data.writers = [console, file, graphite]\n"}}


def config_map(name: str) -> dict[str, str]:
    return CONF.get(name, {})


def pod_from(example: str, name: str = "checkout-load-0-abcde", **annotations: str) -> dict[str, Any]:
    template = copy.deepcopy(yaml.safe_load((EXAMPLES / example).read_text())["spec"]["template"])
    meta = {**template["metadata"], "name": name, "namespace": "perf", "uid": "u-1", "annotations": annotations}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}


def test_the_current_example_runs_gatling_3_15_with_its_forwarder_sidecar() -> None:
    pod = read_pod(pod_from("gatling-job-current.yaml", **{START_AT_ANNOTATION: "1700000000.5"}), config_map)
    assert pod.gatling_version == "3.15.1"
    assert pod.env["GATLING_RUNNER"] == "checkout-load-0-abcde"  # the downward API's metadata.name
    assert pod.simulation == "loadtest.CheckoutSimulation"
    assert pod.java_opts == "-XX:MaxRAMPercentage=75"
    assert (pod.conf_volume, pod.conf_config_map, pod.conf_key) == ("gatling-conf", "checkout-gatling", "gatling.conf")
    assert pod.sidecar is not None and pod.sidecar.name == "forward"
    assert pod.sidecar.args == (
        "--gatling-conf", "/opt/gatling/conf/gatling.conf", "--results", "/opt/gatling/results", "--until-sigterm"
    )
    assert pod.sidecar.mounts == {"/opt/gatling/conf": "gatling-conf", "/opt/gatling/results": "results"}
    assert pod.init_containers == ("wait-for-graphite",)
    assert pod.start_at == 1700000000.5 and pod.fault is None


def test_the_graphite_example_is_3_11_without_a_sidecar() -> None:
    pod = read_pod(pod_from("gatling-job.yaml"), config_map)
    assert pod.gatling_version == "3.11.5"
    assert pod.sidecar is None
    assert pod.start_at is None  # the start gate waits for the annotation


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("gatling-runner:3.15.1", "3.15.1"),
        ("registry.local:5000/team/gatling-runner:3.11.5", "3.11.5"),
        ("gatling-runner:3.12.0-myteam", "3.12.0"),
        (f"gatling-runner:3.13.5@sha256:{'0' * 64}", "3.13.5"),
    ],
)
def test_the_gatling_version_is_the_image_tags(image: str, version: str) -> None:
    assert gatling_version(image) == version


@pytest.mark.parametrize("image", ["gatling-runner", "gatling-runner:latest", "registry.local:5000/gatling-runner"])
def test_an_image_without_a_version_tag_is_refused_naming_the_field(image: str) -> None:
    with pytest.raises(PodSpecError, match=r"spec\.containers\[\]\.image .*gatling-runner:3\.15\.1"):
        gatling_version(image)


def test_env_is_built_as_the_kubelet_builds_it() -> None:
    pod = pod_from("gatling-job-current.yaml")
    pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] = "1"
    container = {
        "env": [
            {"name": "GATLING_RUNNER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "INDEX", "valueFrom": {"fieldRef": {
                "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
            {"name": "LABEL", "value": "$(GATLING_RUNNER)-$(INDEX)-$(UNDEFINED)-$$(GATLING_RUNNER)"},
            {"name": "CONF", "valueFrom": {"configMapKeyRef": {"name": "checkout-gatling", "key": "gatling.conf"}}},
        ]
    }
    env = resolve_env(pod, container, config_map)
    assert env["INDEX"] == "1"
    assert env["LABEL"] == "checkout-load-0-abcde-1-$(UNDEFINED)-$(GATLING_RUNNER)"
    assert env["CONF"].startswith("gatling.data.writers")


def test_a_missing_config_map_key_names_the_variable() -> None:
    container = {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "checkout-gatling", "key": "nope"}}}]}
    with pytest.raises(PodSpecError, match="env X: ConfigMap 'checkout-gatling' has no key 'nope'"):
        resolve_env(pod_from("gatling-job.yaml"), container, config_map)


def test_bad_annotations_name_the_annotation() -> None:
    with pytest.raises(PodSpecError, match=r"loadtest\.dev/start-at.*epoch seconds"):
        read_pod(pod_from("gatling-job.yaml", **{START_AT_ANNOTATION: "soon"}), config_map)
    with pytest.raises(PodSpecError, match=r"harness\.loadtest\.dev/fault.*crash, no-forwarder, drop-metrics"):
        read_pod(pod_from("gatling-job.yaml", **{FAULT_ANNOTATION: "explode"}), config_map)


def test_a_pod_without_the_conf_volume_says_what_to_mount() -> None:
    pod = pod_from("gatling-job.yaml")
    pod["spec"]["containers"][0]["volumeMounts"] = []
    with pytest.raises(PodSpecError, match="mount the monitor's <name>-gatling ConfigMap"):
        read_pod(pod, config_map)


def test_the_terminated_status_carries_gatlings_exit_code() -> None:
    pod = read_pod(pod_from("gatling-job-current.yaml"), config_map)
    failed = pod_status.terminated(pod, 2, 1700000000, 1700000030, "assertions failed", sidecar_exit=0)["status"]
    assert failed["phase"] == "Failed"
    (gatling,) = failed["containerStatuses"]
    assert gatling["name"] == "gatling"
    assert gatling["state"]["terminated"]["exitCode"] == 2
    assert gatling["state"]["terminated"]["reason"] == "Error"
    assert gatling["state"]["terminated"]["finishedAt"] == "2023-11-14T22:13:50Z"
    assert [s["name"] for s in failed["initContainerStatuses"]] == ["wait-for-graphite", "forward"]
    ok = pod_status.terminated(pod, 0, 1700000000, 1700000030)["status"]
    assert ok["phase"] == "Succeeded"
    assert ok["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"


POD_COMPLETE = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .status.phase, operator: In, values: [Running]}
    - {key: '.metadata.ownerReferences.[].kind', operator: In, values: [Job]}
  next:
    statusTemplate: |
      phase: Succeeded
"""


def test_kwok_leaves_runner_pods_to_the_pod_runner() -> None:
    stage = yaml.safe_load(runner_pods_left_alone(POD_COMPLETE))
    expressions = stage["spec"]["selector"]["matchExpressions"]
    assert expressions[-1] == {"key": '.metadata.labels["loadtest.dev/run"]', "operator": "DoesNotExist"}
    assert expressions[:-1] == yaml.safe_load(POD_COMPLETE)["spec"]["selector"]["matchExpressions"]
    assert stage["spec"]["next"]["statusTemplate"] == "phase: Succeeded\n"
    other = POD_COMPLETE.replace("name: pod-complete", "name: pod-ready")
    assert runner_pods_left_alone(other) == other
