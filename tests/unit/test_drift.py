"""The comparison that keeps an unchanged reconcile from writing anything."""

from __future__ import annotations

from loadtest_monitor.controller.drift import contains


def test_server_defaults_and_other_managers_fields_are_ignored() -> None:
    desired = {"spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 3000}]}}
    live = {
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": "service.k8s.aws/nlb",
            "ports": [{"name": "http", "port": 3000, "nodePort": 31000, "protocol": "TCP"}],
        },
        "status": {"loadBalancer": {}},
    }
    assert contains(desired, live)


def test_a_changed_value_is_drift() -> None:
    assert not contains({"data": {"gatling.conf": "a"}}, {"data": {"gatling.conf": "b"}})
    assert not contains({"data": {"k": "v"}}, {"data": {}})
    assert not contains({"spec": {"replicas": 1}}, {"spec": {"replicas": 0}})


def test_keyed_lists_match_by_key_and_extra_items_from_others_are_allowed() -> None:
    desired = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    assert contains(
        desired, {"env": [{"name": "B", "value": "2"}, {"name": "X", "value": "9"}, {"name": "A", "value": "1"}]}
    )
    assert not contains(desired, {"env": [{"name": "A", "value": "1"}]})


def test_ports_with_the_same_number_differ_by_protocol() -> None:
    desired = {"ports": [{"name": "graphite-udp", "port": 2003, "protocol": "UDP"}]}
    assert not contains(desired, {"ports": [{"name": "graphite-udp", "port": 2003, "protocol": "TCP"}]})


def test_plain_lists_compare_in_order_and_length() -> None:
    assert contains({"args": ["a", "b"]}, {"args": ["a", "b"]})
    assert not contains({"args": ["a", "b"]}, {"args": ["b", "a"]})
    assert not contains({"args": ["a"]}, {"args": ["a", "b"]})


def test_type_mismatch_is_drift() -> None:
    assert not contains({"a": {"b": 1}}, {"a": "x"})
    assert not contains({"a": [1]}, {"a": {"0": 1}})


def test_quantities_compare_by_value() -> None:
    desired = {"resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"}, "requests": {"storage": "10240Mi"}}}
    live = {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"storage": "10Gi"}}}
    assert contains(desired, live)
    assert not contains({"resources": {"limits": {"cpu": "2"}}}, live)
    # Outside resources a string stays a string: an env value "1000m" is not "1".
    assert not contains({"env": [{"name": "X", "value": "1000m"}]}, {"env": [{"name": "X", "value": "1"}]})
