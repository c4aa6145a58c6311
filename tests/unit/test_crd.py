"""The CRD is the first line of validation and the one source of the spec's facts: the operator reads
its defaults, enums, bounds and patterns from it (spec/schema.py); what Python states beside it (the
image grammar, the monitor name rules, the reserved measurement names, the quantity grammar) is
checked here to be exactly what the CRD's CEL rules and patterns say."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from loadtest_monitor import graphite
from loadtest_monitor.identity import GROUP, KIND, PLURAL, VERSION
from loadtest_monitor.spec import crd_check, kube_rules, schema
from loadtest_monitor.spec.image import IMAGE_RULE
from loadtest_monitor.spec.monitor import (
    MAX_MONITOR_NAME,
    MONITOR_NAME_PATTERN,
    RESERVED_MEASUREMENTS,
    SUMMARY_ROOTS,
    SpecError,
    parse_spec,
)


def _crd() -> dict[str, Any]:
    return schema.crd()


def _schema() -> dict[str, Any]:
    return schema.root()


def test_names_match_the_operator() -> None:
    crd = _crd()
    assert crd["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    assert crd["spec"]["names"]["kind"] == KIND
    assert crd["spec"]["names"]["shortNames"] == ["ltm"]
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["versions"][0]["name"] == VERSION
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_crd_defaults_equal_operator_defaults() -> None:
    defaulted = crd_check.apply_defaults(schema.at("spec").raw, {})
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


def test_every_spec_field_has_a_description_or_is_self_explaining() -> None:
    undocumented = [
        path
        for path, node in _nodes(_schema())
        if path.startswith("spec.")
        and "{}" not in path
        and "placement" not in path
        and "adminSecretRef." not in path
        and "resources." not in path
        and not path.endswith("[]")
        and not node.get("description")
    ]
    assert undocumented == []


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
    repo_file = schema.crd_file()
    assert repo_file.name == f"{GROUP}_{PLURAL}.yaml" and repo_file.parent.name == "crds"
    assert crd_check.crd() == yaml.safe_load(repo_file.read_text())


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node of the schema with its dotted path (`[]` for an array's items, `{}` for map values)."""
    yield path, node
    for key, sub in (node.get("properties") or {}).items():
        yield from _nodes(sub, f"{path}.{key}" if path else key)
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


def test_every_image_field_of_the_crd_states_the_operators_image_grammar() -> None:
    image_rules = {
        path: [r["rule"] for r in node.get("x-kubernetes-validations") or ()]
        for path, node in _nodes(_schema())
        if path.endswith(".image")
    }
    assert sorted(image_rules) == ["spec.archive.image", "spec.grafana.image", "spec.influxdb.image"]
    assert all(rules == [IMAGE_RULE] for rules in image_rules.values()), image_rules


def test_the_crd_states_the_operators_monitor_name_rules() -> None:
    rules = schema.Node("", _schema()).rules
    assert rules == (
        f"size(self.metadata.name) <= {MAX_MONITOR_NAME}",
        f"self.metadata.name.matches('^{MONITOR_NAME_PATTERN}$')",
    )


def test_the_crd_reserves_the_measurement_names_of_the_graphite_contract() -> None:
    # The CEL rule cannot import Python: the names it refuses must be graphite.py's, exactly.
    reserved = " && ".join(f"self != '{name}'" for name in RESERVED_MEASUREMENTS)
    summary = " && ".join(f"self != '{name}'" for name in SUMMARY_ROOTS)
    assert schema.at("spec.gatling.rootPathPrefix").rules == (reserved, summary)
    assert RESERVED_MEASUREMENTS == (graphite.USERS,)
    assert SUMMARY_ROOTS == (graphite.SUMMARY_ROOT, graphite.SPAN_ROOT)


def test_every_resource_quantity_of_the_crd_uses_the_kubernetes_quantity_grammar() -> None:
    quantity_nodes = [
        (path, node.get("pattern")) for path, node in _nodes(_schema()) if node.get("x-kubernetes-int-or-string")
    ]
    assert len(quantity_nodes) == 4, quantity_nodes  # requests and limits of InfluxDB and Grafana
    assert {pattern for _, pattern in quantity_nodes} == {f"^{kube_rules.QUANTITY_PATTERN}$"}


