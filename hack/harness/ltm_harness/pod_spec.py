"""What a runner pod asks for, read from the pod object the way the kubelet reads it (pure: the
ConfigMaps it refers to come in through a lookup function).

A runner pod is one pod of the Indexed Job a LoadtestRun creates (label ``loadtest.dev/run``), or a
pod shaped like ``manifests/examples/gatling-job-current.yaml``'s template: one Gatling container,
optionally the forwarder as a native sidecar (an init container with ``restartPolicy: Always``), and
gatling.conf from a ConfigMap volume.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Selects the pods the pod runner runs (the LoadtestRun's Job puts it on its pod template).
RUN_LABEL = "loadtest.dev/run"
#: Epoch seconds at which every runner of a run starts (the pod's start gate waits for it).
START_AT_ANNOTATION = "loadtest.dev/start-at"
#: Fault injection for tests, one of FAULTS (a harness option can set it for pods without it).
FAULT_ANNOTATION = "harness.loadtest.dev/fault"
#: crash: exit 1 before sending anything; no-forwarder: the sidecar never starts (3.12+: no metrics);
#: drop-metrics: Graphite goes to a sink that discards it (any version: metrics never arrive).
FAULTS = ("crash", "no-forwarder", "drop-metrics")

GATLING_CONF_FILE = "gatling.conf"
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD_KEY = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")
_VERSION_TAG = re.compile(r"^(\d+\.\d+\.\d+)")


class PodSpecError(ValueError):
    """The pod cannot be run as a Gatling runner; the message names the field and the fix."""


@dataclass(frozen=True)
class Sidecar:
    """The forwarder container: its args, and where each of its volumes is mounted."""

    name: str
    args: tuple[str, ...]
    mounts: dict[str, str]  # mountPath -> volume name


@dataclass(frozen=True)
class RunnerPod:
    """One runner pod as the pod runner starts it."""

    namespace: str
    name: str
    uid: str
    container: str  # the Gatling container's name
    image: str
    gatling_version: str
    env: dict[str, str]
    conf_volume: str  # the ConfigMap volume that holds gatling.conf
    conf_config_map: str
    conf_key: str
    conf_path: str  # gatling.conf's path inside the volume (its item's path)
    mounts: dict[str, str]  # the Gatling container's mountPath -> volume name
    sidecar: Sidecar | None
    init_containers: tuple[str, ...] = ()
    start_at: float | None = None
    fault: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def simulation(self) -> str:
        return self.env.get("GATLING_SIMULATION", "")

    @property
    def java_opts(self) -> str:
        return self.env.get("JAVA_OPTS", "")


def gatling_version(image: str) -> str:
    """The Gatling version in the runner image's tag (``gatling-runner:3.15.1``, also
    ``…:3.11.5-myteam`` or ``…:3.15.1@sha256:…``)."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = name.split(":", 1)[1] if ":" in name else ""
    match = _VERSION_TAG.match(tag)
    if not match:
        raise PodSpecError(
            f"spec.containers[].image {image!r}: the pod runner reads the Gatling version from the image tag; "
            "tag the runner image with it (e.g. gatling-runner:3.15.1)"
        )
    return match.group(1)


def start_at(pod: Mapping[str, Any]) -> float | None:
    """The start gate's time (epoch seconds), None while the annotation is not there yet."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(START_AT_ANNOTATION)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise PodSpecError(
            f"metadata.annotations[{START_AT_ANNOTATION!r}] = {raw!r}: expected epoch seconds, "
            f"e.g. {int(time.time()) + 30}"
        ) from None


def _field_value(pod: Mapping[str, Any], path: str) -> str:
    meta = pod.get("metadata") or {}
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName", ""),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName", ""),
        "status.podIP": (pod.get("status") or {}).get("podIP", ""),
    }
    if path in simple:
        return str(simple[path])
    match = _FIELD_KEY.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    raise PodSpecError(f"env valueFrom.fieldRef.fieldPath {path!r}: not supported by the pod runner")


def _expand(value: str, defined: Mapping[str, str]) -> str:
    """The kubelet's $(VAR) expansion: defined variables only, $$ for a literal $."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return defined[name] if name in defined else m.group(0)

    return _VAR_REF.sub(one, value)


