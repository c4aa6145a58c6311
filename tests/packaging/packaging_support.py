"""Shared helpers of the packaging tests (no tests here).

The manifest tools are real binaries built from the Go module proxy by `make tools`
(hack/build-tools.sh) into a cache outside the repository, at the versions that script pins.
A missing tool is a test failure that says how to get it, never a skip.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from loadtest_monitor.spec.schema import crd_file
from ltm_harness.binaries import cache_root

ROOT = Path(__file__).resolve().parents[2]
CRD_FILE = crd_file()
RUN_CRD_FILE = crd_file("loadtestruns")
CRD_FILES = (CRD_FILE, RUN_CRD_FILE)
BASE = ROOT / "manifests" / "base"
CHART = ROOT / "charts" / "loadtest-monitor"
BUILD_TOOLS = ROOT / "hack" / "build-tools.sh"

OPERATOR_NAMESPACE = "loadtest-monitor-system"
# The Kubernetes version the chart is rendered for (Helm's own default is not what EKS runs).
KUBE_VERSION = "1.33.0"

Obj = dict[str, Any]


def _pinned(variable: str) -> str:
    match = re.search(rf"{variable}=\$\{{{variable}:-(v[0-9][^}}]*)\}}", BUILD_TOOLS.read_text())
    assert match, f"{BUILD_TOOLS} no longer pins {variable}"
    return match.group(1)


def tools_dir() -> Path:
    return cache_root() / "tools" / f"helm-{_pinned('HELM_VERSION')}-kustomize-{_pinned('KUSTOMIZE_VERSION')}"


def actionlint_binary() -> Path:
    """actionlint at the version hack/build-tools.sh pins (its own folder in the tools cache)."""
    path = cache_root() / "tools" / f"actionlint-{_pinned('ACTIONLINT_VERSION')}" / "actionlint"
    if not os.access(path, os.X_OK):
        raise _missing("actionlint", path)
    return path


def _missing(what: str, where: Path) -> AssertionError:
    return AssertionError(
        f"{what} not found at {where}. Build the pinned manifest tools with `make tools` "
        f"(bash hack/build-tools.sh: Helm, kustomize and actionlint from the Go module proxy, about 2 minutes cold)."
    )


def helm_binary() -> Path:
    helm = tools_dir() / "helm"
    if not os.access(helm, os.X_OK):
        raise _missing("helm", helm)
    return helm


def kustomize_command() -> list[str]:
    """The pinned standalone kustomize; else the control plane's `kubectl kustomize` if built."""
    kustomize = tools_dir() / "kustomize"
    if os.access(kustomize, os.X_OK):
        return [str(kustomize), "build"]
    for kubectl in sorted(cache_root().glob("control-plane/*/kubectl")):
        if os.access(kubectl, os.X_OK):
            return [str(kubectl), "kustomize"]
    raise _missing("kustomize (or the control plane's kubectl)", kustomize)


