"""What only the operator judges reaches the user through the monitor's status and one Event.

Both values below pass the CRD (`kubectl apply` accepts them) but cannot work: a CIDR with host
bits set (the API server refuses it in the Service and NetworkPolicy the operator would apply) and
a baseConfig whose `gatling.data.writers` is not a list (this aborted the reconcile with a
traceback and no status before). The operator must report both, name the fields, and create nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pykube
import pytest
import yaml

from tests.integration.operator_support import (
    Operator,
    apply_monitor,
    children,
    condition,
    get_monitor,
    minimal,
    running_operator,
    wait_for,
)


@pytest.fixture(scope="module")
def operator(cluster: Any, crd: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(cluster, tmp_path_factory.mktemp("operator")) as op:
        yield op


def test_problems_only_the_operator_sees_become_invalid_spec_with_every_field(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    manifest = minimal(
        "judged",
        graphite={"allowedSourceRanges": ["10.1.2.3/8"]},
        gatling={"baseConfig": "gatling.data.writers = graphite"},
    )
    applied = apply_monitor(cluster, namespace, manifest)
    assert applied.returncode == 0, applied.stderr  # the CRD lets both through

    def invalid() -> dict[str, Any] | None:
        ready = condition(get_monitor(kube_api, namespace, "judged"), "Ready")
        return ready if ready.get("reason") == "InvalidSpec" else None

    ready = wait_for(invalid, 60, "Ready=False InvalidSpec")
    assert ready["status"] == "False"
    message = ready["message"]
    assert "spec.graphite.allowedSourceRanges[0]: '10.1.2.3/8' has host bits set; write 10.0.0.0/8" in message
    assert "spec.gatling.baseConfig: gatling.data.writers must be a list" in message
    assert "\n" not in message and len(message) <= 1024
    events = yaml.safe_load(
        cluster.kubectl(
            "get", "events", "-n", namespace, "--field-selector", "reason=InvalidSpec", "-o", "yaml"
        ).stdout
    )["items"]
    assert events and all(e["type"] == "Warning" for e in events)
    assert "spec.graphite.allowedSourceRanges[0]" in events[0]["message"]
    assert children(kube_api, namespace, "judged") == {}
    assert "Traceback" not in operator.log_path.read_text()