def resolve_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], config_map: Callable[[str], Mapping[str, str]]
) -> dict[str, str]:
    """The container's environment as the kubelet builds it (value, fieldRef, configMapKeyRef)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            prefix = source.get("prefix", "")
            env.update({prefix + k: v for k, v in config_map(source["configMapRef"]["name"]).items()})
    for entry in container.get("env") or []:
        name = entry["name"]
        if "value" in entry:
            env[name] = _expand(str(entry["value"]), env)
            continue
        ref = entry.get("valueFrom") or {}
        if "fieldRef" in ref:
            env[name] = _field_value(pod, ref["fieldRef"]["fieldPath"])
        elif "configMapKeyRef" in ref:
            key_ref = ref["configMapKeyRef"]
            data = config_map(key_ref["name"])
            if key_ref["key"] not in data:
                if key_ref.get("optional"):
                    continue
                raise PodSpecError(
                    f"env {name}: ConfigMap {key_ref['name']!r} has no key {key_ref['key']!r}: add it, or mark "
                    "the reference optional"
                )
            env[name] = data[key_ref["key"]]
        elif not ref:
            env[name] = ""
        else:
            raise PodSpecError(f"env {name}: valueFrom {sorted(ref)} is not supported by the pod runner")
    return env


def _conf_volume(spec: Mapping[str, Any], container: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(volume, ConfigMap, key, item path) of the volume that puts gatling.conf in the container."""
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"]) or {}
        cm = volume.get("configMap")
        if not cm:
            continue
        items = cm.get("items") or [{"key": GATLING_CONF_FILE, "path": GATLING_CONF_FILE}]
        for item in items:
            sub = mount.get("subPath")
            if sub and sub == item["path"] and mount["mountPath"].endswith("/" + GATLING_CONF_FILE):
                return mount["name"], cm["name"], item["key"], item["path"]
            if not sub and item["path"] == GATLING_CONF_FILE:
                return mount["name"], cm["name"], item["key"], item["path"]
    raise PodSpecError(
        f"container {container.get('name')!r}: no ConfigMap volume puts gatling.conf in it; mount the "
        "monitor's <name>-gatling ConfigMap (items: key gatling.conf, path gatling.conf)"
    )


def _sidecar(spec: Mapping[str, Any]) -> Sidecar | None:
    """The forwarder: a native sidecar whose command or args run `loadtest-monitor forward`."""
    for init in spec.get("initContainers") or []:
        words = [*(init.get("command") or []), *(init.get("args") or [])]
        if init.get("restartPolicy") == "Always" and "forward" in words:
            args = words[words.index("forward") + 1 :]
            mounts = {m["mountPath"]: m["name"] for m in init.get("volumeMounts") or []}
            return Sidecar(init["name"], tuple(args), mounts)
    return None


def read_pod(
    pod: Mapping[str, Any], config_map: Callable[[str], Mapping[str, str]], default_fault: str | None = None
) -> RunnerPod:
    """Everything the pod runner needs from one pod; PodSpecError naming the field otherwise."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        raise PodSpecError("spec.containers: a runner pod needs its Gatling container")
    container = next((c for c in containers if c.get("name") == "gatling"), containers[0])
    annotations = dict(meta.get("annotations") or {})
    fault = annotations.get(FAULT_ANNOTATION, default_fault)
    if fault is not None and fault not in FAULTS:
        raise PodSpecError(f"metadata.annotations[{FAULT_ANNOTATION!r}] = {fault!r}: use one of {', '.join(FAULTS)}")
    conf_volume, cm_name, cm_key, conf_path = _conf_volume(spec, container)
    env = resolve_env(pod, container, config_map)
    if not env.get("GATLING_SIMULATION"):
        raise PodSpecError(f"container {container['name']!r}: env GATLING_SIMULATION (the simulation class) is not set")
    return RunnerPod(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        container=container["name"],
        image=container.get("image", ""),
        gatling_version=gatling_version(container.get("image", "")),
        env=env,
        conf_volume=conf_volume,
        conf_config_map=cm_name,
        conf_key=cm_key,
        conf_path=conf_path,
        mounts={m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []},
        sidecar=_sidecar(spec),
        init_containers=tuple(
            c["name"] for c in spec.get("initContainers") or [] if c.get("restartPolicy") != "Always"
        ),
        start_at=start_at(pod),
        fault=fault,
        annotations=annotations,
    )
