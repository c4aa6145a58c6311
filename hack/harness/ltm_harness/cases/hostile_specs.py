"""Hostile, careless and careful LoadtestMonitor inputs: the one table the unit tests (the operator's
checks, each naming its field) and the integration test (the API server's own verdict) both use."""

from __future__ import annotations

from typing import Any


def monitor(spec: Any, name: Any = "checkout", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "loadtest.dev/v1alpha1",
        "kind": "LoadtestMonitor",
        "metadata": {"name": name, **meta},
        "spec": spec,
    }


HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("name too long", monitor({}, name="a" * 55), "metadata.name"),
    ("name with capitals", monitor({}, name="Checkout"), "metadata.name"),
    ("name starting with a digit", monitor({}, name="1checkout"), "metadata.name"),
    ("name with a trailing newline", monitor({}, name="checkout\n"), "metadata.name"),
    ("metadata as a list", {**monitor({}), "metadata": ["x"]}, "metadata"),
    ("spec as a string", monitor("everything"), "spec"),
    ("unknown spec field", monitor({"grafanna": {}}), "spec.grafanna"),
    ("retention 0d", monitor({"influxdb": {"retention": "0d"}}), "spec.influxdb.retention"),
    ("retention overflowing InfluxQL", monitor({"influxdb": {"retention": "999999w"}}), "spec.influxdb.retention"),
    ("retention wrapping to 10 days", monitor({"influxdb": {"retention": "30502w"}}), "spec.influxdb.retention"),
    ("retention 5201w", monitor({"influxdb": {"retention": "5201w"}}), "spec.influxdb.retention"),
    ("retention with a newline", monitor({"influxdb": {"retention": "7d\n"}}), "spec.influxdb.retention"),
    ("database with a newline", monitor({"influxdb": {"database": "gatling\n"}}), "spec.influxdb.database"),
    ("image with a space", monitor({"grafana": {"image": "grafana/grafana:12 x"}}), "spec.grafana.image"),
    ("storage size 0", monitor({"influxdb": {"storage": {"size": "0"}}}), "spec.influxdb.storage.size"),
    ("storage size 0Gi", monitor({"influxdb": {"storage": {"size": "0Gi"}}}), "spec.influxdb.storage.size"),
    ("storage size -1Gi", monitor({"influxdb": {"storage": {"size": "-1Gi"}}}), "spec.influxdb.storage.size"),
    (
        "storage class with capitals",
        monitor({"influxdb": {"storage": {"storageClassName": "GP3"}}}),
        "spec.influxdb.storage.storageClassName",
    ),
    (
        "limit below request",
        monitor({"influxdb": {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}}}),
        "spec.influxdb.resources.requests.memory",
    ),
    (
        "unknown resource name",
        monitor({"influxdb": {"resources": {"requests": {"gpu": "1"}}}}),
        "spec.influxdb.resources.requests.gpu",
    ),
    (
        "resource in the kubernetes.io domain",
        monitor({"influxdb": {"resources": {"limits": {"kubernetes.io/foo": "1"}}}}),
        "spec.influxdb.resources.limits.kubernetes.io/foo",
    ),
    (
        "fractional extended resource",
        monitor(
            {"influxdb": {"resources": {"requests": {"example.com/gpu": "0.5"}, "limits": {"example.com/gpu": "0.5"}}}}
        ),
        "spec.influxdb.resources.requests.example.com/gpu",
    ),
    (
        "extended resource overcommitted",
        monitor(
            {"influxdb": {"resources": {"requests": {"example.com/gpu": "1"}, "limits": {"example.com/gpu": "2"}}}}
        ),
        "spec.influxdb.resources.limits.example.com/gpu",
    ),
    (
        "quantity as a float",
        monitor({"influxdb": {"resources": {"requests": {"cpu": 0.5}}}}),
        "spec.influxdb.resources.requests.cpu",
    ),
    (
        "negative quantity",
        monitor({"influxdb": {"resources": {"requests": {"cpu": "-1"}}}}),
        "spec.influxdb.resources.requests.cpu",
    ),
    (
        "quantity with a newline",
        monitor({"grafana": {"resources": {"limits": {"memory": "1Gi\n"}}}}),
        "spec.grafana.resources.limits.memory",
    ),
    (
        "CIDR /33",
        monitor({"graphite": {"allowedSourceRanges": ["10.0.0.0/33"]}}),
        "spec.graphite.allowedSourceRanges[0]",
    ),
    (
        "CIDR 999.1.1.1/99",
        monitor({"graphite": {"allowedSourceRanges": ["999.1.1.1/99"]}}),
        "spec.graphite.allowedSourceRanges[0]",
    ),
    (
        "CIDR with host bits",
        monitor({"graphite": {"allowedSourceRanges": ["10.1.2.3/8"]}}),
        "spec.graphite.allowedSourceRanges[0]",
    ),
    (
        "CIDR with a newline",
        monitor({"grafana": {"service": {"loadBalancerSourceRanges": ["10.0.0.0/8\n"]}}}),
        "spec.grafana.service.loadBalancerSourceRanges[0]",
    ),
    (
        "internet-facing without source ranges",
        monitor({"grafana": {"service": {"scheme": "internet-facing"}}}),
        "spec.grafana.service.loadBalancerSourceRanges",
    ),
    (
        "annotation key with a space",
        monitor({"grafana": {"service": {"annotations": {"my key": "v"}}}}),
        "spec.grafana.service.annotations['my key']",
    ),
    (
        "annotation key with two slashes",
        monitor({"grafana": {"service": {"annotations": {"a/b/c": "v"}}}}),
        "spec.grafana.service.annotations['a/b/c']",
    ),
    (
        "Secret key '..'",
        monitor({"grafana": {"adminSecretRef": {"name": "s", "passwordKey": ".."}}}),
        "spec.grafana.adminSecretRef.passwordKey",
    ),
    (
        "Secret name with capitals",
        monitor({"grafana": {"adminSecretRef": {"name": "Admin"}}}),
        "spec.grafana.adminSecretRef.name",
    ),
    (
        "namespace name too long",
        monitor({"graphite": {"allowedNamespaces": ["n" * 64]}}),
        "spec.graphite.allowedNamespaces[0]",
    ),
    (
        "node selector value with a space",
        monitor({"placement": {"nodeSelector": {"pool": "a b"}}}),
        "spec.placement.nodeSelector['pool']",
    ),
    (
        "node selector key with a space",
        monitor({"placement": {"nodeSelector": {"my pool": "a"}}}),
        "spec.placement.nodeSelector['my pool']",
    ),
    (
        "Exists toleration with a value",
        monitor({"placement": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}}),
        "spec.placement.tolerations[0].value",
    ),
    (
        "tolerationSeconds without NoExecute",
        monitor({"placement": {"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]}}),
        "spec.placement.tolerations[0].tolerationSeconds",
    ),
    (
        "Equal toleration without a key",
        monitor({"placement": {"tolerations": [{"operator": "Equal", "value": "v"}]}}),
        "spec.placement.tolerations[0].operator",
    ),
    (
        "toleration effect unknown",
        monitor({"placement": {"tolerations": [{"key": "k", "effect": "Never"}]}}),
        "spec.placement.tolerations[0].effect",
    ),
    (
        "writers not a list",
        monitor({"gatling": {"baseConfig": "gatling.data.writers = graphite"}}),
        "spec.gatling.baseConfig",
    ),
    (
        "include url",
        monitor({"gatling": {"baseConfig": 'include url("http://169.254.169.254/latest/meta-data/")'}}),
        "spec.gatling.baseConfig",
    ),
    ("prefix with a newline", monitor({"gatling": {"rootPathPrefix": "gatling\n"}}), "spec.gatling.rootPathPrefix"),
]


VALID: list[tuple[str, dict[str, Any]]] = [
    ("Secret name with dots", {"grafana": {"adminSecretRef": {"name": "grafana.admin.v2"}}}),
    ("quantity with an exponent", {"influxdb": {"resources": {"requests": {"memory": "1e9", "cpu": "0.5"}}}}),
    ("quantity as a whole number", {"influxdb": {"resources": {"requests": {"cpu": 2}, "limits": {"cpu": 4}}}}),
    ("decimal suffixes", {"influxdb": {"resources": {"requests": {"memory": "500M"}, "limits": {"memory": "1G"}}}}),
    (
        "extended resource",
        {"influxdb": {"resources": {"requests": {"example.com/gpu": "1"}, "limits": {"example.com/gpu": "1"}}}},
    ),
    ("IPv6 CIDR", {"graphite": {"allowedSourceRanges": ["fd00::/8"]}}),
    (
        "internet-facing with ranges",
        {"grafana": {"service": {"scheme": "internet-facing", "loadBalancerSourceRanges": ["203.0.113.0/24"]}}},
    ),
    (
        "prefixed annotation key",
        {"grafana": {"service": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-name": "x"}}}},
    ),
    ("toleration of every taint", {"placement": {"tolerations": [{"operator": "Exists"}]}}),
    (
        "NoExecute with seconds",
        {"placement": {"tolerations": [{"key": "k", "effect": "NoExecute", "tolerationSeconds": 30}]}},
    ),
    ("retention bounds", {"influxdb": {"retention": "5200w"}}),
    ("retention 1h", {"influxdb": {"retention": "1h"}}),
    ("substitution in baseConfig", {"gatling": {"baseConfig": "gatling.custom = ${?HOSTNAME}"}}),
]
