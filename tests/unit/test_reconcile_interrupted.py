"""A pass cut short deletes nothing the monitor still wants (issue 14, item 1).

The pass is interrupted at every call index 0..N it makes to the client: by an exception, by an
API error, or by the deadline passing (an injected clock jumps past it at that call). Whatever
the index, no child the new spec wants is ever deleted and the admin password never changes;
a pass that completes afterwards still removes what the spec no longer wants.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from loadtest_monitor.kube.client import KubeError
from tests.unit.fake_kube import FakeKube
from tests.unit.reconcile_support import NS, monitor, settle

STORAGE = {"storage": {"enabled": True, "size": "5Gi"}}
PVC = "PersistentVolumeClaim/checkout-influxdb-data"
NETWORK_POLICY = "NetworkPolicy/checkout-influxdb"
ADMIN_SECRET = "Secret/checkout-grafana-admin"
AUTH_SECRET = "Secret/checkout-influxdb-auth"

# (spec before, spec after, children that must survive every interrupted pass)
EDITS: dict[str, tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]] = {
    "storage on->on": (
        {"influxdb": STORAGE},
        {"influxdb": {**STORAGE, "retention": "14d"}},
        (PVC, NETWORK_POLICY, ADMIN_SECRET, AUTH_SECRET),
    ),
    "network policy on->on": (
        {"graphite": {"allowedNamespaces": ["runners"]}},
        {"graphite": {"allowedNamespaces": ["runners", "ci"]}, "influxdb": {"database": "g2"}},
        (NETWORK_POLICY, ADMIN_SECRET, AUTH_SECRET),
    ),
    "admin secret generated": (
        {"influxdb": STORAGE, "grafana": {"anonymousViewing": True}},
        {"influxdb": STORAGE, "placement": {"nodeSelector": {"pool": "perf"}}},
        (PVC, NETWORK_POLICY, ADMIN_SECRET, AUTH_SECRET),
    ),
}
MODES = ("exception", "kube-error", "deadline")


class InterruptingKube(FakeKube):
    """The fake client, interrupted at its `at`-th call (counted from `arm()`)."""

    def __init__(self) -> None:
        super().__init__()
        self.at: int | None = None
        self.mode = ""
        self.counted = 0
        self.interrupted = False
        self.deadline_passed = False

    def arm(self, at: int, mode: str) -> None:
        self.at, self.mode, self.counted, self.interrupted = at, mode, 0, False

    def disarm(self) -> None:
        self.at = None

    def deadline_clock(self) -> float:
        return math.inf if self.deadline_passed else 0.0

    def _check(self, verb: str, kind: str, name: str) -> None:
        if self.at is not None and self.counted == self.at:
            self.interrupted = True
            if self.mode == "exception":
                raise RuntimeError(f"injected fault at call {self.at}: {verb} {kind}/{name}")
            if self.mode == "kube-error":
                raise KubeError(503, f"injected API error at call {self.at}: {verb} {kind}/{name}")
            self.deadline_passed = True  # the call itself is answered; the next check sees the deadline gone
        self.counted += 1
        super()._check(verb, kind, name)


def _uids(fake: FakeKube, labels: tuple[str, ...]) -> dict[str, str]:
    return {label: fake.found(*label.split("/", 1))["metadata"]["uid"] for label in labels}


def _settled(before: dict[str, Any]) -> tuple[InterruptingKube, Any]:
    fake = InterruptingKube()
    monitor(fake, before)
    rec = settle(fake)
    rec.clock = fake.deadline_clock
    return fake, rec


def _interrupted_pass(fake: InterruptingKube, rec: Any, at: int, mode: str) -> None:
    fake.tick()  # the by-name cache expired: the pass reads the Secrets too (more call indices)
    fake.arm(at, mode)
    try:
        rec.reconcile(NS, "checkout")
    except RuntimeError:
        assert mode == "exception"
    finally:
        fake.disarm()
        fake.deadline_passed = False


@pytest.mark.parametrize("edit", list(EDITS))
@pytest.mark.parametrize("mode", MODES)
def test_a_pass_interrupted_at_any_call_deletes_no_wanted_child(edit: str, mode: str) -> None:
    before, after, wanted = EDITS[edit]
    at = 0
    while True:
        fake, rec = _settled(before)
        uids = _uids(fake, wanted)
        password = fake.found("Secret", "checkout-grafana-admin")["data"]
        monitor(fake, after)
        _interrupted_pass(fake, rec, at, mode)
        deleted = [c for c in fake.calls if c[0] == "delete"]
        assert not deleted, f"{edit}, {mode} at call {at}: deleted {deleted}"
        assert _uids(fake, wanted) == uids, f"{edit}, {mode} at call {at}"
        assert fake.found("Secret", "checkout-grafana-admin")["data"] == password, f"{edit}, {mode} at call {at}"
        if not fake.interrupted:
            break  # `at` is past the last call of the pass: every index was tried
        rec.reconcile(NS, "checkout")  # the retry completes and converges, still deleting nothing
        assert not [c for c in fake.calls if c[0] == "delete"], f"{edit}, {mode} at call {at} (retry)"
        at += 1
    assert at >= 4, f"{edit}: only {at} calls were interrupted; the pass did not run as expected"


def _switch_off_storage_interrupted_then_complete(
    at: int, mode: str, storage: dict[str, Any]
) -> tuple[InterruptingKube, Callable[[], None]]:
    fake, rec = _settled({"influxdb": {"storage": storage}})
    monitor(fake, {})
    _interrupted_pass(fake, rec, at, mode)
    return fake, lambda: rec.reconcile(NS, "checkout")


@pytest.mark.parametrize("mode", MODES)
def test_storage_switched_off_is_pruned_only_by_a_completed_pass(mode: str) -> None:
    for at in range(6):
        fake, complete = _switch_off_storage_interrupted_then_complete(at, mode, STORAGE["storage"])
        complete()
        assert fake.find("PersistentVolumeClaim", "checkout-influxdb-data") is None, f"{mode} at {at}"
        assert fake.find("NetworkPolicy", "checkout-influxdb") is not None


def test_storage_switched_off_with_keep_on_delete_keeps_the_claim() -> None:
    kept = {**STORAGE["storage"], "keepOnDelete": True}
    for at in range(4):
        fake, complete = _switch_off_storage_interrupted_then_complete(at, "deadline", kept)
        complete()
        assert fake.find("PersistentVolumeClaim", "checkout-influxdb-data") is not None
        assert ("delete", "PersistentVolumeClaim", "checkout-influxdb-data") not in fake.calls
