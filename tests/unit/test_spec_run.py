"""LoadtestRun spec: the CRD's defaults are the operator's, and bad input names its field and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtest_monitor.identity import GROUP, RUN_KIND, RUN_PLURAL, VERSION
from loadtest_monitor.runs.model import Criterion, Metric
from loadtest_monitor.spec.monitor import SpecError
from loadtest_monitor.spec.run import RunSpec, duration_seconds, parse_run_spec

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "loadtest.dev_loadtestruns.yaml"
MINIMAL = {"monitorRef": {"name": "checkout"}, "image": "gatling-runner:3.15.1", "simulation": "loadtest.Checkout"}


def _crd() -> dict[str, Any]:
    return dict(yaml.safe_load(CRD_PATH.read_text()))


def _spec_schema() -> dict[str, Any]:
    return dict(_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"])


def _defaulted(schema: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    for key, sub in (schema.get("properties") or {}).items():
        if key not in out and "default" in sub:
            out[key] = sub["default"]
    return out


def test_crd_names_version_and_columns() -> None:
    crd = _crd()
    assert crd["metadata"]["name"] == f"{RUN_PLURAL}.{GROUP}"
    assert crd["spec"]["names"]["kind"] == RUN_KIND
    assert crd["spec"]["names"]["shortNames"] == ["ltr"]
    version = crd["spec"]["versions"][0]
    assert version["name"] == VERSION
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Runners": ".status.runnersSummary",
        "Requests": ".status.results.requests",
        "Error %": ".status.results.errorPercent",
        "p95": ".status.results.p95Ms",
        "Verdict": ".status.verdict",
        "Reason": ".status.reason",
        "Age": ".metadata.creationTimestamp",
    }


def test_spec_is_immutable_with_a_message_that_says_what_to_do() -> None:
    rules = _spec_schema()["x-kubernetes-validations"]
    assert rules[0]["rule"] == "self == oldSelf"
    assert "create a new LoadtestRun" in rules[0]["message"]


def test_crd_defaults_equal_operator_defaults() -> None:
    parsed = parse_run_spec(_defaulted(_spec_schema(), MINIMAL))
    assert parsed == parse_run_spec(MINIMAL)
    assert parsed == RunSpec(monitor="checkout", image="gatling-runner:3.15.1", simulation="loadtest.Checkout")
    assert parsed.runners == 1
    assert parsed.command == ("/opt/gatling/bin/run.sh",)
    assert parsed.time_limit_seconds == 3600
    assert parsed.start_timeout_seconds == 600
    assert parsed.ttl_seconds_after_finished == 3600


def test_full_spec_is_parsed_field_by_field() -> None:
    raw = {
        **MINIMAL,
        "runners": 3,
        "command": ["/bin/run.sh", "--no-reports"],
        "systemProperties": {"users": "10", "target": "http://shop:8080"},
        "javaOpts": "-Xmx1g",
        "env": [{"name": "TARGET", "value": "x"}],
        "resources": {"requests": {"cpu": "1"}},
        "nodeSelector": {"pool": "load"},
        "tolerations": [{"key": "load", "operator": "Exists"}],
        "affinity": {"podAntiAffinity": {}},
        "timeLimit": "1h30m",
        "startTimeout": "90s",
        "ttlSecondsAfterFinished": 60,
        "criteria": [
            {"metric": "errorRatio", "max": 0.01},
            {"metric": "throughput", "min": 100},
            {"metric": "p95", "request": "checkout", "max": 500},
            {"metric": "p99", "baseline": {"run": "yesterday", "maxRegressionPercent": 10}},
        ],
    }
    spec = parse_run_spec(raw, "today")
    assert spec.runners == 3
    assert spec.command == ("/bin/run.sh", "--no-reports")
    assert spec.system_properties == {"target": "http://shop:8080", "users": "10"}
    assert spec.java_opts == "-Xmx1g"
    assert spec.env == ({"name": "TARGET", "value": "x"},)
    assert spec.resources == {"requests": {"cpu": "1"}}
    assert spec.node_selector == {"pool": "load"}
    assert spec.tolerations == ({"key": "load", "operator": "Exists"},)
    assert spec.affinity == {"podAntiAffinity": {}}
    assert spec.time_limit_seconds == 5400
    assert spec.start_timeout_seconds == 90
    assert spec.ttl_seconds_after_finished == 60
    assert spec.criteria == (
        Criterion(Metric.ERROR_RATIO, max_value=0.01),
        Criterion(Metric.THROUGHPUT, min_value=100.0),
        Criterion(Metric.P95, "checkout", max_value=500.0),
        Criterion(Metric.P99, baseline_run="yesterday", max_regression_percent=10.0),
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("30m", 1800), ("45s", 45), ("1h30m", 5400), ("2m5s", 125), ("0s", None), ("", None), ("1d", None)],
)
def test_duration(text: str, seconds: int | None) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"monitorRef": {}}, "spec.monitorRef.name", "is required"),
        ({"image": "Gatling Runner"}, "spec.image", "not an image reference"),
        ({"simulation": ""}, "spec.simulation", "is required"),
        ({"runners": 0}, "spec.runners", "from 1 to 100"),
        ({"runners": 101}, "spec.runners", "from 1 to 100"),
        ({"timeLimit": "0m"}, "spec.timeLimit", "duration above zero"),
        ({"startTimeout": "ten minutes"}, "spec.startTimeout", "duration above zero"),
        ({"systemProperties": {"users": "1 2"}}, "spec.systemProperties.users", "whitespace"),
        ({"command": []}, "spec.command", "entry point"),
        ({"criteria": [{"metric": "p95"}]}, "spec.criteria[0].max", "exactly one of max, min or baseline"),
        ({"criteria": [{"metric": "p95", "max": 1, "min": 0}]}, "spec.criteria[0].max", "exactly one"),
        ({"criteria": [{"metric": "p42", "max": 1}]}, "spec.criteria[0].metric", "must be one of errorRatio"),
        ({"criteria": [{"metric": "p95", "max": -1}]}, "spec.criteria[0].max", "at least 0"),
        (
            {"criteria": [{"metric": "p95", "baseline": {"run": "me", "maxRegressionPercent": 5}}]},
            "spec.criteria[0].baseline.run",
            "names this run itself",
        ),
    ],
)
def test_bad_input_names_the_field_and_the_fix(patch: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_run_spec({**MINIMAL, **patch}, "me")
    assert caught.value.field == field
    assert words in caught.value.message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SpecError) as caught:
        parse_run_spec({"runners": 0, "timeLimit": "x"})
    fields = [f for f, _ in caught.value.problems]
    assert fields == ["spec.monitorRef.name", "spec.image", "spec.simulation", "spec.runners", "spec.timeLimit"]
