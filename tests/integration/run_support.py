"""Helpers shared by this layer's tests."""

from __future__ import annotations

import json
import time
from typing import Any

import pykube
import yaml

from tests.integration.operator_support import (
    wait_for,
)


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


def events_of(api: pykube.HTTPClient, namespace: str, kind: str, name: str) -> list[str]:
    found = pykube.Event.objects(api, namespace=namespace).filter(
        field_selector={"involvedObject.kind": kind, "involvedObject.name": name}
    )
    # resourceVersion: the order the API server stored them (timestamps are whole seconds).
    return [e.obj["reason"] for e in sorted(found, key=lambda e: int(e.obj["metadata"]["resourceVersion"]))]


NO_NODE = {"loadtest.dev/test-no-such-node": "true"}


def _index(pod: dict[str, Any]) -> int:
    return int(pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"])