def run(cmd: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"`{shlex.join(cmd)}` exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def load_all(text: str) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(path: Path) -> list[Obj]:
    return load_all(run([*kustomize_command(), str(path)]).stdout)


def helm_template(*args: str, release: str = "loadtest-monitor", include_crds: bool = True) -> list[Obj]:
    cmd = [
        str(helm_binary()),
        "template",
        release,
        str(CHART),
        "--namespace",
        OPERATOR_NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
        *args,
    ]
    if include_crds:
        cmd.append("--include-crds")
    return load_all(run(cmd).stdout)


def source_crd(file: Path = CRD_FILE) -> Obj:
    docs = load_all(file.read_text())
    assert len(docs) == 1, f"{file} should hold exactly one CRD"
    return docs[0]


def source_crds() -> list[Obj]:
    """Every CRD of crds/ (LoadtestMonitor, LoadtestRun), in file-name order."""
    return [source_crd(f) for f in CRD_FILES]


def one(objs: Iterable[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def of_kind(objs: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


# --- Pod Security Standard "restricted" -------------------------------------------------------

RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def restricted_violations(pod_spec: Mapping[str, Any]) -> list[str]:
    """What keeps a pod spec from the "restricted" Pod Security Standard (empty when it complies).

    The pod must say runAsNonRoot with a numeric non-zero UID and RuntimeDefault seccomp itself,
    or every container must; each container must drop ALL capabilities and forbid privilege
    escalation. Stricter than the admission check in one way: we also want a read-only root
    filesystem and a numeric UID, which the images rely on.
    """
    problems = []
    pod_sc = pod_spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            problems.append(f"pod sets {flag}")
    for volume in pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} is of a type restricted forbids: {sorted(kinds)}")
    containers = [*(pod_spec.get("initContainers") or []), *pod_spec["containers"]]
    for c in containers:
        sc = c.get("securityContext") or {}
        name = c["name"]
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if not isinstance(uid, int) or uid == 0:
            problems.append(f"{name}: runAsUser must be a numeric non-zero UID, got {uid!r}")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile.type is {seccomp!r}")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{name}: capabilities.drop lacks ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {caps['add']}")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


# --- RBAC -------------------------------------------------------------------------------------

# What the operator does (see DESIGN.md and the operator's kube/client.py / kopf): (group, resource) ->
# verbs it needs, in the namespaces it watches ...
NAMESPACED_NEEDS: dict[tuple[str, str], set[str]] = {
    ("apps", "deployments"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "services"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "configmaps"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "persistentvolumeclaims"): {"get", "list", "watch", "create", "patch", "delete"},
    ("networking.k8s.io", "networkpolicies"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "secrets"): {"get", "create", "patch", "delete"},
    ("", "pods"): {"get", "list", "watch", "patch"},  # patch: the start-at annotation of runner pods
    ("batch", "jobs"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "events"): {"create"},
    ("loadtest.dev", "loadtestmonitors"): {"get", "list", "watch", "patch"},  # patch: the active-runs finalizer
    ("loadtest.dev", "loadtestruns"): {"get", "list", "watch"},
    ("loadtest.dev", "loadtestruns/status"): {"get", "patch"},
    ("loadtest.dev", "loadtestruns/finalizers"): {"update"},
    ("loadtest.dev", "loadtestmonitors/status"): {"get", "patch"},
    ("loadtest.dev", "loadtestmonitors/finalizers"): {"update"},
}
# ... and at cluster scope (kopf, cluster-wide mode).
CLUSTER_NEEDS: dict[tuple[str, str], set[str]] = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    ("", "namespaces"): {"list", "watch"},
}


def granted(roles: Iterable[Obj]) -> dict[tuple[str, str], set[str]]:
    """(group, resource) -> verbs granted by the rules of these roles. Wildcards fail loudly."""
    out: dict[tuple[str, str], set[str]] = {}
    for role in roles:
        for rule in role.get("rules") or []:
            assert "*" not in rule.get("verbs", []), f"{role['metadata']['name']}: wildcard verb {rule}"
            assert "*" not in rule.get("resources", []), f"{role['metadata']['name']}: wildcard resource"
            assert "*" not in rule.get("apiGroups", []), f"{role['metadata']['name']}: wildcard group"
            assert not rule.get("resourceNames"), "resourceNames are not expected here"
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def roles_bound_to(objs: list[Obj], sa_name: str, sa_namespace: str, binding_kind: str) -> list[Obj]:
    """The ClusterRoles that bindings of `binding_kind` grant to the service account."""
    names = set()
    for binding in of_kind(objs, binding_kind):
        for subject in binding["subjects"]:
            if (subject["kind"], subject["name"], subject.get("namespace")) == (
                "ServiceAccount",
                sa_name,
                sa_namespace,
            ):
                assert binding["roleRef"]["kind"] == "ClusterRole"
                names.add(binding["roleRef"]["name"])
    return [r for r in of_kind(objs, "ClusterRole") if r["metadata"]["name"] in names]


Grants = Mapping[tuple[str, str], set[str]]


def _difference(left: Grants, right: Grants) -> dict[tuple[str, str], list[str]]:
    """For each key of `left`: the verbs that `right` lacks (keys with none left out)."""
    return {key: sorted(verbs - right.get(key, set())) for key, verbs in left.items() if verbs - right.get(key, set())}


def missing_grants(have: Grants, need: Grants) -> dict[tuple[str, str], list[str]]:
    return _difference(need, have)


def excess_grants(have: Grants, allowed: Grants) -> dict[tuple[str, str], list[str]]:
    return _difference(have, allowed)


# --- Dockerfiles --------------------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        instruction, _, rest = full.partition(" ")
        out.append((instruction.upper(), rest.strip()))
    assert not pending, f"{path}: dangling line continuation"
    return out


def stages(path: Path) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, in order (the last one is the image)."""
    result: list[list[tuple[str, str]]] = []
    for instruction, rest in dockerfile_instructions(path):
        if instruction == "FROM":
            result.append([])
        assert result, f"{path}: {instruction} before the first FROM"
        result[-1].append((instruction, rest))
    return result
