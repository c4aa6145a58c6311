"""The example Jobs users apply (manifests/examples/), read so the image tests run the containers
the way those Jobs do: the same mount paths, the same command and args. A test that hard-coded
them would keep passing after the example changed under it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "manifests" / "examples"
LEGACY_JOB = EXAMPLES / "gatling-job.yaml"  # Gatling 3.11.5, its own Graphite writer
CURRENT_JOB = EXAMPLES / "gatling-job-current.yaml"  # Gatling 3.12+, the forwarder sidecar


def container(job: Path, name: str) -> dict[str, Any]:
    """The container (or init container) called name in the Job's pod template."""
    pod: dict[str, Any] = yaml.safe_load(job.read_text())["spec"]["template"]["spec"]
    for found in [*pod.get("initContainers", []), *pod["containers"]]:
        if found["name"] == name:
            return dict(found)
    raise AssertionError(f"{job.name} has no container {name!r}")


def mount_path(spec: dict[str, Any], volume: str, *, read_only: bool) -> str:
    """Where the container mounts volume, checking that it mounts it read-only (or writable) and
    whole (no subPath), as the test relies on."""
    mounts = {m["name"]: m for m in spec["volumeMounts"]}
    mount = mounts[volume]
    assert bool(mount.get("readOnly")) is read_only, (spec["name"], mount)
    assert "subPath" not in mount, (spec["name"], mount)
    return str(mount["mountPath"])


def pod_user(job: Path) -> str:
    """`UID:GID` every container of the pod runs as (the pod's securityContext)."""
    ctx = yaml.safe_load(job.read_text())["spec"]["template"]["spec"]["securityContext"]
    return f"{ctx['runAsUser']}:{ctx['runAsGroup']}"
