"""The operator reaches a monitor's InfluxDB HTTP port (it reads the runs' results there), and
nothing more: evaluated with the NetworkPolicy evaluator of test_render_network."""

from __future__ import annotations

from typing import Any

from loadtest_monitor.identity import OPERATOR_POD_LABELS
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.monitor import offline_credentials, render_all
from loadtest_monitor.spec.monitor import parse_spec
from tests.unit.network_support import NS, Pod, _pods, _policies, allowed

OPERATOR_NS = "loadtest-monitor-system"
# The pod labels of manifests/base and of the Helm chart (which adds its own name and instance).
OPERATOR = Pod("10.0.5.5", OPERATOR_NS, {**OPERATOR_POD_LABELS, "app.kubernetes.io/name": "ltm"})


def _render(operator_ns: str | None) -> list[dict[str, Any]]:
    ctx = RenderContext(Owner("checkout", NS), parse_spec({}), operator_namespace=operator_ns)
    return render_all(ctx, offline_credentials(ctx))


def test_the_operator_in_its_own_namespace_reaches_influxdb_http_only():
    objects = _render(OPERATOR_NS)
    policies, influxdb = _policies(objects), _pods(objects)["checkout-influxdb"]
    assert allowed(policies, OPERATOR, influxdb, 8086)
    assert not allowed(policies, OPERATOR, influxdb, 2003), "Graphite rules stay as they were"
    assert not allowed(policies, OPERATOR, influxdb, 8088)
    # Another pod of the operator's namespace, or a pod with the operator's labels elsewhere: no.
    assert not allowed(policies, Pod("10.0.5.6", OPERATOR_NS, {"app": "other"}), influxdb, 8086)
    assert not allowed(policies, Pod("10.0.5.7", "elsewhere", dict(OPERATOR.labels or {})), influxdb, 8086)


def test_no_rule_is_added_when_it_is_not_needed():
    same_ns = _render(NS)
    unknown = _render(None)
    for objects in (same_ns, unknown):
        policy = next(o for o in _policies(objects) if o["metadata"]["name"] == "checkout-influxdb")
        http = [r for r in policy["spec"]["ingress"] if r["ports"][0]["port"] == 8086]
        assert http == [{"from": [{"podSelector": {}}], "ports": [{"port": 8086, "protocol": "TCP"}]}]
    operator_here = Pod("10.0.5.8", NS, dict(OPERATOR.labels or {}))
    assert allowed(_policies(same_ns), operator_here, _pods(same_ns)["checkout-influxdb"], 8086)
    assert not allowed(_policies(unknown), OPERATOR, _pods(unknown)["checkout-influxdb"], 8086)
