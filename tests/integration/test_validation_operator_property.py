"""Property: hundreds of generated specs, valid and hostile, go through the CRD and the running
operator, one after another, as edits of one monitor beside a healthy one.

For each spec: the API server refuses it naming a spec field, or the operator answers it (status
for that generation) with Ready=False/InvalidSpec naming a spec field, or with any other status
for a spec it accepts. Across all of them the operator never crashes or logs a traceback, and the
healthy monitor and its children get no write from the operator (counted in the audit log).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykube
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from operator_support import (
    Operator,
    children,
    condition,
    get_monitor,
    minimal,
    operator_writes,
    running_operator,
    wait_for,
    wait_ready,
)
from test_validation_property import specs

EXAMPLES = 150
SEEN = {"refused by the API server": 0, "InvalidSpec": 0, "accepted": 0}


@pytest.fixture(scope="module")
def operator(cluster: Any, crd: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(cluster, tmp_path_factory.mktemp("operator")) as op:
        yield op


def _answered(api: pykube.HTTPClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The monitor once the operator has written status for its current generation."""
    mon = get_monitor(api, namespace, name)
    observed = (mon.get("status") or {}).get("observedGeneration")
    return mon if observed == mon["metadata"]["generation"] and condition(mon, "Ready") else None


def _one_spec(cluster: Any, api: pykube.HTTPClient, operator: Operator, namespace: str, spec: dict[str, Any]) -> None:
    manifest = minimal("edited", **spec)
    # Server-side apply of the whole spec: a field left out of this example is removed.
    result = cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest)
    )
    assert operator.proc is not None and operator.proc.poll() is None, operator.log_tail()
    if result.returncode != 0:
        assert "spec." in result.stderr or "metadata." in result.stderr, result.stderr
        SEEN["refused by the API server"] += 1
        return
    mon = wait_for(lambda: _answered(api, namespace, "edited"), 30, f"status for {spec}")
    ready = condition(mon, "Ready")
    if ready.get("reason") == "InvalidSpec":
        assert ready["status"] == "False"
        message = ready["message"]
        assert message.startswith("spec."), message
        assert "\n" not in message and len(message) <= 1024, message
        assert "Traceback" not in message
        SEEN["InvalidSpec"] += 1
    else:
        SEEN["accepted"] += 1


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(spec=specs)
def _property(cluster: Any, api: pykube.HTTPClient, operator: Operator, namespace: str, spec: dict[str, Any]) -> None:
    _one_spec(cluster, api, operator, namespace, spec)


@pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")
def test_generated_specs_through_the_crd_and_the_operator(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, namespace: str
) -> None:
    applied = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(minimal("healthy")))
    assert applied.returncode == 0, applied.stderr
    wait_ready(kube_api, namespace, "healthy")
    assert children(kube_api, namespace, "healthy"), "the healthy monitor has children"
    time.sleep(2)  # the last writes of its own convergence are behind the mark
    mark = cluster.audit_mark()

    started = time.monotonic()
    _property(cluster, kube_api, operator, namespace)
    elapsed = time.monotonic() - started

    assert operator.proc is not None and operator.proc.poll() is None, operator.log_tail()
    log = Path(operator.log_path).read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
    touched = [w for w in operator_writes(cluster, mark, namespace) if w[2].startswith("healthy")]
    assert touched == [], f"edits of another monitor wrote to this one: {touched}"
    assert all(count >= 10 for count in SEEN.values()), SEEN
    print(f"{sum(SEEN.values())} specs in {elapsed:.0f} s: {SEEN}")
