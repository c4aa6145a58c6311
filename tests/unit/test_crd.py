"""The CRD is the first line of validation; its defaults must be the operator's defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from loadtest_monitor.identity import GROUP, KIND, PLURAL, VERSION
from loadtest_monitor.spec import parse_spec

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "loadtest.dev_loadtestmonitors.yaml"


def _crd() -> dict[str, Any]:
    return dict(yaml.safe_load(CRD_PATH.read_text()))


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
