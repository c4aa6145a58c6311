"""What `down` says would be lost with a monitor, and the way to keep it, from the live objects
(cli/data_loss.py). The whole command against a real API server: tests/integration/test_down_data_loss.py."""

from __future__ import annotations

from typing import Any

from loadtest_monitor.cli.data_loss import data_at_risk
from loadtest_monitor.cli.down import crd_has_archive
from loadtest_monitor.spec.schema import crd as source_crd


def monitor(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "checkout", "namespace": "perf"}, "spec": spec}


def test_default_monitor_loses_influxdb_and_grafana_state_and_says_so() -> None:
    risk = data_at_risk(monitor({}), [], crd_has_archive=False)
    assert risk
    assert [line.split(" ")[0] for line in risk.lost] == ["InfluxDB's", "Grafana's"]
    assert risk.keep == (
        "an emptyDir cannot be kept: export what you need from Grafana now; for the next monitor, "
        "spec.influxdb.storage.enabled: true with keepOnDelete: true keeps the data on a volume",
    )


def test_storage_kept_on_delete_loses_nothing() -> None:
    spec = {"influxdb": {"storage": {"enabled": True, "keepOnDelete": True}}}
    risk = data_at_risk(monitor(spec), [], crd_has_archive=True)
    assert not risk and risk.lost == () and risk.keep == ()


def test_an_owned_claim_is_named_with_the_patch_that_keeps_it() -> None:
    risk = data_at_risk(monitor({"influxdb": {"storage": {"enabled": True}}}), ["checkout-influxdb"], False)
    assert risk.lost == ("PersistentVolumeClaim checkout-influxdb (InfluxDB's data) is deleted: keepOnDelete is off",)
    assert len(risk.keep) == 1 and "kubectl -n perf patch loadtestmonitors checkout --type merge" in risk.keep[0]


def test_the_archive_is_offered_where_the_crd_has_it_and_named_where_it_is_set() -> None:
    offered = data_at_risk(monitor({}), [], crd_has_archive=True)
    first = offered.keep[0]
    assert first.startswith("archive it first: set spec.archive.s3 (bucket, prefix) on LoadtestMonitor perf/checkout")
    spec = {"archive": {"s3": {"bucket": "perf-results", "prefix": "/monitors/checkout/"}}}
    named = data_at_risk(monitor(spec), [], crd_has_archive=True)
    target = "s3://perf-results/monitors/checkout"
    assert named.keep == (f"spec.archive.s3 is set: the operator archives the data to {target} on delete",)


def test_crd_has_archive_reads_the_served_schema() -> None:
    crd = source_crd()
    spec_props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert crd_has_archive(crd) == ("archive" in spec_props)
    spec_props["archive"] = {"type": "object"}
    assert crd_has_archive(crd)
    crd["spec"]["versions"][0]["served"] = False
    assert not crd_has_archive(crd)
    assert not crd_has_archive(None)
