"""LoadtestRun against the real control plane: the API server's schema, the operator as its own
process, the real Job controller and garbage collector.

KWOK runs no containers, so runner pods are kept off its nodes (a nodeSelector no node has) and
this test drives them the way a kubelet would: it patches their status to Running, or to
terminated with an exit code. Every assertion reads the cluster through pykube or kubectl.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pykube
import pytest
import yaml

from tests.integration.operator_support import (
    Operator,
    apply_monitor,
    get_monitor,
    minimal,
    running_operator,
    wait_for,
    wait_ready,
)

#: Runner pods stay unscheduled: KWOK would otherwise run and complete them on its own.
NO_NODE = {"loadtest.dev/test-no-such-node": "true"}
START_AT = "loadtest.dev/start-at"
FINALIZER = "loadtest.dev/active-runs"


@pytest.fixture(scope="module")
def operator(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    env = {"LTM_RUN_START_DELAY_SECONDS": "2", "LTM_RUN_DATA_GRACE_SECONDS": "2"}
    with running_operator(cluster, tmp_path_factory.mktemp("operator"), extra_env=env) as op:
        yield op


def run_manifest(name: str, monitor: str = "checkout", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "loadtest.dev/v1alpha1",
        "kind": "LoadtestRun",
        "metadata": {"name": name},
        "spec": {
            "monitorRef": {"name": monitor},
            "image": "gatling-runner:3.15.1",
            "simulation": "loadtest.CheckoutSimulation",
            "runners": 3,
            "nodeSelector": NO_NODE,
            **spec,
        },
    }


def kubectl_apply(cluster: Any, namespace: str, manifest: dict[str, Any]) -> Any:
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest))


def get_run(api: pykube.HTTPClient, namespace: str, name: str) -> dict[str, Any]:
    kind = pykube.object_factory(api, "loadtest.dev/v1alpha1", "LoadtestRun")
    return dict(kind.objects(api, namespace=namespace).get(name=name).obj)


def wait_phase(
    api: pykube.HTTPClient, namespace: str, name: str, phase: str, timeout: float = 60, interval: float = 0.5
) -> dict[str, Any]:
    seen: list[Any] = [None]

    def reached() -> dict[str, Any] | None:
        run = get_run(api, namespace, name)
        seen[0] = run.get("status")
        return run if (run.get("status") or {}).get("phase") == phase else None

    try:
        return wait_for(reached, timeout, f"LoadtestRun {name} {phase}", interval)
    except TimeoutError as err:
        raise TimeoutError(f"{err}; its status: {seen[0]}") from None


def runner_pods(api: pykube.HTTPClient, namespace: str, run: str, count: int) -> list[dict[str, Any]]:
    def all_there() -> list[dict[str, Any]] | None:
        pods = [
            dict(p.obj) for p in pykube.Pod.objects(api, namespace=namespace).filter(selector={"loadtest.dev/run": run})
        ]
        return sorted(pods, key=_index) if len(pods) == count else None

    return wait_for(all_there, 60, f"{count} runner pods of {run}")


def _index(pod: dict[str, Any]) -> int:
    return int(pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"])


def set_gatling(api: pykube.HTTPClient, pod: dict[str, Any], state: dict[str, Any], phase: str) -> None:
    """What a kubelet would report for the Gatling container (and the pod's phase)."""
    meta = pod["metadata"]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {
        "phase": phase,
        "startTime": now,
        "containerStatuses": [
            {
                "name": "gatling",
                "image": "gatling-runner:3.15.1",
                "imageID": "",
                "ready": "running" in state,
                "restartCount": 0,
                "state": state,
            }
        ],
    }
    resp = api.session.patch(
        f"{api.url}/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
        data=json.dumps({"status": status}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert resp.status_code == 200, resp.text


def running() -> dict[str, Any]:
    return {"running": {"startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}


def ended(code: int) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "terminated": {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": now,
            "finishedAt": now,
        }
    }


def live_pod(api: pykube.HTTPClient, pod: dict[str, Any]) -> dict[str, Any] | None:
    found = pykube.Pod.objects(api, namespace=pod["metadata"]["namespace"]).get_or_none(name=pod["metadata"]["name"])
    return dict(found.obj) if found else None


def events_of(api: pykube.HTTPClient, namespace: str, kind: str, name: str) -> list[str]:
    found = pykube.Event.objects(api, namespace=namespace).filter(
        field_selector={"involvedObject.kind": kind, "involvedObject.name": name}
    )
    # resourceVersion: the order the API server stored them (timestamps are whole seconds).
    return [e.obj["reason"] for e in sorted(found, key=lambda e: int(e.obj["metadata"]["resourceVersion"]))]


@pytest.fixture
def ready_monitor(cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str) -> str:
    applied = apply_monitor(cluster, namespace, minimal("checkout"))
    assert applied.returncode == 0, applied.stderr
    wait_ready(kube_api, namespace, "checkout")
    return "checkout"


def start_all(api: pykube.HTTPClient, namespace: str, run: str, count: int = 3) -> list[dict[str, Any]]:
    pods = runner_pods(api, namespace, run, count)
    for pod in pods:
        set_gatling(api, pod, running(), "Running")
    wait_phase(api, namespace, run, "Running")
    return pods


# --- the API server's schema ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"runners": 0}, "should be greater than or equal to 1"),
        ({"runners": 101}, "should be less than or equal to 100"),
        ({"image": "Gatling Runner"}, "image is [registry[:port]/]name[:tag]"),
        ({"simulation": "not a class"}, "spec.simulation"),
        ({"timeLimit": "1 hour"}, "spec.timeLimit"),
        ({"criteria": [{"metric": "p95", "max": 500, "min": 1}]}, "exactly one of max, min or baseline"),
        ({"criteria": [{"metric": "p95"}]}, "exactly one of max, min or baseline"),
        ({"criteria": [{"metric": "p42", "max": 1}]}, "Unsupported value"),
        ({"criteria": [{"metric": "errorRatio", "max": 5}]}, "errorRatio is a ratio from 0 to 1"),
        ({"env": [{"name": "JAVA_OPTS", "value": "-Xmx1g"}]}, "env must not set GATLING_RUNNER"),
        ({"systemProperties": {"loadtest.runners": "2"}}, "loadtest.* is set by the operator"),
    ],
)
def test_api_server_refuses_bad_runs_with_a_message(
    cluster: Any, namespace: str, change: dict[str, Any], words: str
) -> None:
    manifest = run_manifest("bad")
    manifest["spec"].update(change)
    result = kubectl_apply(cluster, namespace, manifest)
    assert result.returncode != 0
    assert words in result.stderr, result.stderr


def test_api_server_refuses_a_long_name_and_a_spec_change(cluster: Any, namespace: str) -> None:
    long = kubectl_apply(cluster, namespace, run_manifest("r" * 53))
    assert long.returncode != 0 and "at most 52 characters" in long.stderr
    # No monitor, no operator here: the run only exists.
    assert kubectl_apply(cluster, namespace, run_manifest("fixed")).returncode == 0
    changed = run_manifest("fixed", runners=5)
    result = kubectl_apply(cluster, namespace, changed)
    assert result.returncode != 0
    assert "create a new LoadtestRun" in result.stderr


def test_defaults_come_from_the_crd(cluster: Any, kube_api: pykube.HTTPClient, namespace: str) -> None:
    manifest = run_manifest("defaults")
    del manifest["spec"]["runners"]
    assert kubectl_apply(cluster, namespace, manifest).returncode == 0
    spec = get_run(kube_api, namespace, "defaults")["spec"]
    assert spec["runners"] == 1
    assert spec["timeLimit"] == "1h"
    assert spec["startTimeout"] == "10m"
    assert spec["ttlSecondsAfterFinished"] == 3600
    assert spec["command"] == ["/opt/gatling/bin/run.sh"]


def test_printer_columns(cluster: Any, namespace: str) -> None:
    assert kubectl_apply(cluster, namespace, run_manifest("cols")).returncode == 0
    shown = cluster.kubectl("get", "ltr", "-n", namespace)
    assert shown.returncode == 0, shown.stderr
    header = shown.stdout.splitlines()[0].split()
    assert header == ["NAME", "PHASE", "RUNNERS", "REQUESTS", "ERROR", "%", "P95", "VERDICT", "AGE"]


# --- the operator ---------------------------------------------------------------------------------


def test_a_run_waits_for_its_monitor_then_gives_up(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    assert (
        kubectl_apply(cluster, namespace, run_manifest("orphan", monitor="nowhere", startTimeout="25s")).returncode == 0
    )
    pending = wait_phase(kube_api, namespace, "orphan", "Pending", 30)
    assert pending["status"]["reason"] == "MonitorNotReady"
    assert "LoadtestMonitor nowhere does not exist" in pending["status"]["message"]
    failed = wait_phase(kube_api, namespace, "orphan", "Error", 60)
    assert failed["status"]["reason"] == "MonitorNotReady"
    assert "startTimeout (25s)" in failed["status"]["message"]
    conditions = {c["type"]: c for c in failed["status"]["conditions"]}
    assert conditions["Complete"]["status"] == "True"
    assert conditions["Passed"]["status"] == "False"
    assert not list(pykube.Job.objects(kube_api, namespace=namespace))
    assert events_of(kube_api, namespace, "LoadtestRun", "orphan") == ["Pending", "Error"]
    waited = cluster.kubectl("wait", "-n", namespace, "--for=condition=Complete", "--timeout=5s", "ltr/orphan")
    assert waited.returncode == 0, waited.stderr


def test_phases_and_start_at_only_once_every_runner_runs(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str, ready_monitor: str
) -> None:
    assert kubectl_apply(cluster, namespace, run_manifest("seq")).returncode == 0
    starting = wait_phase(kube_api, namespace, "seq", "Starting")
    assert starting["status"]["runnersSummary"] == "0/3"
    job = pykube.Job.objects(kube_api, namespace=namespace).get(name="seq").obj
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["backoffLimitPerIndex"] == 0
    assert job["metadata"]["ownerReferences"][0]["uid"] == starting["metadata"]["uid"]
    pods = runner_pods(kube_api, namespace, "seq", 3)
    for pod in pods[:2]:
        set_gatling(kube_api, pod, running(), "Running")
    wait_for(lambda: get_run(kube_api, namespace, "seq")["status"].get("runnersSummary") == "2/3" or None, 30, "2/3 up")
    time.sleep(2)  # the operator had every chance to set start-at too early
    assert all(START_AT not in (live_pod(kube_api, p) or {})["metadata"].get("annotations", {}) for p in pods)
    assert get_run(kube_api, namespace, "seq")["status"]["phase"] == "Starting"
    set_gatling(kube_api, pods[2], running(), "Running")
    run = wait_phase(kube_api, namespace, "seq", "Running")
    values = {(live_pod(kube_api, p) or {})["metadata"]["annotations"].get(START_AT) for p in pods}
    assert len(values) == 1 and None not in values, values
    start_at = float(values.pop() or 0)
    assert 0 < start_at - time.time() < 3  # now + the start delay (2 s), set just now
    assert run["status"]["runnersSummary"] == "3/3"
    assert ("loadtest.dev/active-runs") in get_monitor(kube_api, namespace, "checkout")["metadata"]["finalizers"]
    for pod in pods:
        set_gatling(kube_api, pod, ended(0), "Succeeded")
    # The monitor's InfluxDB runs on no node here: after the grace period for late summaries the
    # run is an Error that says why (ResultsUnreadable), never Passed on data nobody read.
    final = wait_phase(kube_api, namespace, "seq", "Error")
    assert final["status"]["reason"] == "ResultsUnreadable", final["status"]
    assert "cannot read the results" in final["status"]["message"]
    assert final["status"]["runnersSummary"] == "3/3"
    assert final["status"]["endTime"] and final["status"]["startAt"] and final["status"]["startTime"]
    assert events_of(kube_api, namespace, "LoadtestRun", "seq") == ["Starting", "Running", "Evaluating", "Error"]
    monitor = get_monitor(kube_api, namespace, "checkout")
    assert FINALIZER not in (monitor["metadata"].get("finalizers") or [])


def test_a_runner_crash_fails_the_run_and_stops_the_others(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str, ready_monitor: str
) -> None:
    assert kubectl_apply(cluster, namespace, run_manifest("crash")).returncode == 0
    pods = runner_pods(kube_api, namespace, "crash", 3)
    set_gatling(kube_api, pods[0], running(), "Running")
    set_gatling(kube_api, pods[1], ended(1), "Failed")
    failed = wait_phase(kube_api, namespace, "crash", "Failed")
    assert failed["status"]["reason"] == "RunnerFailed"
    assert pods[1]["metadata"]["name"] in failed["status"]["message"]
    assert "exit code 1" in failed["status"]["message"]
    job = pykube.Job.objects(kube_api, namespace=namespace).get(name="crash").obj
    assert job["spec"]["activeDeadlineSeconds"] < 3600  # cut short: the waiting runners are stopped
    assert live_pod(kube_api, pods[1]) is not None  # the crashed runner stays for its logs


def test_exit_2_of_one_runner_does_not_stop_the_others(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str, ready_monitor: str
) -> None:
    assert kubectl_apply(cluster, namespace, run_manifest("asserts")).returncode == 0
    pods = start_all(kube_api, namespace, "asserts")
    set_gatling(kube_api, pods[0], ended(2), "Failed")
    wait_for(
        lambda: (get_run(kube_api, namespace, "asserts")["status"].get("runners") or {}).get("failed") == 1 or None,
        30,
        "the failed runner counted",
    )
    time.sleep(3)  # time for the Job controller to act on the failed index
    job = pykube.Job.objects(kube_api, namespace=namespace).get(name="asserts").obj
    assert job["status"].get("active") == 2, job["status"]
    assert job["status"].get("failedIndexes") == "0"
    for pod in pods[1:]:
        live = live_pod(kube_api, pod)
        assert live is not None and not live["metadata"].get("deletionTimestamp")
    assert get_run(kube_api, namespace, "asserts")["status"]["phase"] == "Running"
    for pod in pods[1:]:
        set_gatling(kube_api, pod, ended(0), "Succeeded")
    final = wait_phase(kube_api, namespace, "asserts", "Error")
    # Exit 2 is not a crash: the verdict is about the data (unreadable here), not RunnerFailed.
    assert final["status"]["reason"] == "ResultsUnreadable", final["status"]
    assert final["status"]["runnersSummary"] == "3/3"


def test_monitor_deletion_waits_for_a_running_run(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str, ready_monitor: str
) -> None:
    assert kubectl_apply(cluster, namespace, run_manifest("busy")).returncode == 0
    pods = start_all(kube_api, namespace, "busy")
    deleted = cluster.kubectl("delete", "ltm", "checkout", "-n", namespace, "--wait=false")
    assert deleted.returncode == 0, deleted.stderr

    def waiting() -> dict[str, Any] | None:
        monitor = get_monitor(kube_api, namespace, "checkout")
        return monitor if (monitor.get("status") or {}).get("deletionWaitsFor") else None

    monitor = wait_for(waiting, 30, "the monitor says what its deletion waits for")
    assert monitor["metadata"]["deletionTimestamp"]
    assert monitor["status"]["deletionWaitsFor"]["runs"] == ["busy"]
    wait_for(
        lambda: "DeletionWaitsForRuns" in events_of(kube_api, namespace, "LoadtestMonitor", "checkout") or None,
        10,
        "the DeletionWaitsForRuns Event (posted right after the status)",
    )
    for pod in pods:
        set_gatling(kube_api, pod, ended(0), "Succeeded")
    wait_phase(kube_api, namespace, "busy", "Error")  # ended (its results unreadable here)

    def gone() -> bool | None:
        kind = pykube.object_factory(kube_api, "loadtest.dev/v1alpha1", "LoadtestMonitor")
        return True if kind.objects(kube_api, namespace=namespace).get_or_none(name="checkout") is None else None

    wait_for(gone, 30, "the monitor deleted once its run ended")


def test_status_survives_the_jobs_deletion(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str, ready_monitor: str
) -> None:
    assert kubectl_apply(cluster, namespace, run_manifest("kept", runners=1)).returncode == 0
    (pod,) = runner_pods(kube_api, namespace, "kept", 1)
    set_gatling(kube_api, pod, ended(1), "Failed")
    before = wait_phase(kube_api, namespace, "kept", "Failed")["status"]
    deleted = cluster.kubectl("delete", "job", "kept", "-n", namespace, "--cascade=foreground")
    assert deleted.returncode == 0, deleted.stderr
    wait_for(lambda: True if live_pod(kube_api, pod) is None else None, 30, "the runner pod gone with its Job")
    time.sleep(2)
    after = get_run(kube_api, namespace, "kept")["status"]
    assert after == before
