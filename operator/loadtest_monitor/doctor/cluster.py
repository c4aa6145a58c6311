"""Checks of the cluster and the operator, pure functions of the objects facts.py read (None: absent).

- Kubernetes >= 1.27 for the CRD (its CEL rules), >= 1.29 for native sidecars (the forwarder);
- the CRD Established, unfenced, and the same as this package's;
- the operator Deployment (labels of the kustomize base and the chart) available, its pods healthy;
- no pod of the operator or the monitors in ImagePullBackOff or a crash loop;
- the rights `up` needs to install. The EKS add-ons are checked in eks.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_monitor.doctor.result import Check, fail, ok, warn
from loadtest_monitor.identity import CRD_NAME, LABEL_NAME
from loadtest_monitor.load_balancer import LB_MODE_CONTROLLER, LB_MODE_ENV, parse_load_balancer_mode

CRD_FLOOR = (1, 27)  # the CRD's CEL rules use only what 1.27 has (tests/integration/test_validation_floor.py)
SIDECAR_FLOOR = (1, 29)  # native sidecars (restartPolicy: Always init containers) on by default

INSTALL_FIX = (
    "loadtest-monitor up -f monitor.yaml, or kubectl apply --server-side -k manifests/base, "
    "or helm install (docs/install.md)"
)
CRD_FILE = "crds/loadtest.dev_loadtestmonitors.yaml"


# --- Kubernetes version ---------------------------------------------------------------------------


def parse_version(info: Mapping[str, Any]) -> tuple[int, int] | None:
    """(major, minor) of /version; EKS reports minor as e.g. "29+"."""
    major = re.match(r"\d+", str(info.get("major", "")))
    minor = re.match(r"\d+", str(info.get("minor", "")))
    if major and minor:
        return int(major.group()), int(minor.group())
    found = re.match(r"v?(\d+)\.(\d+)", str(info.get("gitVersion", "")))
    return (int(found.group(1)), int(found.group(2))) if found else None


def kubernetes_version(info: Mapping[str, Any]) -> Check:
    title = "Kubernetes version"
    version = parse_version(info)
    git = str(info.get("gitVersion", "?"))
    if version is None:
        return warn(title, f"cannot read the version ({git})")
    if version < CRD_FLOOR:
        return fail(title, f"{git} is older than 1.27: the CRD's validation rules need 1.27", "upgrade the cluster")
    if version < SIDECAR_FLOOR:
        return warn(
            title,
            f"{git}: monitors work, but the Gatling forwarder sidecar needs native sidecars (1.29)",
            "upgrade the cluster to 1.29 or later before using the forwarder (docs/runners.md)",
        )
    return ok(title, f"{git} (>= 1.29: CRD and native sidecars)")


# --- CRD ------------------------------------------------------------------------------------------


def _established(crd: Mapping[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def crd_installed(crd: Mapping[str, Any] | None, packaged: Mapping[str, Any] | None, fenced: bool) -> Check:
    """`packaged`: the CRD this package carries (None when it carries none, as in the operator image)."""
    title = f"CRD {CRD_NAME}"
    if crd is None:
        return fail(title, "not installed", INSTALL_FIX)
    if not _established(crd):
        return fail(title, "not Established", f"kubectl describe crd {CRD_NAME} (its conditions say why)")
    if fenced:
        return fail(
            title,
            "fenced by an interrupted `loadtest-monitor down --uninstall`: no monitor can be written",
            f"loadtest-monitor up (lifts the fence), or kubectl apply --server-side -f {CRD_FILE}",
        )
    if packaged is None:
        return ok(title, "installed (this package carries no CRD to compare with)")
    if (crd.get("spec") or {}).get("versions") != (packaged.get("spec") or {}).get("versions"):
        return warn(
            title,
            "installed, but not the CRD of this loadtest-monitor version (newer fields would be dropped)",
            f"kubectl apply --server-side -f {CRD_FILE} (Helm never upgrades CRDs)",
        )
    return ok(title, "installed and current")


# --- operator -------------------------------------------------------------------------------------


def ref_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


def load_balancer_mode(operator: Mapping[str, Any] | None) -> str:
    """The operator's LTM_LOAD_BALANCER_MODE (its Deployment's env), the default without one."""
    if operator is None:
        return LB_MODE_CONTROLLER
    pod = ((operator.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == LB_MODE_ENV:
                try:
                    return parse_load_balancer_mode(str(env.get("value") or ""))
                except ValueError:
                    return str(env.get("value"))
    return LB_MODE_CONTROLLER


def operator_running(operators: Sequence[Mapping[str, Any]]) -> list[Check]:
    title = "operator"
    if not operators:
        return [fail(title, "not running (no operator Deployment in any namespace)", INSTALL_FIX)]
    out: list[Check] = []
    if len(operators) > 1:
        where = ", ".join(ref_of(d) for d in operators)
        out.append(warn(title, f"{len(operators)} operators ({where}) reconcile the same monitors", "keep one of them"))
    for deployment in operators:
        out.append(_one_operator(deployment))
    return out


def _one_operator(deployment: Mapping[str, Any]) -> Check:
    ref = ref_of(deployment)
    ns, name = ref.split("/", 1)
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    ready = (deployment.get("status") or {}).get("readyReplicas") or 0
    if wanted == 0:
        return fail("operator", f"{ref} is scaled to 0", f"kubectl -n {ns} scale deploy/{name} --replicas=1")
    if ready < 1 or _condition(deployment, "Available").get("status") != "True":
        return fail(
            "operator",
            f"{ref} not available ({ready}/{wanted} ready)",
            f"kubectl -n {ns} describe deploy/{name}; kubectl -n {ns} logs deploy/{name}",
        )
    return ok(
        "operator", f"{ref} running ({ready}/{wanted} ready, load balancer mode {load_balancer_mode(deployment)})"
    )


def watched_namespaces(operator: Mapping[str, Any]) -> list[str] | None:
    """The namespaces the operator's `run` watches (`-n`/`--namespace`, repeated); None: all."""
    pod = ((operator.get("spec") or {}).get("template") or {}).get("spec") or {}
    found: list[str] = []
    for container in pod.get("containers") or []:
        args = [str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
        for i, arg in enumerate(args):
            if arg in ("-n", "--namespace") and i + 1 < len(args):
                found.append(args[i + 1])
            elif arg.startswith("--namespace="):
                found.append(arg.split("=", 1)[1])
    return found or None


def operator_watches(operators: Sequence[Mapping[str, Any]], namespace: str) -> Check | None:
    """A monitor in a namespace no operator watches never gets a status (Helm watch.namespaces)."""
    scopes = [watched_namespaces(d) for d in operators]
    if not operators or any(scope is None or namespace in scope for scope in scopes):
        return None
    watched = sorted({ns for scope in scopes for ns in scope or []})
    return fail(
        "operator",
        f"watches only {', '.join(watched)}, not {namespace}",
        f"add --namespace {namespace} to its args and a RoleBinding there (Helm: watch.namespaces; docs/install.md)",
    )


def operator_restarts(pods: Sequence[Mapping[str, Any]]) -> Check | None:
    """An operator restarted by its liveness probe (a hung reconcile) or killed (OOM): worth a look."""
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs.get("restartCount"):
                last = ((cs.get("lastState") or {}).get("terminated") or {}).get("reason", "")
                ns, name = ref_of(pod).split("/", 1)
                return warn(
                    "operator",
                    f"{ref_of(pod)} restarted {cs['restartCount']} time(s)" + (f" (last: {last})" if last else ""),
                    f"kubectl -n {ns} logs {name} --previous",
                )
    return None


# --- pods: images and crash loops ------------------------------------------------------------------

PULL_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName")
CRASH_REASONS = ("CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError")


def _waiting(pod: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(container, image, reason, message) of every container of the pod waiting for a reason."""
    status = pod.get("status") or {}
    out = []
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            out.append(
                (str(cs.get("name")), str(cs.get("image", "")), str(waiting["reason"]), waiting.get("message", ""))
            )
    return out


def pull_fix(pod: Mapping[str, Any]) -> str:
    """Where the image of a pod is set: the monitor's spec, or the operator's install."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    component = labels.get(LABEL_NAME, "")
    where = {
        "influxdb": "spec.influxdb.image of the monitor",
        "grafana": "spec.grafana.image of the monitor",
    }.get(
        component,
        "the operator image (`up --operator-image`, Helm image.registry, or your kustomize overlay's images:; "
        "`loadtest-monitor images push` copies it to your ECR)",
    )
    return (
        f"check that the image exists and the nodes can pull it (tag, registry access, imagePullSecrets; "
        f"ECR: the node role's ecr:GetAuthorizationToken and ecr:BatchGetImage), then correct {where}"
    )


def images_pullable(pods: Sequence[Mapping[str, Any]]) -> list[Check]:
    title = "images pullable"
    out = []
    for pod in pods:
        for container, image, reason, message in _waiting(pod):
            if reason in PULL_REASONS:
                detail = f"{ref_of(pod)} container {container}: image {image} {reason}"
                out.append(fail(title, f"{detail} ({message})" if message else detail, pull_fix(pod)))
    return out or [ok(title, f"no ImagePullBackOff among {len(pods)} pod(s) of the operator and the monitors")]


def containers_running(pods: Sequence[Mapping[str, Any]]) -> list[Check]:
    title = "containers running"
    out = []
    for pod in pods:
        ns = (pod.get("metadata") or {}).get("namespace", "")
        name = (pod.get("metadata") or {}).get("name", "")
        for container, _image, reason, message in _waiting(pod):
            if reason in CRASH_REASONS:
                detail = f"{ref_of(pod)} container {container}: {reason}" + (f" ({message})" if message else "")
                out.append(fail(title, detail, f"kubectl -n {ns} logs {name} -c {container} --previous"))
    return out or [ok(title, f"no crash loop among {len(pods)} pod(s)")]


# --- permissions to install -----------------------------------------------------------------------


def install_permissions(denied: Sequence[str]) -> Check:
    """`denied`: the "verb resource" pairs a SelfSubjectAccessReview refused."""
    title = "permissions to install"
    if denied:
        return warn(
            title,
            f"you may not {', '.join(denied)}: `loadtest-monitor up` cannot install or upgrade the CRD and operator",
            "ask a cluster admin to install them (docs/install.md)",
        )
    return ok(title, "you may create CRDs, ClusterRoles and ClusterRoleBindings")
