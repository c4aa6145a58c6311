"""The spec Reader checks a field against the facts the CRD states at the same path."""

from __future__ import annotations

from loadtest_monitor.spec.reader import Problems, Reader


def test_an_enum_and_bounds_come_from_the_crd_at_the_readers_path() -> None:
    problems = Problems()
    gatling = Reader({"writePeriod": 61, "maxGroupDepth": 8}, "spec.gatling", problems)
    assert gatling.integer("writePeriod", 1) == 1
    assert gatling.integer("maxGroupDepth", 3) == 8
    service = Reader({"type": "Ingress"}, "spec.grafana.service", problems)
    assert service.choice("type", "LoadBalancer") == "LoadBalancer"
    assert problems.found == [
        ("spec.gatling.writePeriod", "must be from 1 to 60, got 61"),
        ("spec.grafana.service.type", "must be one of LoadBalancer, ClusterIP, NodePort, got 'Ingress'"),
    ]


def test_a_list_item_reads_the_schema_of_the_arrays_items() -> None:
    problems = Problems()
    toleration = Reader({"effect": "Sometimes"}, "spec.placement.tolerations[3]", problems)
    assert toleration.choice("effect", "") == ""
    assert problems.found == [
        (
            "spec.placement.tolerations[3].effect",
            "must be one of NoSchedule, PreferNoSchedule, NoExecute, got 'Sometimes'",
        )
    ]


def test_a_grammar_is_the_crds_pattern_or_cel_rule_matched_whole() -> None:
    problems = Problems()
    influxdb = Reader({"database": "gatling\n", "retention": "5201w"}, "spec.influxdb", problems)
    assert influxdb.matching("database", "gatling", "use letters") == "gatling"  # a pattern
    assert influxdb.matching("retention", "7d", "up to 5200w") == "7d"  # a CEL rule
    assert Reader({"retention": "5200w"}, "spec.influxdb", problems).matching("retention", "7d", "") == "5200w"
    assert [path for path, _ in problems.found] == ["spec.influxdb.database", "spec.influxdb.retention"]


def test_explicit_bounds_and_choices_win_over_the_schema() -> None:
    problems = Problems()
    gatling = Reader({"writePeriod": 30, "light": "x"}, "spec.gatling", problems)
    assert gatling.integer("writePeriod", 1, 1, 10) == 1
    assert problems.found == [("spec.gatling.writePeriod", "must be from 1 to 10, got 30")]