def test_the_operator_reads_its_facts_from_the_crd() -> None:
    """A fact changed in the CRD changes what the operator accepts: nothing is stated twice."""
    assert parse_spec({}).influxdb.image == schema.at("spec.influxdb.image").default
    assert parse_spec({}).grafana.image == schema.at("spec.grafana.image").default
    top = int(schema.at("spec.gatling.writePeriod").maximum)
    assert parse_spec({"gatling": {"writePeriod": top}}).gatling.write_period == top
    with pytest.raises(SpecError, match=f"from 1 to {top}"):
        parse_spec({"gatling": {"writePeriod": top + 1}})
    for path, key in (("spec.grafana.service.type", "type"), ("spec.grafana.service.scheme", "scheme")):
        with pytest.raises(SpecError, match=", ".join(schema.at(path).enum)):
            parse_spec({"grafana": {"service": {key: "Other"}}})


def test_the_crds_kubernetes_name_fields_use_kube_rules_grammar_and_length() -> None:
    """The CRD restates Kubernetes' own name rules for the API server; kube_rules.py is their one
    Python source, so each pattern and length must be exactly its."""
    subdomain = (f"^{kube_rules.DNS1123_SUBDOMAIN_PATTERN}$", kube_rules.DNS1123_SUBDOMAIN_MAX)
    expected = {
        "spec.influxdb.storage.storageClassName": subdomain,
        "spec.grafana.adminSecretRef.name": subdomain,
        "spec.grafana.adminSecretRef.userKey": (f"^{kube_rules.CONFIG_KEY_PATTERN}$", kube_rules.SECRET_KEY_MAX),
        "spec.grafana.adminSecretRef.passwordKey": (f"^{kube_rules.CONFIG_KEY_PATTERN}$", kube_rules.SECRET_KEY_MAX),
        "spec.graphite.allowedNamespaces[]": (f"^{kube_rules.DNS1123_LABEL_PATTERN}$", kube_rules.DNS1123_LABEL_MAX),
    }
    stated = {path: (schema.at(path).pattern, schema.at(path).max_length) for path in expected}
    assert stated == expected


def test_a_fact_the_crd_does_not_state_is_a_clear_error_naming_the_path() -> None:
    with pytest.raises(schema.SchemaPathError, match=r"spec\.gatling\.nope: not in the loadtestmonitors CRD"):
        schema.at("spec.gatling.nope")
    with pytest.raises(schema.SchemaPathError, match=r"spec\.gatling\.light: the CRD states no enum"):
        _ = schema.at("spec.gatling.light").enum
    with pytest.raises(schema.SchemaPathError, match=r"spec\.gatling\.writePeriod: the CRD states no self\.matches"):
        _ = schema.at("spec.gatling.writePeriod").cel_pattern


def test_a_grammar_stated_in_cel_is_read_without_its_anchors() -> None:
    size = schema.at("spec.influxdb.storage.size")
    assert size.rules[0] == f"self.matches('^{size.cel_pattern}$')"
    assert "^" not in size.cel_pattern and not size.cel_pattern.endswith("$")
    # The image rule holds two matches: the first is the grammar.
    assert schema.at("spec.influxdb.image").cel_pattern == IMAGE_RULE.split("'^", 1)[1].split("$'", 1)[0]


def _spec_with(path: str, value: Any) -> dict[str, Any]:
    """A spec holding `value` at the dotted `spec.` path."""
    spec: dict[str, Any] = {}
    node = spec
    *parents, leaf = path.split(".")[1:]
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return spec


def _spec_problem_paths(spec: dict[str, Any]) -> list[str]:
    try:
        parse_spec(spec)
    except SpecError as err:
        return [path for path, _ in err.problems]
    return []


def test_the_operator_enforces_every_enum_and_bound_the_crd_states_for_an_object_field() -> None:
    """Walked from the CRD, so a field added there is covered here without a test edit. A field of an
    optional section with required siblings (spec.archive) also draws those siblings' problems: only
    the field's own problem is asserted."""
    checked = []
    for path, node in _nodes(_schema()):
        if not path.startswith("spec.") or "[]" in path or "{}" in path:
            continue  # list items and map values: checked by kube_rules with Kubernetes' own words
        if "enum" in node:
            assert path in _spec_problem_paths(_spec_with(path, "Bogus")), path
            checked.append(path)
        if node.get("type") == "integer" and "maximum" in node:
            assert path in _spec_problem_paths(_spec_with(path, node["maximum"] + 1)), path
            assert path in _spec_problem_paths(_spec_with(path, node["minimum"] - 1)), path
            assert path not in _spec_problem_paths(_spec_with(path, node["maximum"])), path
            checked.append(path)
    assert len(checked) >= 9, checked  # 4 enums, 5 bounded integers today


def test_a_cel_grammar_with_a_backslash_is_refused_not_misread() -> None:
    node = schema.Node("spec.x", {"x-kubernetes-validations": [{"rule": "self.matches('^a\\\\.b$')"}]})
    with pytest.raises(schema.SchemaPathError, match=r"spec\.x: write the CEL grammar without backslashes"):
        _ = node.cel_pattern
