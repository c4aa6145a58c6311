"""The objects `loadtest-monitor up` installs: the CRD and the operator of the kustomize base.

They are read from the package (install_manifests/ holds the repository's crds/ and
manifests/base as links, and a built package holds their content), so `up` installs exactly what
`kubectl apply -k manifests/base` installs; a unit test compares the two with kustomize itself.
Only the two kustomize transformations the base uses are done here: `namespace` and `images`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml

from loadtest_monitor import __version__
from loadtest_monitor.identity import CLI_FIELD_MANAGER, INSTALL_ID_ANNOTATION, LABEL_MANAGED_BY

Obj = dict[str, Any]

# Cluster-scoped kinds keep no namespace (kustomize's namespace transformer skips them too).
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}


class ManifestsMissing(RuntimeError):
    pass


def _root() -> Traversable:
    root = resources.files("loadtest_monitor") / "install_manifests"
    if not (root / "base" / "kustomization.yaml").is_file():
        raise ManifestsMissing(
            "this loadtest-monitor package carries no install manifests (the operator image does not need them); "
            "run `up` from a pip-installed package or a checkout of the repository"
        )
    return root


def _documents(file: Traversable) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(file.read_text(encoding="utf-8")) if doc]


def crd_objects() -> list[Obj]:
    """The CustomResourceDefinition(s) of crds/."""
    crds = _root() / "crds"
    out: list[Obj] = []
    for file in sorted(crds.iterdir(), key=lambda f: f.name):
        if file.name.endswith(".yaml"):
            out += [d for d in _documents(file) if d.get("kind") == "CustomResourceDefinition"]
    return out


def _kustomization() -> Obj:
    return dict(yaml.safe_load((_root() / "base" / "kustomization.yaml").read_text(encoding="utf-8")))


# Written into the published package by the release workflow (.github/workflows/release.yml, job pypi).
PUBLISHED_REGISTRY_FILE = "published-registry.txt"


def _package_data() -> Traversable:
    return resources.files("loadtest_monitor") / "data"


def published_registry() -> str | None:
    """Where the release that built this package pushed its images (`<registry>/<owner>`), or None.

    The release workflow writes data/published-registry.txt into the package it publishes; a checkout
    of the repository has no such file (no registry host is written in the repository's files).
    """
    file = _package_data() / PUBLISHED_REGISTRY_FILE
    if not file.is_file():
        return None
    value = file.read_text(encoding="utf-8").strip().rstrip("/")
    return value or None


def default_image() -> str:
    """The operator image `up` installs by default: the kustomization's `images` entry (else this
    version), under the registry path of the release that published this package when there is one."""
    name, tag = "loadtest-monitor", __version__
    for entry in _kustomization().get("images") or []:
        if entry.get("name") == "loadtest-monitor":
            name, tag = str(entry.get("newName", name)), str(entry.get("newTag", tag))
    registry = published_registry()
    if registry and name == "loadtest-monitor":
        name = f"{registry}/{name}"
    return f"{name}:{tag}"


def _set_image(obj: Obj, images: Mapping[str, str]) -> None:
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
        name = str(container.get("image", "")).split(":")[0]
        if name in images:
            container["image"] = images[name]
            # The operator's own image is also its LoadtestRun pods' forwarder sidecar.
            for env in container.get("env") or []:
                if env.get("name") == "LTM_FORWARDER_IMAGE":
                    env["value"] = images[name]


def operator_objects(image: str | None = None) -> list[Obj]:
    """The base's own objects (Namespace, ServiceAccount, RBAC, Deployment), CRD excluded, in order."""
    kustomization = _kustomization()
    namespace = kustomization.get("namespace")
    images = {"loadtest-monitor": image or default_image()}
    base = _root() / "base"
    out: list[Obj] = []
    for resource in kustomization.get("resources") or []:
        if not str(resource).endswith(".yaml"):
            continue  # ../../crds: the CRD, installed on its own (crd_objects)
        for obj in _documents(base / str(resource)):
            if namespace and obj["kind"] not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = namespace
            for subject in obj.get("subjects") or []:
                if namespace and subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = namespace
            _set_image(obj, images)
            out.append(obj)
    return out


def operator_namespace() -> str:
    return str(_kustomization().get("namespace") or "loadtest-monitor-system")


# --- the proof that an object is of one `up` install ---------------------------------------------


def new_install_id() -> str:
    """122 random bits: no hand-made object or other tool's install carries it by accident."""
    return uuid.uuid4().hex


def install_id_of(obj: Mapping[str, Any] | None) -> str | None:
    """The install id `up` stamped on a live object, None if it carries none."""
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(INSTALL_ID_ANNOTATION)
    return str(value) if value else None


def stamp(obj: Mapping[str, Any], install_id: str) -> Obj:
    """A copy of a base object marked as installed by `up` (managed-by label, install id annotation)."""
    out = copy.deepcopy(dict(obj))
    meta = out.setdefault("metadata", {})
    meta.setdefault("labels", {})[LABEL_MANAGED_BY] = CLI_FIELD_MANAGER
    meta.setdefault("annotations", {})[INSTALL_ID_ANNOTATION] = install_id
    return out
