"""Checks of the EKS add-ons a monitor relies on, pure functions of the objects facts.py read.

No AWS API is called: each add-on leaves objects in the cluster that say whether it is there.
- NLBs: the AWS Load Balancer Controller (Deployment kube-system/aws-load-balancer-controller, or
  its elbv2.k8s.aws CRDs) or EKS Auto Mode (its eks.amazonaws.com NodeClass CRD), matching the
  operator's LTM_LOAD_BALANCER_MODE;
- a StorageClass (named, or the default) when a monitor has storage, with the EBS CSI driver's
  CSIDriver object for EBS classes;
- NetworkPolicy enforcement: the VPC CNI's node agent (container aws-eks-nodeagent of DaemonSet
  kube-system/aws-node, image aws-network-policy-agent) run with --enable-network-policy=true,
  or on EKS Auto Mode `enable-network-policy-controller: "true"` in ConfigMap
  kube-system/amazon-vpc-cni; else Graphite is open to every pod of the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_monitor.doctor.cluster import ref_of
from loadtest_monitor.doctor.result import Check, fail, ok, warn
from loadtest_monitor.load_balancer import LB_MODE_CONTROLLER, LB_MODE_EKS_AUTO, LB_MODE_ENV

LBC_NAME = "aws-load-balancer-controller"
LBC_CRDS = ("targetgroupbindings.elbv2.k8s.aws", "ingressclassparams.elbv2.k8s.aws")
AUTO_MODE_CRD = "nodeclasses.eks.amazonaws.com"

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
    aws_node = next((d for d in daemonsets if ref_of(d) == "kube-system/aws-node"), None)
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
