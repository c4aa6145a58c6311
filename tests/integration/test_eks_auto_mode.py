"""The operator started with LTM_LOAD_BALANCER_MODE=eks-auto-mode creates EKS Auto Mode Services.

The real API server accepts and stores spec.loadBalancerClass; the class is what Auto Mode's
controller selects Services by, so it must reach the cluster, not only the renderer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pykube
import pytest

from tests.integration.operator_support import Operator, apply_monitor, minimal, wait_ready

LB = "service.beta.kubernetes.io/aws-load-balancer"


@pytest.fixture(scope="module")
def auto_mode_operator(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    op = Operator(cluster, tmp_path_factory.mktemp("operator-auto-mode") / "operator.log")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LTM_LOAD_BALANCER_MODE", "eks-auto-mode")
        op.start()  # the subprocess's environment is a copy of ours, taken now
    try:
        yield op
    finally:
        op.stop()


def test_services_carry_the_auto_mode_class_and_the_scheme(
    cluster: Any, auto_mode_operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    manifest = minimal(
        grafana={"service": {"type": "LoadBalancer", "scheme": "internet-facing",
                             "loadBalancerSourceRanges": ["203.0.113.0/24"]}},
        graphite={"exposure": "InternalLoadBalancer", "allowedSourceRanges": ["10.20.0.0/16"]},
    )
    assert apply_monitor(cluster, namespace, manifest).returncode == 0
    wait_ready(kube_api, namespace, "checkout")
    services = {s.name: s.obj for s in pykube.Service.objects(kube_api, namespace=namespace)}
    grafana, graphite = services["checkout-grafana"], services["checkout-graphite"]
    for svc, scheme in ((grafana, "internet-facing"), (graphite, "internal")):
        assert svc["spec"]["type"] == "LoadBalancer"
        assert svc["spec"]["loadBalancerClass"] == "eks.amazonaws.com/nlb"
        ours = {k: v for k, v in (svc["metadata"].get("annotations") or {}).items() if k.startswith(LB)}
        assert ours == {f"{LB}-scheme": scheme}, auto_mode_operator.log_tail()
