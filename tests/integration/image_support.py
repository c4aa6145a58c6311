"""Image references judged by the real API server (the 1.36 cluster and the 1.27 floor alike)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import yaml

from ltm_harness.cases.image_references import REFERENCES

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
MESSAGE = "image is [registry[:port]/]name[:tag][@sha256:<64 hex>]"


def _monitor(name: str, spec: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor", "metadata": {"name": name}, "spec": spec}
    )


def disagreements(kubectl: Kubectl, namespace: str) -> list[str]:
    """Every reference (as both image fields) whose API-server verdict is not the expected one."""
    wrong: list[str] = []
    for index, (reference, valid) in enumerate(REFERENCES):
        for field in ("grafana", "influxdb"):
            # The CRD judges the grammar only (1.x is the operator's check), the same for both fields.
            spec = {field: {"image": reference}}
            result = kubectl(
                "apply", "--dry-run=server", "-n", namespace, "-f", "-", input=_monitor(f"img-{index}", spec)
            )
            accepted = result.returncode == 0
            named = f"spec.{field}.image" in result.stderr and MESSAGE in result.stderr
            if accepted != valid or (not accepted and not named):
                wrong.append(f"{field} {reference!r}: rc={result.returncode} {result.stderr.strip()[:300]}")
    return wrong
