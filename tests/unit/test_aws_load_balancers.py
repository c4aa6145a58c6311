"""NLB state lookup against moto's Elastic Load Balancing v2 (AWS itself is out of reach here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from loadtest_monitor.aws.load_balancers import LoadBalancerStates, find_state
from loadtest_monitor.controller.status import addresses
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.spec.monitor import parse_spec

REGION = "eu-west-1"


@pytest.fixture
def elbv2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("elbv2", region_name=REGION)


def _nlb(elbv2: Any, name: str) -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    lb = elbv2.create_load_balancer(Name=name, Subnets=[subnet], Type="network", Scheme="internal")
    return str(lb["LoadBalancers"][0]["DNSName"])


def test_state_of_an_existing_nlb_and_of_an_unknown_name(elbv2: Any) -> None:
    dns = _nlb(elbv2, "k8s-perf-checkout")
    assert find_state(elbv2, dns) == "active"
    assert find_state(elbv2, dns.upper()) == "active"
    assert find_state(elbv2, "nothing.elb.example") == "unknown"


def test_cache_asks_aws_at_most_every_30_seconds_until_active(elbv2: Any) -> None:
    calls: list[str] = []

    class Counting:
        def get_paginator(self, name: str) -> Any:
            calls.append(name)
            return elbv2.get_paginator(name)

    clock = [0.0]
    states = LoadBalancerStates(Counting(), clock=lambda: clock[0])
    assert states("missing.elb.example") == "unknown"
    assert states("missing.elb.example") == "unknown"
    assert len(calls) == 1
    clock[0] = 31.0
    states("missing.elb.example")
    assert len(calls) == 2
    dns = _nlb(elbv2, "k8s-perf-grafana")
    assert states(dns) == "active"
    clock[0] = 1000.0
    assert states(dns) == "active"
    assert len(calls) == 3  # active is final: never asked again


def test_errors_are_reported_as_unknown_not_raised() -> None:
    class Broken:
        def get_paginator(self, name: str) -> Any:
            raise RuntimeError("no credentials")

    assert LoadBalancerStates(Broken())("x.elb.example") == "unknown"


def test_status_reports_the_state_beside_the_url() -> None:
    ctx = RenderContext(Owner("checkout", "perf", "uid"), parse_spec({}))
    service = {"status": {"loadBalancer": {"ingress": [{"hostname": "nlb.example"}]}}}
    status = addresses(ctx, service, None, lambda dns: f"state-of-{dns}")
    assert status["grafana"]["url"] == "http://nlb.example:3000"
    assert status["grafana"]["loadBalancerState"] == "state-of-nlb.example"
    without = addresses(ctx, service, None)
    assert "loadBalancerState" not in without["grafana"]
