"""The load balancer contract of EKS: which controller makes the NLBs, and the annotations and
class it reads. The floor under the renderer (which writes them on Services), the spec (which
counts them against the API server's annotation limit) and the settings (which choose the mode):
none of them imports another for it.
"""

from __future__ import annotations

#: The operator's environment variable naming the mode.
LB_MODE_ENV = "LTM_LOAD_BALANCER_MODE"
# Who makes the NLBs of LoadBalancer Services (an operator-level setting, LB_MODE_ENV):
#   aws-load-balancer-controller  the AWS Load Balancer Controller, driven by annotations (default)
#   eks-auto-mode                 EKS Auto Mode's built-in controller, chosen by spec.loadBalancerClass
LB_MODE_CONTROLLER = "aws-load-balancer-controller"
LB_MODE_EKS_AUTO = "eks-auto-mode"
LOAD_BALANCER_MODES = (LB_MODE_CONTROLLER, LB_MODE_EKS_AUTO)
EKS_AUTO_MODE_LB_CLASS = "eks.amazonaws.com/nlb"
_ANNOTATION_PREFIX = "service.beta.kubernetes.io/aws-load-balancer"
LB_SCHEME_ANNOTATION = f"{_ANNOTATION_PREFIX}-scheme"


def parse_load_balancer_mode(value: str) -> str:
    """The mode named by LTM_LOAD_BALANCER_MODE (empty: the default), or a one-line error."""
    mode = value.strip() or LB_MODE_CONTROLLER
    if mode not in LOAD_BALANCER_MODES:
        choices = ", ".join(LOAD_BALANCER_MODES)
        raise ValueError(f"{LB_MODE_ENV}={value!r} is unknown; set it to one of {choices}")
    return mode


def nlb_annotations(scheme: str) -> dict[str, str]:
    """AWS Load Balancer Controller NLB settings; `type: external` only counts at creation.
    The most the operator adds to a Service in any mode (EKS Auto Mode's set is a subset)."""
    return {
        f"{_ANNOTATION_PREFIX}-type": "external",
        f"{_ANNOTATION_PREFIX}-nlb-target-type": "ip",
        LB_SCHEME_ANNOTATION: scheme,
    }
