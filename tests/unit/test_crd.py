"""The CRD is the first line of validation; its defaults must be the operator's defaults."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from loadtest_monitor.identity import GROUP, KIND, PLURAL, VERSION
from loadtest_monitor.spec import crd_check
from loadtest_monitor.spec.monitor import RETENTION_PATTERN, STORAGE_SIZE_PATTERN, SpecError, parse_spec
from ltm_harness.repo import MONITOR_CRD


def _crd() -> dict[str, Any]:
    return dict(yaml.safe_load(MONITOR_CRD.read_text()))


def _schema() -> dict[str, Any]:
    return dict(_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def _apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the API server does it, enough for this schema."""
    if schema.get("type") != "object" or not isinstance(value, dict):
        return value
    out = dict(value)
    for key, sub in (schema.get("properties") or {}).items():
        if key not in out and "default" in sub:
            out[key] = sub["default"]
        if key in out:
            out[key] = _apply_defaults(sub, out[key])
    return out


def test_names_match_the_operator() -> None:
    crd = _crd()
    assert crd["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    assert crd["spec"]["names"]["kind"] == KIND
    assert crd["spec"]["names"]["shortNames"] == ["ltm"]
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["versions"][0]["name"] == VERSION
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_crd_defaults_equal_operator_defaults() -> None:
    spec_schema = _schema()["properties"]["spec"]
    defaulted = _apply_defaults(spec_schema, {})
    assert parse_spec(defaulted) == parse_spec({})
    # Every nested object is defaulted, so `kubectl get -o yaml` shows the effective settings.
    assert defaulted["gatling"]["writePeriod"] == 1
    assert defaulted["influxdb"]["storage"]["size"] == "10Gi"


def test_printer_columns_show_ready_grafana_graphite_age() -> None:
    columns = {c["name"]: c["jsonPath"] for c in _crd()["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Grafana"] == ".status.grafana.url"
    assert columns["Graphite"] == ".status.graphite.address"
    assert columns["Age"] == ".metadata.creationTimestamp"


def _all_properties(schema: dict[str, Any], path: str = "") -> list[str]:
    found = []
    for key, sub in (schema.get("properties") or {}).items():
        found.append(f"{path}.{key}")
        found += _all_properties(sub, f"{path}.{key}")
        if sub.get("type") == "array":
            found += _all_properties(sub.get("items") or {}, f"{path}.{key}[]")
    return found


def test_every_spec_field_has_a_description_or_is_self_explaining() -> None:
    spec_schema = _schema()["properties"]["spec"]
    undocumented = [
        p
        for p in _all_properties(spec_schema)
        if "placement" not in p
        and "adminSecretRef." not in p
        and "resources." not in p
        and not _lookup(spec_schema, p).get("description")
    ]
    assert undocumented == []


def _lookup(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for part in path.strip(".").split("."):
        node = node["properties"][part[:-2]]["items"] if part.endswith("[]") else node["properties"][part]
    return node


# --- The CRD's patterns and spec/monitor.py's checks agree on a corpus of inputs -------------------------

CORPUS: dict[str, list[str]] = {
    "retention": [
        "INF",
        "1h",
        "24h",
        "7d",
        "2w",
        "5200w",
        "5201w",
        "36400d",
        "36401d",
        "873600h",
        "873601h",
        "0d",
        "0h",
        "07d",
        "30502w",
        "999999w",
        "7 d",
        "7d\n",
        "inf",
        "1.5d",
        "",
        "1m",
    ],
    "size": ["10Gi", "1Mi", "999999Ti", "1000000Gi", "0Gi", "0", "10", "10Gi\n", "1.5Gi", "1e9", "10G", "5T", "-1Gi"],
    "database": ["gatling", "_x", "9lives", "a b", "gatling\n", "a" * 64, "a" * 65],
    "prefix": ["gatling", "perf-1", "a.b", "users", "gatling\n", "x" * 64, "x" * 65],
    "quantity": [
        "1",
        "0.5",
        ".5",
        "1.",
        "500m",
        "1Gi",
        "1e3",
        "1E-3",
        "2k",
        "1u",
        "1n",
        "+1",
        "-1",
        "1Gb",
        "1 Gi",
        "1Gi\n",
        "0x10",
        "1e",
        "e3",
        "1.2.3",
    ],
}


def _field(kind: str, value: str) -> tuple[dict[str, Any], str]:
    if kind == "retention":
        return {"influxdb": {"retention": value}}, "spec.influxdb.retention"
    if kind == "size":
        return {"influxdb": {"storage": {"size": value}}}, "spec.influxdb.storage.size"
    if kind == "database":
        return {"influxdb": {"database": value}}, "spec.influxdb.database"
    if kind == "prefix":
        return {"gatling": {"rootPathPrefix": value}}, "spec.gatling.rootPathPrefix"
    return {"influxdb": {"resources": {"limits": {"cpu": value}}}}, "spec.influxdb.resources.limits['cpu']"


def _monitor(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor", "metadata": {"name": "m"}, "spec": spec}


@pytest.mark.parametrize("kind", sorted(CORPUS))
def test_crd_patterns_and_spec_checks_agree(kind: str) -> None:
    disagree = []
    for value in CORPUS[kind]:
        spec, path = _field(kind, value)
        crd_ok = not [p for p in crd_check.check(_monitor(spec)) if p[0] == path]
        try:
            parse_spec(spec)
            spec_ok = True
        except SpecError:
            spec_ok = False
        if crd_ok != spec_ok:
            disagree.append((value, f"crd={crd_ok}", f"spec={spec_ok}"))
    assert disagree == []
    # The corpus holds both answers, so the comparison can fail either way.
    answers = set()
    for value in CORPUS[kind]:
        spec, _ = _field(kind, value)
        try:
            parse_spec(spec)
            answers.add(True)
        except SpecError:
            answers.add(False)
    assert answers == {True, False}


CIDRS = [
    "10.0.0.0/8",
    "0.0.0.0/0",
    "203.0.113.7/32",
    "fd00::/8",
    "::/0",
    "2001:db8::/32",
    "10.0.0.0/33",
    "999.1.1.1/99",
    "10.0.0.0",
    "10.0.0.0/8\n",
    "010.0.0.0/8",
    "10.0.0.0/08",
    "1.2.3.4/-1",
    "everyone",
    "fd00::/129",
]


def test_every_cidr_the_operator_accepts_the_crd_accepts_and_ipv4_garbage_both_refuse() -> None:
    for value in CIDRS:
        spec = {"graphite": {"allowedSourceRanges": [value]}}
        crd_ok = not [
            p for p in crd_check.check(_monitor(spec)) if p[0].startswith("spec.graphite.allowedSourceRanges")
        ]
        try:
            parse_spec(spec)
            spec_ok = True
        except SpecError:
            spec_ok = False
        if spec_ok:
            assert crd_ok, value
        if not crd_ok:
            assert not spec_ok, value
    for value in ("10.0.0.0/33", "999.1.1.1/99", "10.0.0.0/8\n", "010.0.0.0/8", "fd00::/129"):
        assert crd_check.check(_monitor({"graphite": {"allowedSourceRanges": [value]}})), value


def test_the_packaged_crd_is_the_crds_file() -> None:
    assert crd_check.crd() == _crd()


def test_the_crd_holds_spec_pys_retention_and_size_patterns() -> None:
    influxdb = _schema()["properties"]["spec"]["properties"]["influxdb"]["properties"]
    # CEL rules with a message rather than patterns: the API server's pattern error dumps the regex.
    assert influxdb["retention"]["x-kubernetes-validations"][0]["rule"] == f"self.matches('^({RETENTION_PATTERN})$')"
    size = influxdb["storage"]["properties"]["size"]
    assert size["x-kubernetes-validations"][0]["rule"] == f"self.matches('^{STORAGE_SIZE_PATTERN}$')"
