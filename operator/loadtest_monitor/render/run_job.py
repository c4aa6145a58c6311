"""PURE: a LoadtestRun -> the Indexed Job that runs its N runners (the hand-written Job of
manifests/examples/gatling-job-current.yaml, made from the run and its monitor).

Each pod: an init container that waits for the monitor's Graphite port (Gatling's TCP sender
gives up after 5 failed connections), the forwarder as a native sidecar (always: the verdict is
made from the whole-run histograms it sends at the end; it decides from the log whether it also
forwards live), and the Gatling container, whose command is the start gate (render/start_gate.sh)
in front of the runner image's entry point. One runner's failure fails only its index
(backoffLimitPerIndex 0): a runner whose assertions fail (exit 2) does not stop the others, and
no runner is ever retried (a retry would replay its share of the load on top of the others).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from loadtest_monitor.identity import (
    API_VERSION,
    FIELD_MANAGER,
    GATLING_CONF_KEY,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_MONITOR,
    LABEL_NAME,
    LABEL_PART_OF,
    LABEL_RUN,
    PART_OF,
    RUN_KIND,
    START_AT_ANNOTATION,
)
from loadtest_monitor.render.common import container_security_context, pod_security_context
from loadtest_monitor.spec.run import RunSpec

Obj = dict[str, Any]

RUNNER_APP = "gatling-runner"
RUNNER_COMPONENT = "load-runner"
GATLING_CONTAINER = "gatling"
FORWARDER_CONTAINER = "forward"
WAIT_CONTAINER = "wait-for-graphite"
RUNNER_UID = 10001
CONF_DIR = "/opt/gatling/conf"
RESULTS_DIR = "/opt/gatling/results"
START_DIR = "/etc/loadtest"
START_FILE_NAME = "start-at"
START_FILE = f"{START_DIR}/{START_FILE_NAME}"
#: The Job controller's annotation with the pod's index (also in JOB_COMPLETION_INDEX, which it
#: appends to the env last, too late for a $(VAR) reference in JAVA_OPTS).
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
#: Gatling's container exit code when the gate gave up (0, 1, 2 are Gatling's own).
GATE_GAVE_UP_EXIT = 3
GATE_POLL_SECONDS = "0.2"


class GateTemplateError(ValueError):
    """A value that may not enter the start gate script, or a token left unfilled."""


@dataclass(frozen=True)
class RunJobContext:
    """What the Job is made of: the run (name, uid, spec) and facts of its monitor."""

    run: str
    namespace: str
    uid: str
    spec: RunSpec
    graphite_host: str
    graphite_port: int
    graphite_tcp: bool
    gatling_config_map: str
    forwarder_image: str
    wait_image: str
    #: The monitor's graphite.runnerPodSelector: its NetworkPolicy admits only pods with these labels.
    runner_labels: Mapping[str, str] = field(default_factory=dict)


# --- the start gate ----------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"@([A-Z_]+)@")
_SAFE_VALUE_RE = re.compile(r"[A-Za-z0-9_./-]+")


@cache
def gate_template() -> str:
    return resources.files("loadtest_monitor").joinpath("render/start_gate.sh").read_text(encoding="utf-8")


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replaces each @NAME@ with values[NAME]. Values are restricted to [A-Za-z0-9_./-], so none
    can end a quote or start a command; a token without a value is an error, not left behind."""
    for name, value in values.items():
        if not _SAFE_VALUE_RE.fullmatch(value):
            raise GateTemplateError(f"{name}={value!r} may not enter the start gate: only [A-Za-z0-9_./-]")

    def one(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise GateTemplateError(f"the start gate's @{match.group(1)}@ has no value")
        return values[match.group(1)]

    return _TOKEN_RE.sub(one, template)


def start_gate_script(wait_seconds: int) -> str:
    return fill(
        gate_template(),
        {"START_FILE": START_FILE, "WAIT_SECONDS": str(int(wait_seconds)), "POLL_SECONDS": GATE_POLL_SECONDS},
    )


# --- the Job -----------------------------------------------------------------------------------


def run_labels(ctx: RunJobContext) -> dict[str, str]:
    """On the Job and every runner pod. No app.kubernetes.io/instance: the monitor's watches key
    its own children by it, and runner pods are not the monitor's children."""
    return {
        **dict(sorted(ctx.runner_labels.items())),
        LABEL_NAME: RUNNER_APP,
        LABEL_COMPONENT: RUNNER_COMPONENT,
        LABEL_PART_OF: PART_OF,
        LABEL_MANAGED_BY: FIELD_MANAGER,
        LABEL_MONITOR: ctx.spec.monitor,
        LABEL_RUN: ctx.run,
    }


def run_owner_reference(ctx: RunJobContext) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": RUN_KIND,
        "name": ctx.run,
        "uid": ctx.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _kubelet_literal(text: str) -> str:
    """`$` doubled: the kubelet expands $(VAR) in env values, and `$$` gives back one `$`."""
    return text.replace("$", "$$")


def java_opts(spec: RunSpec) -> str:
    """JAVA_OPTS: the user's JVM options, then the runner's share and the system properties.
    $(LOADTEST_RUNNER_INDEX) is expanded by the kubelet (defined before JAVA_OPTS)."""
    parts = [_kubelet_literal(spec.java_opts.strip())] if spec.java_opts.strip() else []
    parts += [f"-Dloadtest.runners={spec.runners}", "-Dloadtest.runnerIndex=$(LOADTEST_RUNNER_INDEX)"]
    parts += [_kubelet_literal(f"-D{key}={value}") for key, value in sorted(spec.system_properties.items())]
    return " ".join(parts)


def _runner_env(ctx: RunJobContext) -> list[Obj]:
    spec = ctx.spec
    return [
        # Runner identity (one per pod, also per retry): the Graphite segment and the forwarder's tag.
        {"name": "GATLING_RUNNER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "LOADTEST_RUNNERS", "value": str(spec.runners)},
        {
            "name": "LOADTEST_RUNNER_INDEX",
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}},
        },
        {"name": "LOADTEST_START_AT_FILE", "value": START_FILE},
        {"name": "GATLING_SIMULATION", "value": spec.simulation},
        {"name": "JAVA_OPTS", "value": java_opts(spec)},
        *[dict(e) for e in spec.env],
    ]


