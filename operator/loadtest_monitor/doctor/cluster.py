"""Checks of the cluster, pure functions of the objects facts.py read (or None when absent).

What each needs on EKS, and where the cluster says it:
- Kubernetes >= 1.27 for the CRD (its CEL rules), >= 1.29 for native sidecars (the forwarder);
- the CRD Established, unfenced, and the same as this package's;
- the operator Deployment (labels of the kustomize base and the chart) available, pods healthy;
- NLBs: the AWS Load Balancer Controller (Deployment kube-system/aws-load-balancer-controller,
  or its elbv2.k8s.aws CRDs) or EKS Auto Mode (its eks.amazonaws.com NodeClass CRD), matching
  the operator's LTM_LOAD_BALANCER_MODE;
- a StorageClass (named, or the default) when a monitor has storage, with its CSI driver;
- NetworkPolicy enforcement: the VPC CNI's node agent (container aws-eks-nodeagent of DaemonSet
  kube-system/aws-node, image aws-network-policy-agent) run with --enable-network-policy=true,
  or on EKS Auto Mode `enable-network-policy-controller: "true"` in ConfigMap
  kube-system/amazon-vpc-cni; else Graphite is open to every pod of the cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_monitor.doctor.result import Check, fail, ok, warn
from loadtest_monitor.identity import CRD_NAME
from loadtest_monitor.render.common import LB_MODE_CONTROLLER, LB_MODE_EKS_AUTO, parse_load_balancer_mode

Obj = dict[str, Any]

CRD_FLOOR = (1, 27)  # the CRD's CEL rules use only what 1.27 has (tests/integration/test_validation_floor.py)
SIDECAR_FLOOR = (1, 29)  # native sidecars (restartPolicy: Always init containers) on by default

INSTALL_FIX = (
    "loadtest-monitor up -f monitor.yaml, or kubectl apply --server-side -k manifests/base, "
    "or helm install (docs/install.md)"
)
CRD_FILE = "crds/loadtest.dev_loadtestmonitors.yaml"

LBC_NAME = "aws-load-balancer-controller"
LBC_CRDS = ("targetgroupbindings.elbv2.k8s.aws", "ingressclassparams.elbv2.k8s.aws")
AUTO_MODE_CRD = "nodeclasses.eks.amazonaws.com"
LB_MODE_ENV = "LTM_LOAD_BALANCER_MODE"

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
EBS_CSI_DRIVER = "ebs.csi.aws.com"
# The in-tree EBS provisioner is served by the EBS CSI driver since CSI migration (1.23).
EBS_PROVISIONERS = {EBS_CSI_DRIVER: EBS_CSI_DRIVER, "kubernetes.io/aws-ebs": EBS_CSI_DRIVER}

NODE_AGENT_CONTAINER = "aws-eks-nodeagent"
NODE_AGENT_IMAGE = "aws-network-policy-agent"
NETWORK_POLICY_ARG = "--enable-network-policy"
VPC_CNI_CONFIG_KEY = "enable-network-policy-controller"
# DaemonSets of other CNIs that enforce NetworkPolicy on their own.
ENFORCING_CNIS = ("calico-node", "cilium", "antrea-agent", "kube-router", "weave-net")

VPC_CNI_FIX = (
    "turn on the VPC CNI's network policy support: aws eks update-addon --addon-name vpc-cni "
    '--configuration-values \'{"enableNetworkPolicy": "true"}\' (README, Security)'
)
AUTO_MODE_POLICY_FIX = (
    f"kubectl -n kube-system create configmap amazon-vpc-cni --from-literal={VPC_CNI_CONFIG_KEY}=true "
    "(EKS Auto Mode; README, Security)"
)


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


def _ref(obj: Mapping[str, Any]) -> str:
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
        where = ", ".join(_ref(d) for d in operators)
        out.append(warn(title, f"{len(operators)} operators ({where}) reconcile the same monitors", "keep one of them"))
    for deployment in operators:
        out.append(_one_operator(deployment))
    return out


def _one_operator(deployment: Mapping[str, Any]) -> Check:
    ref = _ref(deployment)
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
                ns, name = _ref(pod).split("/", 1)
                return warn(
                    "operator",
                    f"{_ref(pod)} restarted {cs['restartCount']} time(s)" + (f" (last: {last})" if last else ""),
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
    component = labels.get("app.kubernetes.io/name", "")
    where = {
        "influxdb": "spec.influxdb.image of the monitor",
        "grafana": "spec.grafana.image of the monitor",
    }.get(component, "the operator image (--operator-image, Helm image.repository/tag, or your kustomize overlay)")
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
                detail = f"{_ref(pod)} container {container}: image {image} {reason}"
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
                detail = f"{_ref(pod)} container {container}: {reason}" + (f" ({message})" if message else "")
                out.append(fail(title, detail, f"kubectl -n {ns} logs {name} -c {container} --previous"))
    return out or [ok(title, f"no crash loop among {len(pods)} pod(s)")]


# --- load balancers -------------------------------------------------------------------------------


def load_balancers(mode: str, controller: Mapping[str, Any] | None, crds: Sequence[str], needed: bool) -> Check:
    """`controller`: Deployment kube-system/aws-load-balancer-controller; `crds`: the names of the
    LBC and Auto Mode CRDs that exist; `needed`: a monitor in scope wants a LoadBalancer Service."""
    title = "load balancers"
    auto_mode = AUTO_MODE_CRD in crds
    if not needed:
        return ok(title, "not needed (no LoadBalancer Service in the monitors checked)")
    if mode == LB_MODE_EKS_AUTO:
        if auto_mode:
            return ok(title, f"EKS Auto Mode ({AUTO_MODE_CRD}), operator mode {mode}")
        return fail(
            title,
            f"the operator is in {mode} mode but this cluster shows no EKS Auto Mode (no {AUTO_MODE_CRD})",
            f"turn on EKS Auto Mode, or remove {LB_MODE_ENV} from the operator to use the AWS Load Balancer Controller",
        )
    if mode != LB_MODE_CONTROLLER:
        return fail(
            title,
            f"the operator's {LB_MODE_ENV}={mode} is unknown",
            f"set it to {LB_MODE_CONTROLLER} or {LB_MODE_EKS_AUTO}",
        )
    if controller is not None:
        return _controller_state(controller)
    if auto_mode:
        return fail(
            title,
            f"EKS Auto Mode cluster, but the operator is in {LB_MODE_CONTROLLER} mode and no {LBC_NAME} runs",
            f"set {LB_MODE_ENV}=eks-auto-mode on the operator (Helm: aws.loadBalancerMode=eks-auto-mode)",
        )
    if any(name in crds for name in LBC_CRDS):
        return warn(
            title,
            f"the AWS Load Balancer Controller's CRDs exist but no Deployment kube-system/{LBC_NAME}",
            "fine if it runs under another name or namespace; else install it (EKS user guide, Helm chart "
            "eks/aws-load-balancer-controller)",
        )
    return fail(
        title,
        f"no AWS Load Balancer Controller (kube-system/{LBC_NAME}) and no EKS Auto Mode: "
        "LoadBalancer Services get no NLB",
        "install the AWS Load Balancer Controller (Helm chart eks/aws-load-balancer-controller), or on EKS Auto Mode "
        f"set {LB_MODE_ENV}=eks-auto-mode; or use grafana.service.type: ClusterIP",
    )


def _controller_state(controller: Mapping[str, Any]) -> Check:
    ready = (controller.get("status") or {}).get("readyReplicas") or 0
    wanted = (controller.get("spec") or {}).get("replicas", 1)
    if ready < 1:
        return fail(
            "load balancers",
            f"{LBC_NAME} has no ready replica ({ready}/{wanted})",
            f"kubectl -n kube-system describe deploy/{LBC_NAME}",
        )
    return ok("load balancers", f"AWS Load Balancer Controller running ({ready}/{wanted} ready)")


# --- storage --------------------------------------------------------------------------------------


def default_classes(classes: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for sc in classes:
        annotations = (sc.get("metadata") or {}).get("annotations") or {}
        if any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS):
            out.append(str(sc["metadata"]["name"]))
    return out


def storage_classes(
    classes: Sequence[Mapping[str, Any]], csi_drivers: Sequence[str], wanted: Mapping[str, str | None]
) -> list[Check]:
    """`wanted`: monitor ref -> its storageClassName (None: the default) for monitors with storage on."""
    title = "StorageClass"
    defaults = default_classes(classes)
    by_name = {str(sc["metadata"]["name"]): sc for sc in classes}
    if not wanted:
        if defaults:
            return [ok(title, f"default {defaults[0]} (no monitor checked has storage on)")]
        return [
            warn(
                title,
                "no default StorageClass (no monitor checked has storage on)",
                "with influxdb.storage.enabled, set influxdb.storage.storageClassName, or mark a class default "
                '(annotation storageclass.kubernetes.io/is-default-class: "true")',
            )
        ]
    out = []
    for ref, name in sorted(wanted.items()):
        chosen = name or (defaults[0] if defaults else None)
        if chosen is None or chosen not in by_name:
            what = f"StorageClass {name} does not exist" if name else "no default StorageClass"
            known = ", ".join(sorted(by_name)) or "none"
            out.append(
                fail(
                    title,
                    f"{ref}: {what}: its PVC stays Pending",
                    f"set influxdb.storage.storageClassName to one of: {known}; on EKS install the EBS CSI driver "
                    "add-on and a gp3 StorageClass",
                )
            )
            continue
        out.append(_class_driver(ref, by_name[chosen], csi_drivers))
    return out


def _class_driver(ref: str, sc: Mapping[str, Any], csi_drivers: Sequence[str]) -> Check:
    name = sc["metadata"]["name"]
    driver = EBS_PROVISIONERS.get(str(sc.get("provisioner")))
    if driver is not None and driver not in csi_drivers:
        return fail(
            "StorageClass",
            f"{ref}: class {name} needs the EBS CSI driver ({driver}), which is not installed",
            "install the Amazon EBS CSI driver add-on (aws-ebs-csi-driver) with its IAM role",
        )
    return ok("StorageClass", f"{ref}: class {name} ({sc.get('provisioner')})")


# --- NetworkPolicy enforcement --------------------------------------------------------------------


def _node_agent(aws_node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    pod = ((aws_node.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or []:
        if container.get("name") == NODE_AGENT_CONTAINER or NODE_AGENT_IMAGE in str(container.get("image", "")):
            return dict(container)
    return None


def _policy_flag(container: Mapping[str, Any]) -> bool:
    args = [str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
    return any(a == f"{NETWORK_POLICY_ARG}=true" for a in args)


def network_policies(
    daemonsets: Sequence[Mapping[str, Any]], vpc_cni_config: Mapping[str, Any] | None, auto_mode: bool
) -> Check:
    """`daemonsets`: every DaemonSet of the cluster; `vpc_cni_config`: ConfigMap kube-system/amazon-vpc-cni."""
    title = "NetworkPolicy enforcement"
    aws_node = next((d for d in daemonsets if _ref(d) == "kube-system/aws-node"), None)
    config = (vpc_cni_config or {}).get("data") or {}
    if aws_node is not None:
        agent = _node_agent(aws_node)
        if agent is None:
            return warn(
                title,
                "the VPC CNI (aws-node) has no network policy agent: NetworkPolicies are not enforced, "
                "Graphite is open to every pod",
                "update the vpc-cni add-on (1.14 or later); " + VPC_CNI_FIX,
            )
        if not _policy_flag(agent):
            return warn(
                title,
                f"the VPC CNI's agent runs without {NETWORK_POLICY_ARG}=true: NetworkPolicies are not enforced, "
                "Graphite is open to every pod",
                VPC_CNI_FIX,
            )
        return ok(title, f"VPC CNI network policy agent on ({NETWORK_POLICY_ARG}=true)")
    if auto_mode:
        if config.get(VPC_CNI_CONFIG_KEY) == "true":
            return ok(title, f"EKS Auto Mode: {VPC_CNI_CONFIG_KEY} is true (ConfigMap kube-system/amazon-vpc-cni)")
        return warn(
            title,
            f"EKS Auto Mode without {VPC_CNI_CONFIG_KEY}: NetworkPolicies are not enforced, "
            "Graphite is open to every pod",
            AUTO_MODE_POLICY_FIX,
        )
    other = sorted({str(d["metadata"]["name"]) for d in daemonsets if d["metadata"]["name"] in ENFORCING_CNIS})
    if other:
        return ok(title, f"CNI {', '.join(other)} enforces NetworkPolicies")
    return warn(
        title,
        "no VPC CNI (kube-system/aws-node) and no other known enforcing CNI found: if yours does not enforce "
        "NetworkPolicies, Graphite is open to every pod",
        "on EKS: " + VPC_CNI_FIX,
    )


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
