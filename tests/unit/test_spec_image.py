"""Image references: the kubelet's grammar on every image field, in the CRD and in the operator alike,
and the InfluxDB 1.x rule judging a digest-pinned reference by its tag (issue 14, items 3 and 9)."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest_monitor.spec import crd_check
from loadtest_monitor.spec.monitor import SpecError, parse_spec
from ltm_harness.cases.image_references import DIGEST, REFERENCES


def _monitor(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor", "metadata": {"name": "m"}, "spec": spec}


def _verdicts(spec: dict[str, Any], path: str) -> tuple[bool, bool, str]:
    crd_ok = not [p for p in crd_check.check(_monitor(spec)) if p[0] == path]
    try:
        parse_spec(spec)
        return crd_ok, True, ""
    except SpecError as err:
        return crd_ok, False, str(err)


@pytest.mark.parametrize(("reference", "valid"), REFERENCES)
def test_grafana_image_follows_the_reference_grammar_in_the_crd_and_the_operator(reference: str, valid: bool) -> None:
    crd_ok, spec_ok, message = _verdicts({"grafana": {"image": reference}}, "spec.grafana.image")
    assert (crd_ok, spec_ok) == (valid, valid)
    if not valid:
        assert message.startswith("spec.grafana.image: ") and "[registry[:port]/]name[:tag]" in message


def test_an_influxdb_tag_with_a_second_colon_is_refused_at_apply() -> None:
    crd_ok, spec_ok, message = _verdicts({"influxdb": {"image": "influxdb:1.0:evil"}}, "spec.influxdb.image")
    assert not crd_ok and not spec_ok
    assert message.startswith("spec.influxdb.image: ") and "not an image reference" in message


def test_a_name_longer_than_the_kubelet_takes_is_refused() -> None:
    with pytest.raises(SpecError, match="longer than 255"):
        parse_spec({"grafana": {"image": "a" * 250 + "/bcdef"}})


# --- InfluxDB 1.x, digest or not -----------------------------------------------------------------


def test_a_digest_pinned_influxdb_is_judged_by_its_tag() -> None:
    ok = f"influxdb:1.12.4@{DIGEST}"
    assert parse_spec({"influxdb": {"image": ok}}).influxdb.image == ok
    with pytest.raises(SpecError, match=r"tag '2\.7' is not InfluxDB 1\.x"):
        parse_spec({"influxdb": {"image": f"influxdb:2.7@{DIGEST}"}})


def test_a_bare_digest_is_refused_asking_for_the_tag_beside_it() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({"influxdb": {"image": f"registry.local:5000/influxdb@{DIGEST}"}})
    assert caught.value.field == "spec.influxdb.image"
    assert "registry.local:5000/influxdb:1.12.4@sha256:..." in caught.value.message


def test_every_image_field_of_the_crd_carries_the_grammar() -> None:
    """No image field can be added without the rule: every string property named image is checked."""
    found: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        for key, sub in (node.get("properties") or {}).items():
            if key == "image" or key.endswith("Image"):
                rules = [r["rule"] for r in sub.get("x-kubernetes-validations") or []]
                assert any("sha256:[a-f0-9]{64}" in r for r in rules), f"{path}.{key}"
                found.append(f"{path}.{key}")
            walk(sub, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], path + "[]")

    walk(crd_check.schema(), "")
    assert found == [".spec.influxdb.image", ".spec.grafana.image"]
