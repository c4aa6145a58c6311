"""Spec parsing: defaults, and every field's bad values rejected with the field named."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest_monitor.spec.monitor import DEFAULT_INFLUXDB_IMAGE, SpecError, parse_spec


def test_empty_spec_gives_a_working_default_stack() -> None:
    spec = parse_spec({})
    assert spec.influxdb.image == DEFAULT_INFLUXDB_IMAGE
    assert spec.influxdb.image.split(":")[1].startswith("1.")
    assert spec.influxdb.database == "gatling"
    assert spec.grafana.service.type == "LoadBalancer"
    assert spec.grafana.service.scheme == "internal"
    assert spec.graphite.protocol == "tcp"
    assert spec.graphite.exposure == "ClusterIP"
    assert spec.gatling.write_period == 1
    assert spec.gatling.root_path_prefix == "gatling"
    assert parse_spec(None) == spec


def test_full_spec_is_read_field_by_field() -> None:
    spec = parse_spec(
        {
            "influxdb": {
                "image": "registry.local:5000/influxdb:1.8.10",
                "database": "perf_db",
                "retention": "2w",
                "storage": {"enabled": True, "size": "20Gi", "storageClassName": "gp3", "keepOnDelete": True},
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
            },
            "grafana": {
                "service": {
                    "type": "LoadBalancer",
                    "scheme": "internet-facing",
                    "loadBalancerSourceRanges": ["203.0.113.0/24"],
                    "annotations": {"b": "2", "a": "1"},
                },
                "adminSecretRef": {"name": "my-admin"},
                "anonymousViewing": True,
            },
            "graphite": {"protocol": "udp", "exposure": "InternalLoadBalancer", "allowedSourceRanges": ["10.0.0.0/8"]},
            "gatling": {"light": True, "writePeriod": 5, "rootPathPrefix": "perf", "maxGroupDepth": 5},
            "placement": {"nodeSelector": {"pool": "mon"}, "tolerations": [{"key": "k", "operator": "Exists"}]},
        }
    )
    assert spec.influxdb.storage.storage_class_name == "gp3"
    assert spec.influxdb.resources == {"requests": {"cpu": "1", "memory": "1Gi"}}
    assert list(spec.grafana.service.annotations) == ["a", "b"]
    assert spec.grafana.admin_secret_ref is not None
    assert spec.grafana.admin_secret_ref.password_key == "admin-password"
    assert spec.graphite.protocol == "udp"
    assert spec.gatling.max_group_depth == 5
    assert spec.placement.tolerations == ({"key": "k", "operator": "Exists"},)


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"influxdb": {"image": "influxdb"}}, "spec.influxdb.image", "no tag"),
    ({"influxdb": {"image": "influxdb:latest"}}, "spec.influxdb.image", "not InfluxDB 1.x"),
    ({"influxdb": {"image": "influxdb:2.7"}}, "spec.influxdb.image", "not InfluxDB 1.x"),
    ({"influxdb": {"image": "my.registry:5000/influxdb"}}, "spec.influxdb.image", "no tag"),
    ({"influxdb": {"database": "9lives"}}, "spec.influxdb.database", "letters"),
    ({"influxdb": {"database": "a b"}}, "spec.influxdb.database", "letters"),
    ({"influxdb": {"retention": "7 days"}}, "spec.influxdb.retention", "7d"),
    ({"influxdb": {"retention": "0d"}}, "spec.influxdb.retention", "7d"),
    ({"influxdb": {"storage": {"enabled": "yes"}}}, "spec.influxdb.storage.enabled", "true or false"),
    ({"influxdb": {"storage": {"size": "ten"}}}, "spec.influxdb.storage.size", "10Gi"),
    ({"influxdb": {"storage": {"keepOnDelete": 1}}}, "spec.influxdb.storage.keepOnDelete", "true or false"),
    ({"influxdb": {"resources": {"requests": {"cpu": "lots"}}}}, "spec.influxdb.resources.requests.cpu", "quantity"),
    ({"influxdb": {"resources": {"limits": "1Gi"}}}, "spec.influxdb.resources.limits", "map"),
    ({"influxdb": "big"}, "spec.influxdb", "object"),
    ({"grafana": {"service": {"type": "Ingress"}}}, "spec.grafana.service.type", "LoadBalancer"),
    ({"grafana": {"service": {"scheme": "public"}}}, "spec.grafana.service.scheme", "internet-facing"),
    (
        {"grafana": {"service": {"loadBalancerSourceRanges": ["everyone"]}}},
        "spec.grafana.service.loadBalancerSourceRanges[0]",
        "CIDR",
    ),
    ({"grafana": {"service": {"annotations": {"a": 1}}}}, "spec.grafana.service.annotations", "strings"),
    ({"grafana": {"adminSecretRef": {"name": ""}}}, "spec.grafana.adminSecretRef.name", "existing Secret"),
    (
        {"grafana": {"adminSecretRef": {"name": "s", "passwordKey": "a/b"}}},
        "spec.grafana.adminSecretRef.passwordKey",
        "key",
    ),
    ({"grafana": {"anonymousViewing": "true"}}, "spec.grafana.anonymousViewing", "true or false"),
    ({"graphite": {"protocol": "http"}}, "spec.graphite.protocol", "tcp, udp"),
    ({"graphite": {"exposure": "Public"}}, "spec.graphite.exposure", "InternalLoadBalancer"),
    ({"graphite": {"allowedSourceRanges": ["10.0.0.0"]}}, "spec.graphite.allowedSourceRanges[0]", "CIDR"),
    ({"graphite": {"allowedNamespaces": ["Bad_NS"]}}, "spec.graphite.allowedNamespaces[0]", "namespace"),
    ({"gatling": {"writePeriod": 0}}, "spec.gatling.writePeriod", "from 1 to 60"),
    ({"gatling": {"writePeriod": 61}}, "spec.gatling.writePeriod", "from 1 to 60"),
    ({"gatling": {"writePeriod": "1s"}}, "spec.gatling.writePeriod", "whole number"),
    ({"gatling": {"writePeriod": True}}, "spec.gatling.writePeriod", "whole number"),
    ({"gatling": {"light": "no"}}, "spec.gatling.light", "true or false"),
    ({"gatling": {"rootPathPrefix": "a.b"}}, "spec.gatling.rootPathPrefix", "no dots"),
    ({"gatling": {"rootPathPrefix": "users"}}, "spec.gatling.rootPathPrefix", "user counts"),
    ({"gatling": {"rootPathPrefix": "run_summary"}}, "spec.gatling.rootPathPrefix", "whole-run summary"),
    ({"gatling": {"rootPathPrefix": "run_span"}}, "spec.gatling.rootPathPrefix", "choose another prefix"),
    ({"gatling": {"maxGroupDepth": 9}}, "spec.gatling.maxGroupDepth", "from 0 to 8"),
    ({"gatling": {"baseConfig": "gatling { data { "}}, "spec.gatling.baseConfig", "not valid HOCON"),
    ({"placement": {"nodeSelector": ["a"]}}, "spec.placement.nodeSelector", "map"),
    ({"placement": {"tolerations": ["a"]}}, "spec.placement.tolerations", "tolerations"),
]


@pytest.mark.parametrize(("raw", "field", "hint"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_bad_values_name_the_field_and_the_fix(raw: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    assert caught.value.field == field
    assert hint in str(caught.value)
    assert str(caught.value).startswith(field + ":")


def test_digest_pinned_image_with_its_1x_tag_is_accepted() -> None:
    # A bare digest is refused (test_spec_image.py): the tag beside it is what shows 1.x.
    image = "influxdb:1.12.4@sha256:" + "a" * 64
    assert parse_spec({"influxdb": {"image": image}}).influxdb.image == image
