"""What `loadtest-monitor up` installs is what the kustomize base installs, read from the package."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import pytest
import yaml

from loadtest_monitor.cli.install import crd_objects, default_image, operator_objects
from loadtest_monitor.cli.up import describe_state, is_ready, parse_duration, parse_timeout, read_monitors, summary
from tests.packaging.packaging_support import BASE, CRD_FILES, ROOT, kustomize


def test_packaged_manifests_are_the_repository_files_byte_for_byte() -> None:
    packaged = resources.files("loadtest_monitor") / "install_manifests"
    for name in sorted(p.name for p in BASE.iterdir()):
        assert (packaged / "base" / name).read_bytes() == (BASE / name).read_bytes(), name
    for crd_file in CRD_FILES:
        assert (packaged / "crds" / crd_file.name).read_bytes() == crd_file.read_bytes(), crd_file.name


def test_package_data_patterns_cover_every_install_manifest() -> None:
    """pyproject's package-data must name the files `up` reads, or a built wheel lacks them."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    for folder in ("crds", "base"):
        assert f'"install_manifests/{folder}/*.yaml"' in pyproject
    assert all(p.suffix == ".yaml" for p in BASE.iterdir())


def test_up_installs_exactly_what_kustomize_builds_from_the_base() -> None:
    def key(obj: dict) -> tuple[str, str, str]:
        return (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    built = sorted(kustomize(BASE), key=key)
    ours = sorted([*crd_objects(), *operator_objects()], key=key)
    assert ours == built


def test_operator_image_can_be_chosen_and_defaults_to_the_base_tag() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    (entry,) = kustomization["images"]
    assert default_image() == f"loadtest-monitor:{entry['newTag']}"
    deployment = next(o for o in operator_objects("registry.example/ltm/operator:1.2.3") if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/ltm/operator:1.2.3"


def test_operator_objects_come_in_an_order_that_applies() -> None:
    kinds = [o["kind"] for o in operator_objects()]
    assert kinds[0] == "Namespace"
    assert kinds.index("ServiceAccount") < kinds.index("Deployment")
    assert kinds[-1] == "Deployment"


def test_read_monitors_checks_the_spec_before_anything_is_sent(tmp_path: Path) -> None:
    good = tmp_path / "m.yaml"
    good.write_text("apiVersion: loadtest.dev/v1alpha1\nkind: LoadtestMonitor\nmetadata: {name: checkout}\n")
    (monitor,) = read_monitors(str(good), None)
    assert monitor["metadata"] == {"name": "checkout", "namespace": "default"}
    assert read_monitors(str(good), "perf")[0]["metadata"]["namespace"] == "perf"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: loadtest.dev/v1alpha1\nkind: LoadtestMonitor\nmetadata: {name: checkout}\n"
        "spec: {influxdb: {retention: forever}}\n"
    )
    with pytest.raises(SystemExit, match=rf"^error: {bad}: LoadtestMonitor checkout: spec.influxdb.retention"):
        read_monitors(str(bad), None)
    with pytest.raises(SystemExit, match=r"^error: .*missing.yaml: cannot read: No such file or directory$"):
        read_monitors(str(tmp_path / "missing.yaml"), None)
    empty = tmp_path / "empty.yaml"
    empty.write_text("kind: ConfigMap\n")
    with pytest.raises(SystemExit, match=r"no loadtest.dev/v1alpha1 LoadtestMonitor found"):
        read_monitors(str(empty), None)


def test_timeouts() -> None:
    assert parse_timeout("600") == 600
    assert parse_timeout("90s") == 90
    assert parse_timeout("10m") == 600
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        parse_timeout("soon")
    with pytest.raises(argparse.ArgumentTypeError, match="a timeout must be above zero"):
        parse_timeout("0")
    assert parse_duration("0") == 0


MONITOR = {
    "metadata": {"name": "checkout", "namespace": "perf", "generation": 2},
    "status": {
        "observedGeneration": 2,
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "InfluxDBNotReady", "message": "InfluxDB: 0/1 available"},
            {"type": "InfluxDBReady", "status": "False", "reason": "Progressing", "message": "0/1 available"},
            {"type": "GrafanaReady", "status": "True", "reason": "Available", "message": "1/1"},
        ],
        "grafana": {"url": "", "internalUrl": "http://checkout-grafana.perf.svc.cluster.local:3000",
                    "adminSecret": {"name": "checkout-grafana-admin", "userKey": "admin-user",
                                    "passwordKey": "admin-password"}},
        "graphite": {"address": "checkout-graphite.perf.svc.cluster.local:2003", "protocol": "tcp"},
        "gatlingConfig": {"configMap": "checkout-gatling", "key": "gatling.conf"},
    },
}


def test_progress_names_the_failing_condition() -> None:
    assert not is_ready(MONITOR)
    assert describe_state(MONITOR) == "Ready=False; InfluxDBReady: Progressing: 0/1 available"
    assert describe_state({"metadata": {}}) == "waiting for the operator's first status"


def test_ready_needs_the_current_generation() -> None:
    ready = yaml.safe_load(yaml.safe_dump(MONITOR))
    ready["status"]["conditions"][0]["status"] = "True"
    assert is_ready(ready)
    ready["metadata"]["generation"] = 3
    assert not is_ready(ready)


def test_summary_says_where_everything_is() -> None:
    text = summary(MONITOR)
    assert "kubectl -n perf get secret checkout-grafana-admin -o jsonpath='{.data.admin-password}' | base64 -d" in text
    assert "Graphite:     checkout-graphite.perf.svc.cluster.local:2003 (tcp)" in text
    assert "ConfigMap checkout-gatling (key gatling.conf) in namespace perf" in text
    assert "load balancer address pending" in text
    with_url = yaml.safe_load(yaml.safe_dump(MONITOR))
    with_url["status"]["grafana"]["url"] = "http://k8s-perf-checkout.elb.eu-west-1.amazonaws.com:3000"
    assert "Grafana:      http://k8s-perf-checkout.elb.eu-west-1.amazonaws.com:3000" in summary(with_url)
