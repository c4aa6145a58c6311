"""The pod status a kubelet would report for a runner pod, as JSON merge patches (pure).

A merge patch replaces lists whole, so each patch carries every condition and container status:
what the Job controller reads (phase, the terminated container's exit code for podFailurePolicy)
is then exactly what these say.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ltm_harness.pod_spec import RunnerPod


def rfc3339(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditions(ready: bool, at: float) -> list[dict[str, str]]:
    status = "True" if ready else "False"
    return [
        {"type": kind, "status": value, "lastTransitionTime": rfc3339(at)}
        for kind, value in (
            ("PodScheduled", "True"),
            ("Initialized", "True"),
            ("ContainersReady", status),
            ("Ready", status),
        )
    ]


def running(pod: RunnerPod, image: str, at: float) -> dict[str, Any]:
    """Running with the Gatling container started (what KWOK's pod-ready stage also writes)."""
    return {
        "status": {
            "phase": "Running",
            "startTime": rfc3339(at),
            "conditions": _conditions(True, at),
            "containerStatuses": [
                {
                    "name": pod.container,
                    "image": image,
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": rfc3339(at)}},
                }
            ],
        }
    }


def _terminated(name: str, image: str, code: int, started: float, finished: float, message: str) -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": rfc3339(started),
        "finishedAt": rfc3339(finished),
    }
    if message:
        state["message"] = message[-1024:]  # the kubelet's termination message is capped too
    return {
        "name": name,
        "image": image,
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {"terminated": state},
    }


def terminated(
    pod: RunnerPod,
    exit_code: int,
    started: float,
    finished: float,
    message: str = "",
    sidecar_exit: int | None = None,
) -> dict[str, Any]:
    """Succeeded (exit 0) or Failed, with the Gatling container's exit code; the init containers
    (the wait and the forwarder sidecar) as terminated too, the sidecar with its own exit code."""
    inits = [_terminated(name, "", 0, started, started, "") for name in pod.init_containers]
    if pod.sidecar is not None:
        inits.append(_terminated(pod.sidecar.name, "", sidecar_exit or 0, started, finished, ""))
    return {
        "status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "conditions": _conditions(False, finished),
            "containerStatuses": [_terminated(pod.container, pod.image, exit_code, started, finished, message)],
            "initContainerStatuses": inits,
        }
    }
