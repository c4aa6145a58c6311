"""What the reconcile unit tests share: a monitor put into the FakeKube, the Deployment controller's
rollout, the Ready condition, and two passes that settle a monitor."""

from __future__ import annotations

import copy
from typing import Any

from loadtest_monitor.identity import API_VERSION, KIND
from tests.unit.fake_kube import FakeKube, make_reconciler

NS = "perf"


def monitor(fake: FakeKube, spec: dict[str, Any] | None = None, name: str = "checkout") -> dict[str, Any]:
    old = fake.objects.get((API_VERSION, KIND, NS, name))
    body: dict[str, Any] = (
        copy.deepcopy(old) if old else {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}}
    )
    body["metadata"]["namespace"] = NS
    body["spec"] = spec or {}
    if old:
        body["metadata"]["generation"] = old["metadata"]["generation"] + 1
    return fake.put(body)


def roll_out(fake: FakeKube) -> None:
    """What the Deployment controller reports once the pods are available."""
    for key, obj in list(fake.objects.items()):
        if key[1] == "Deployment":
            obj["status"] = {
                "observedGeneration": obj["metadata"].get("generation", 1),
                "updatedReplicas": 1,
                "availableReplicas": 1,
                "conditions": [{"type": "Available", "status": "True"}],
            }
            fake.put(obj)


def ready(fake: FakeKube, name: str = "checkout") -> dict[str, Any]:
    status = fake.objects[(API_VERSION, KIND, NS, name)].get("status") or {}
    return next(c for c in status.get("conditions", []) if c["type"] == "Ready")


def settle(fake: FakeKube) -> Any:
    rec = make_reconciler(fake)
    rec.reconcile(NS, "checkout")
    roll_out(fake)
    rec.reconcile(NS, "checkout")
    return rec
