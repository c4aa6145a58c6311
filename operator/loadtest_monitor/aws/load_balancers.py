"""What state is the NLB behind a Service in? (Elastic Load Balancing v2 through boto3.)

The AWS Load Balancer Controller writes the NLB's DNS name into the Service status as soon as
the NLB exists, minutes before it is `active` and its name resolves. Reporting the state beside
the URL tells a user why the URL does not answer yet. Enabled with LTM_AWS_LB_STATE=true; the
operator's ServiceAccount then needs elasticloadbalancing:DescribeLoadBalancers (IRSA).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# Once active, an NLB stays so; until then ask again at most this often per DNS name.
RECHECK_SECONDS = 30.0
FINAL_STATES = ("active",)


def find_state(elbv2: Any, dns_name: str) -> str:
    """The NLB's state code (provisioning, active, active_impaired, failed), or `unknown`."""
    paginator = elbv2.get_paginator("describe_load_balancers")
    for page in paginator.paginate():
        for lb in page.get("LoadBalancers", []):
            if str(lb.get("DNSName", "")).lower() == dns_name.lower():
                return str(lb.get("State", {}).get("Code", "unknown"))
    return "unknown"


class LoadBalancerStates:
    """A cached lookup, safe to call on every reconcile: AWS is asked at most every 30 s per name."""

    def __init__(self, elbv2: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.elbv2 = elbv2
        self.clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, dns_name: str) -> str:
        now = self.clock()
        with self._lock:
            cached = self._cache.get(dns_name)
        if cached is not None and (cached[0] in FINAL_STATES or now - cached[1] < RECHECK_SECONDS):
            return cached[0]
        try:
            state = find_state(self.elbv2, dns_name)
        except Exception as err:  # credentials, throttling, network: report, never fail a reconcile
            log.warning("cannot read the state of load balancer %s: %s", dns_name, err)
            state = "unknown"
        with self._lock:
            self._cache[dns_name] = (state, now)
        return state


def from_environment() -> LoadBalancerStates:
    import boto3

    return LoadBalancerStates(boto3.client("elbv2"))