def _gatling(ctx: RunJobContext) -> Obj:
    spec = ctx.spec
    container: Obj = {
        "name": GATLING_CONTAINER,
        "image": spec.image,
        # The gate gives up after startTimeout (the operator fails a run that does not start by then).
        "command": ["sh", "-c", start_gate_script(spec.start_timeout_seconds), "start-gate", *spec.command],
        "env": _runner_env(ctx),
        "volumeMounts": [
            {"name": "gatling-conf", "mountPath": CONF_DIR, "readOnly": True},
            {"name": "results", "mountPath": RESULTS_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "start-at", "mountPath": START_DIR, "readOnly": True},
        ],
        "securityContext": container_security_context(),
    }
    if spec.resources:
        container["resources"] = spec.resources
    return container


def _forwarder(ctx: RunJobContext) -> Obj:
    return {
        "name": FORWARDER_CONTAINER,
        "image": ctx.forwarder_image,
        # Native sidecar: starts before Gatling, stopped with SIGTERM once Gatling has ended.
        "restartPolicy": "Always",
        "command": ["loadtest-monitor"],
        "args": [
            "forward",
            "--gatling-conf",
            f"{CONF_DIR}/{GATLING_CONF_KEY}",
            "--results",
            RESULTS_DIR,
            "--until-sigterm",
        ],
        "env": [{"name": "GATLING_RUNNER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "volumeMounts": [
            {"name": "gatling-conf", "mountPath": CONF_DIR, "readOnly": True},
            {"name": "results", "mountPath": RESULTS_DIR, "readOnly": True},
        ],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": container_security_context(),
    }


_WAIT_SCRIPT = """deadline=$(( $(date +%s) + WAIT_TIMEOUT_SECONDS ))
until nc -z -w 2 "$GRAPHITE_HOST" "$GRAPHITE_PORT"; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "Graphite $GRAPHITE_HOST:$GRAPHITE_PORT not reachable after ${WAIT_TIMEOUT_SECONDS}s" >&2
    exit 1
  fi
  echo "waiting for Graphite $GRAPHITE_HOST:$GRAPHITE_PORT ..."
  sleep 2
done
echo "Graphite $GRAPHITE_HOST:$GRAPHITE_PORT accepts connections"
"""


def _wait_for_graphite(ctx: RunJobContext) -> Obj:
    return {
        "name": WAIT_CONTAINER,
        "image": ctx.wait_image,
        "command": ["sh", "-c", _WAIT_SCRIPT],
        "env": [
            {"name": "GRAPHITE_HOST", "value": ctx.graphite_host},
            {"name": "GRAPHITE_PORT", "value": str(ctx.graphite_port)},
            {"name": "WAIT_TIMEOUT_SECONDS", "value": str(ctx.spec.start_timeout_seconds)},
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
        "securityContext": container_security_context(),
    }


def _pod_spec(ctx: RunJobContext) -> Obj:
    spec = ctx.spec
    # UDP has no connection to wait for: only a TCP Graphite port is waited on.
    init = [_wait_for_graphite(ctx)] if ctx.graphite_tcp else []
    pod: Obj = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "securityContext": pod_security_context(RUNNER_UID),
        "initContainers": [*init, _forwarder(ctx)],
        "containers": [_gatling(ctx)],
        "volumes": [
            {
                "name": "gatling-conf",
                "configMap": {
                    "name": ctx.gatling_config_map,
                    "items": [{"key": GATLING_CONF_KEY, "path": GATLING_CONF_KEY}],
                },
            },
            {"name": "results", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
            {
                "name": "start-at",
                "downwardAPI": {
                    "items": [
                        {
                            "path": START_FILE_NAME,
                            "fieldRef": {"fieldPath": f"metadata.annotations['{START_AT_ANNOTATION}']"},
                        }
                    ]
                },
            },
        ],
    }
    if spec.node_selector:
        pod["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod["tolerations"] = [dict(t) for t in spec.tolerations]
    if spec.affinity:
        pod["affinity"] = dict(spec.affinity)
    return pod


def render_job(ctx: RunJobContext) -> Obj:
    """The run's Indexed Job; its name is the run's."""
    spec = ctx.spec
    labels = run_labels(ctx)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": ctx.run,
            "namespace": ctx.namespace,
            "labels": labels,
            "ownerReferences": [run_owner_reference(ctx)],
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": spec.runners,
            "parallelism": spec.runners,
            "backoffLimitPerIndex": 0,
            "activeDeadlineSeconds": spec.time_limit_seconds,
            "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": labels}, "spec": _pod_spec(ctx)},
        },
    }
