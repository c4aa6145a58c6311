"""Network reach of a monitor's pods, decided by evaluating the rendered NetworkPolicies the way
the NetworkPolicy API defines them (a pod selected by a policy of a direction is isolated in that
direction; a connection is allowed when any rule of any policy selecting the pod allows it).

Also: the data volumes are size-limited, InfluxDB's series limits are in influxdb.conf, and
Grafana is told to call nobody on its own."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.monitor import offline_credentials, render_all
from loadtest_monitor.spec import crd_check
from loadtest_monitor.spec.monitor import SpecError, parse_spec
from tests.unit.network_support import NS, Pod, _pods, _policies, _selects, allowed

METADATA_ADDRESS = "169.254.169.254"




def _render(raw: dict[str, Any] | None = None, monitor: str = "checkout") -> list[dict[str, Any]]:
    ctx = RenderContext(Owner(monitor, NS), parse_spec(raw or {}))
    return render_all(ctx, offline_credentials(ctx))














def _world(raw: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Pod]]:
    """Two monitors in one namespace (checkout and other), their policies and pods."""
    objects = _render(raw) + _render(raw, monitor="other")
    pods = _pods(objects)
    return _policies(objects), pods


DNS_POD = Pod("10.0.9.53", "kube-system", {"k8s-app": "kube-dns"})
OUTSIDE = [Pod(METADATA_ADDRESS, labels=None), Pod("8.8.8.8", labels=None), Pod("10.0.200.1", labels=None)]


def test_grafana_reaches_only_its_own_influxdb_http_and_dns() -> None:
    policies, pods = _world()
    grafana, influxdb = pods["checkout-grafana"], pods["checkout-influxdb"]
    assert allowed(policies, grafana, influxdb, 8086)
    assert allowed(policies, grafana, DNS_POD, 53, "UDP") and allowed(policies, grafana, DNS_POD, 53, "TCP")
    assert not allowed(policies, grafana, pods["other-influxdb"], 8086), "another monitor's InfluxDB"
    assert not allowed(policies, grafana, influxdb, 2003), "Graphite is not Grafana's business"
    assert not allowed(policies, grafana, pods["other-grafana"], 3000)
    for outside in OUTSIDE:
        for port, proto in ((80, "TCP"), (443, "TCP"), (53, "UDP"), (8086, "TCP")):
            assert not allowed(policies, grafana, outside, port, proto), (outside.ip, port)


def test_influxdb_reaches_only_dns() -> None:
    policies, pods = _world()
    influxdb = pods["checkout-influxdb"]
    assert allowed(policies, influxdb, DNS_POD, 53, "UDP")
    assert not allowed(policies, influxdb, pods["checkout-grafana"], 3000)
    for outside in OUTSIDE:
        assert not allowed(policies, influxdb, outside, 80) and not allowed(policies, influxdb, outside, 443)


def test_grafana_is_reachable_on_its_port_only() -> None:
    policies, pods = _world()
    grafana = pods["checkout-grafana"]
    load_balancer = Pod("10.0.7.7", labels=None)
    assert allowed(policies, load_balancer, grafana, 3000)
    assert not allowed(policies, load_balancer, grafana, 22)
    assert not allowed(policies, Pod("10.0.0.99", labels={"app": "x"}), grafana, 9090)


def test_every_policy_selects_only_this_monitors_pods() -> None:
    objects = _render() + _render(monitor="other")
    pods = _pods(objects)
    for policy in _policies(objects):
        monitor = policy["metadata"]["labels"]["app.kubernetes.io/instance"]
        selected = {name for name, pod in pods.items() if _selects(policy["spec"]["podSelector"], pod.labels or {})}
        assert selected == {policy["metadata"]["name"]}, policy["metadata"]["name"]
        assert policy["spec"]["podSelector"]["matchLabels"]["loadtest.dev/monitor"] == monitor


def test_egress_is_an_allow_list_without_ip_blocks() -> None:
    # No ipBlock in any egress rule: nothing outside the cluster's pods is allow-listed, so the
    # metadata address needs no `except` (and gets none).
    for policy in _policies(_render()):
        assert "Egress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"]["egress"]:
            assert rule["to"] and all("ipBlock" not in peer for peer in rule["to"]), rule
            assert rule["ports"], rule


def test_graphite_without_a_runner_selector_takes_every_pod_of_the_namespace() -> None:
    policies, pods = _world({"graphite": {"allowedNamespaces": ["runners"], "allowedSourceRanges": ["10.1.0.0/16"]}})
    influxdb = pods["checkout-influxdb"]
    assert allowed(policies, Pod("10.0.3.1", labels={"app": "anything"}), influxdb, 2003)
    assert allowed(policies, Pod("10.0.3.2", "runners", {"app": "anything"}), influxdb, 2003, "UDP")
    assert allowed(policies, Pod("10.1.4.4", labels=None), influxdb, 2003)
    assert not allowed(policies, Pod("10.0.3.3", "elsewhere", {"app": "anything"}), influxdb, 2003)


def test_a_runner_pod_selector_narrows_graphite_to_runner_pods_but_keeps_the_ranges() -> None:
    selector = {"matchLabels": {"loadtest.dev/role": "runner"}}
    policies, pods = _world(
        {
            "graphite": {
                "runnerPodSelector": selector,
                "allowedNamespaces": ["runners"],
                "allowedSourceRanges": ["10.1.0.0/16"],
            }
        }
    )
    influxdb = pods["checkout-influxdb"]
    runner = {"loadtest.dev/role": "runner", "batch.kubernetes.io/job-name": "run-1"}
    assert allowed(policies, Pod("10.0.3.1", labels=runner), influxdb, 2003)
    assert allowed(policies, Pod("10.0.3.2", "runners", runner), influxdb, 2003, "UDP")
    assert not allowed(policies, Pod("10.0.3.3", labels={"app": "curious"}), influxdb, 2003)
    assert not allowed(policies, Pod("10.0.3.4", "runners", {"app": "curious"}), influxdb, 2003)
    assert not allowed(policies, Pod("10.0.3.5", "elsewhere", runner), influxdb, 2003)
    assert allowed(policies, Pod("10.1.4.4", labels=None), influxdb, 2003), "the ranges are not narrowed"
    # HTTP stays as it was: this namespace (Grafana and humans' tools; it needs a user anyway).
    assert allowed(policies, pods["checkout-grafana"], influxdb, 8086)


def test_the_switch_governs_both_policies() -> None:
    kinds = [f"{o['kind']}/{o['metadata']['name']}" for o in _render({"graphite": {"networkPolicy": False}})]
    assert not [k for k in kinds if k.startswith("NetworkPolicy/")]
    on = [o["metadata"]["name"] for o in _policies(_render())]
    assert on == ["checkout-influxdb", "checkout-grafana"]


def _volumes(objects: list[dict[str, Any]], deployment: str) -> dict[str, dict[str, Any]]:
    found = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == deployment)
    return {v["name"]: v for v in found["spec"]["template"]["spec"]["volumes"]}


def test_every_empty_dir_has_a_size_limit() -> None:
    objects = _render()
    assert _volumes(objects, "checkout-influxdb")["data"]["emptyDir"] == {"sizeLimit": "2Gi"}
    for deployment in ("checkout-influxdb", "checkout-grafana"):
        for volume in _volumes(objects, deployment).values():
            if "emptyDir" in volume:
                assert volume["emptyDir"].get("sizeLimit"), (deployment, volume["name"])
    custom = _render({"influxdb": {"storage": {"emptyDirSizeLimit": "500Mi"}}})
    assert _volumes(custom, "checkout-influxdb")["data"]["emptyDir"] == {"sizeLimit": "500Mi"}
    for written, printed in (("1024Mi", "1Gi"), ("1024Gi", "1Ti"), ("1536Mi", "1536Mi")):
        custom = _render({"influxdb": {"storage": {"emptyDirSizeLimit": written}}})
        assert _volumes(custom, "checkout-influxdb")["data"]["emptyDir"] == {"sizeLimit": printed}, written
    with_pvc = _render({"influxdb": {"storage": {"enabled": True}}})
    assert "persistentVolumeClaim" in _volumes(with_pvc, "checkout-influxdb")["data"]


def _influxdb_conf(objects: list[dict[str, Any]]) -> dict[str, Any]:
    cm = next(o for o in objects if o["metadata"]["name"] == "checkout-influxdb-config")
    return tomllib.loads(cm["data"]["influxdb.conf"])


def test_influxdb_limits_series_and_tag_values() -> None:
    data = _influxdb_conf(_render())["data"]
    assert (data["max-series-per-database"], data["max-values-per-tag"]) == (200_000, 10_000)
    raw = {"influxdb": {"maxSeriesPerDatabase": 5_000_000, "maxValuesPerTag": 500}}
    data = _influxdb_conf(_render(raw))["data"]
    assert (data["max-series-per-database"], data["max-values-per-tag"]) == (5_000_000, 500)


def test_grafana_calls_nobody_on_its_own() -> None:
    grafana = next(o for o in _render() if o["kind"] == "Deployment" and o["metadata"]["name"] == "checkout-grafana")
    env = {e["name"]: e.get("value") for e in grafana["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GF_PLUGINS_PREINSTALL_DISABLED"] == "true"
    assert env["GF_ANALYTICS_CHECK_FOR_UPDATES"] == "false"
    assert env["GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES"] == "false"
    assert env["GF_ANALYTICS_REPORTING_ENABLED"] == "false"
    assert env["GF_SECURITY_DISABLE_GRAVATAR"] == "true"
    assert "GF_INSTALL_PLUGINS" not in env and "GF_PLUGINS_PREINSTALL" not in env


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"influxdb": {"storage": {"emptyDirSizeLimit": "99Mi"}}}, "spec.influxdb.storage.emptyDirSizeLimit"),
        ({"influxdb": {"storage": {"emptyDirSizeLimit": "1025Gi"}}}, "spec.influxdb.storage.emptyDirSizeLimit"),
        ({"influxdb": {"storage": {"emptyDirSizeLimit": "2G"}}}, "spec.influxdb.storage.emptyDirSizeLimit"),
        ({"influxdb": {"maxSeriesPerDatabase": 999}}, "spec.influxdb.maxSeriesPerDatabase"),
        ({"influxdb": {"maxSeriesPerDatabase": 10_000_001}}, "spec.influxdb.maxSeriesPerDatabase"),
        ({"influxdb": {"maxValuesPerTag": 99}}, "spec.influxdb.maxValuesPerTag"),
        ({"graphite": {"runnerPodSelector": {"matchLabels": {"a b": "x"}}}}, "spec.graphite.runnerPodSelector"),
        ({"graphite": {"runnerPodSelector": {"matchLabels": {"role": "a b"}}}}, "spec.graphite.runnerPodSelector"),
    ],
)
def test_out_of_bounds_values_are_refused_by_the_operator_and_the_crd(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(raw)
    assert err.value.field.startswith(field), err.value
    monitor = {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor", "metadata": {"name": "x"}}
    problems = crd_check.check({**monitor, "spec": raw})
    assert any(path.startswith(field) for path, _ in problems), problems


def test_bounds_themselves_are_accepted_by_both() -> None:
    raw = {
        "influxdb": {
            "storage": {"emptyDirSizeLimit": "100Mi"},
            "maxSeriesPerDatabase": 1_000,
            "maxValuesPerTag": 1_000_000,
        },
        "graphite": {"runnerPodSelector": {"matchLabels": {"example.com/role": "runner"}}},
    }
    parse_spec(raw)
    monitor = {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor", "metadata": {"name": "x"}}
    assert crd_check.check({**monitor, "spec": raw}) == []
    assert crd_check.check({**monitor, "spec": {"graphite": {"runnerPodSelector": {"matchLabels": {}}}}})
