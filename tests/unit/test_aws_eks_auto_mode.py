"""EKS Auto Mode (LTM_LOAD_BALANCER_MODE=eks-auto-mode) beside the AWS Load Balancer Controller default.

Both load balancer Services of a monitor (Grafana, and Graphite when exposed on an internal NLB)
are rendered in each mode: Auto Mode selects its NLB by spec.loadBalancerClass and keeps the
scheme annotation; the controller mode keeps its annotations and leaves the class to its webhook.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loadtest_monitor.cli.main import main
from loadtest_monitor.nlb import EKS_AUTO_MODE_LB_CLASS, LB_MODE_CONTROLLER, LB_MODE_EKS_AUTO, parse_load_balancer_mode
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.grafana import grafana_service
from loadtest_monitor.render.influxdb import graphite_service
from loadtest_monitor.spec.monitor import parse_spec

LB = "service.beta.kubernetes.io/aws-load-balancer"
SPEC = {
    "grafana": {"service": {"type": "LoadBalancer", "scheme": "internet-facing",
                            "loadBalancerSourceRanges": ["203.0.113.0/24"]}},
    "graphite": {"exposure": "InternalLoadBalancer", "allowedSourceRanges": ["10.20.0.0/16"]},
}


def services(mode: str) -> tuple[dict, dict]:
    ctx = RenderContext(Owner("checkout", "perf"), parse_spec(SPEC), load_balancer_mode=mode)
    return grafana_service(ctx), graphite_service(ctx)


def test_controller_mode_is_the_default_and_uses_annotations_only() -> None:
    assert RenderContext(Owner("a", "b"), parse_spec({})).load_balancer_mode == LB_MODE_CONTROLLER
    grafana, graphite = services(LB_MODE_CONTROLLER)
    assert grafana["metadata"]["annotations"] == {
        f"{LB}-type": "external",
        f"{LB}-nlb-target-type": "ip",
        f"{LB}-scheme": "internet-facing",
    }
    assert graphite["metadata"]["annotations"][f"{LB}-scheme"] == "internal"
    assert graphite["metadata"]["annotations"][f"{LB}-type"] == "external"
    for svc in (grafana, graphite):
        assert "loadBalancerClass" not in svc["spec"], "the controller's webhook sets the class; never fight it"
        assert svc["spec"]["type"] == "LoadBalancer"


def test_eks_auto_mode_sets_the_class_and_keeps_only_the_scheme() -> None:
    grafana, graphite = services(LB_MODE_EKS_AUTO)
    assert grafana["spec"]["loadBalancerClass"] == EKS_AUTO_MODE_LB_CLASS == "eks.amazonaws.com/nlb"
    assert graphite["spec"]["loadBalancerClass"] == "eks.amazonaws.com/nlb"
    assert grafana["metadata"]["annotations"] == {f"{LB}-scheme": "internet-facing"}
    assert graphite["metadata"]["annotations"] == {f"{LB}-scheme": "internal"}
    # Everything else is the same in both modes.
    assert grafana["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    assert graphite["spec"]["loadBalancerSourceRanges"] == ["10.20.0.0/16"]
    controller_grafana, _ = services(LB_MODE_CONTROLLER)
    assert grafana["spec"]["ports"] == controller_grafana["spec"]["ports"]
    assert grafana["spec"]["selector"] == controller_grafana["spec"]["selector"]


def test_cluster_ip_services_get_no_class_in_either_mode() -> None:
    for mode in (LB_MODE_CONTROLLER, LB_MODE_EKS_AUTO):
        ctx = RenderContext(Owner("checkout", "perf"), parse_spec({"grafana": {"service": {"type": "ClusterIP"}}}),
                            load_balancer_mode=mode)
        for svc in (grafana_service(ctx), graphite_service(ctx)):
            assert svc["spec"]["type"] == "ClusterIP"
            assert "loadBalancerClass" not in svc["spec"]
            assert not svc["metadata"].get("annotations")


def test_the_users_own_annotations_still_win_in_auto_mode() -> None:
    spec = {"grafana": {"service": {"type": "LoadBalancer", "annotations": {f"{LB}-scheme": "internal"}}}}
    ctx = RenderContext(Owner("checkout", "perf"), parse_spec(spec), load_balancer_mode=LB_MODE_EKS_AUTO)
    assert grafana_service(ctx)["metadata"]["annotations"][f"{LB}-scheme"] == "internal"


def test_setting_values() -> None:
    assert parse_load_balancer_mode("") == LB_MODE_CONTROLLER
    assert parse_load_balancer_mode("eks-auto-mode") == LB_MODE_EKS_AUTO
    with pytest.raises(ValueError, match=r"^LTM_LOAD_BALANCER_MODE='auto' is unknown; set it to one of "
                                          r"aws-load-balancer-controller, eks-auto-mode$"):
        parse_load_balancer_mode("auto")


def test_render_shows_what_the_operator_in_auto_mode_creates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    monitor = tmp_path / "monitor.yaml"
    monitor.write_text(yaml.safe_dump({"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor",
                                       "metadata": {"name": "checkout", "namespace": "perf"}, "spec": SPEC}))
    assert main(["render", "-f", str(monitor), "--load-balancer-mode", "eks-auto-mode"]) == 0
    objects = [o for o in yaml.safe_load_all(capsys.readouterr().out) if o]
    lbs = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service" and o["spec"]["type"] == "LoadBalancer"}
    assert sorted(lbs) == ["checkout-grafana", "checkout-graphite"]
    assert {o["spec"]["loadBalancerClass"] for o in lbs.values()} == {"eks.amazonaws.com/nlb"}
