"""Hostile and careless inputs, each with the field the error must name (what `render` and the
operator now answer). The same table, with the messages, is in the lead's note of issue 7."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest_monitor.spec.monitor import MAX_MESSAGE_CHARS, SpecError, parse_spec
from loadtest_monitor.spec.monitor_input import InputError, check_monitor
from ltm_harness.cases.hostile_specs import HOSTILE, VALID, monitor


@pytest.mark.parametrize(("case", "doc", "field"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_is_refused_naming_the_field(case: str, doc: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        check_monitor(doc, None)
    first = caught.value.lines[0]
    assert first.split(": ", 2)[1] == field, first
    assert all(len(line) < 400 and "\n" not in line for line in caught.value.lines)


def test_service_annotations_are_counted_with_what_the_operator_adds() -> None:
    """Under 256 KiB alone, over it with the NLB annotations the operator adds to the same Service:
    refused here, not by the API server on every apply. (Not in HOSTILE: `kubectl apply` of such a
    monitor copies it into last-applied-configuration, which is itself too long.)"""
    annotations = {f"a{i}": "v" * 65_500 for i in range(4)}
    with pytest.raises(InputError) as caught:
        check_monitor(monitor({"grafana": {"service": {"annotations": annotations}}}), None)
    assert caught.value.lines[0].split(": ", 2)[1] == "spec.grafana.service.annotations", caught.value.lines
    # A ClusterIP Service gets no load balancer annotations: the same ones fit.
    assert check_monitor(monitor({"grafana": {"service": {"type": "ClusterIP", "annotations": annotations}}}), None)


@pytest.mark.parametrize(("case", "spec"), VALID, ids=[v[0] for v in VALID])
def test_careful_input_is_accepted(case: str, spec: dict[str, Any]) -> None:
    assert check_monitor(monitor(spec), "perf").name == "checkout"


def test_several_problems_are_reported_at_once_and_capped() -> None:
    spec = {
        "influxdb": {"retention": "0d", "database": "9", "storage": {"size": "0"}},
        "graphite": {"protocol": "http", "allowedSourceRanges": ["x", "y", "z"]},
        "gatling": {"writePeriod": 0},
    }
    with pytest.raises(SpecError) as caught:
        parse_spec(spec)
    assert len(caught.value.problems) >= 7
    assert str(caught.value).count("; ") == 5  # five problems, then "and N more"
    assert str(caught.value).endswith("more")
    assert caught.value.field == "spec.influxdb.database"
    huge = {"placement": {"nodeSelector": {f"k{i}": "v " * 60 for i in range(30)}}}
    with pytest.raises(SpecError) as caught:
        parse_spec(huge)
    assert len(str(caught.value)) <= MAX_MESSAGE_CHARS
