"""What `down` would destroy with a monitor, and how to keep it: pure, from the live objects.

Deleting a LoadtestMonitor deletes what it owns. InfluxDB holds every run's series, and without a
PersistentVolumeClaim it holds them in an emptyDir that goes with its pod; a claim that carries
the monitor's ownerReference (storage on, keepOnDelete off) is deleted by the garbage collector.
Grafana's annotations and dashboard edits live in its pod as well unless storage is on. A claim
without the ownerReference (keepOnDelete) stays, so nothing is said about it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtest_monitor.identity import KIND, PLURAL

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class DataAtRisk:
    """What would be lost (one line each) and what the user can do about it (one line each)."""

    lost: tuple[str, ...]
    keep: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.lost)


def _field(obj: Obj, *path: str) -> Any:
    value: Any = obj
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _archive_target(monitor: Obj) -> str | None:
    """`s3://bucket/prefix` when the monitor archives to S3 (spec.archive.s3), else None."""
    s3 = _field(monitor, "spec", "archive", "s3")
    if not isinstance(s3, Mapping) or not s3.get("bucket"):
        return None
    prefix = str(s3.get("prefix") or "").strip("/")
    return f"s3://{s3['bucket']}/{prefix}" if prefix else f"s3://{s3['bucket']}"


def data_at_risk(monitor: Obj, owned_claims: Sequence[str], crd_has_archive: bool) -> DataAtRisk:
    """The data `down` would delete with `monitor`.

    owned_claims: names of the monitor's PersistentVolumeClaims that carry its ownerReference
    (deleted with it). crd_has_archive: the installed CRD knows spec.archive (offer it as the fix).
    """
    meta = monitor.get("metadata") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace", "default")
    storage_on = _field(monitor, "spec", "influxdb", "storage", "enabled") is True
    lost: list[str] = []
    keep: list[str] = []
    if not storage_on:
        lost.append("InfluxDB's data (every run's series) is in an emptyDir: it is deleted with its pod")
    for claim in owned_claims:
        lost.append(f"PersistentVolumeClaim {claim} (InfluxDB's data) is deleted: keepOnDelete is off")
    if not storage_on:
        lost.append("Grafana's annotations and dashboard edits are in its pod: they are deleted with it")
    if not lost:
        return DataAtRisk((), ())
    archive = _archive_target(monitor)
    if archive:
        keep.append(f"spec.archive.s3 is set: the operator archives the data to {archive} on delete")
    elif crd_has_archive:
        keep.append(
            f"archive it first: set spec.archive.s3 (bucket, prefix) on {KIND} {namespace}/{name}; "
            "it is written to S3 on delete and restored into a new monitor"
        )
    if owned_claims:
        keep.append(
            f"keep the claim: kubectl -n {namespace} patch {PLURAL} {name} --type merge "
            "-p '{\"spec\":{\"influxdb\":{\"storage\":{\"keepOnDelete\":true}}}}' (then run down again)"
        )
    if not storage_on and not archive:
        keep.append(
            "an emptyDir cannot be kept: export what you need from Grafana now; for the next monitor, "
            "spec.influxdb.storage.enabled: true with keepOnDelete: true keeps the data on a volume"
        )
    return DataAtRisk(tuple(lost), tuple(keep))
