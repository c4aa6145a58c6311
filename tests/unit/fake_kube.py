"""An in-memory stand-in for the client layer (kube.Kube) and the watches, for reconcile unit tests.

It keeps the rules the reconcile relies on: an apply with a uid updates exactly that object and
fails when the object of that name has another uid or is gone; an apply without a uid is
create-only: onto an existing object it fails with 409 and changes nothing (recorded in
`refused_creates`), as kube.Kube's create-only apply does on the real server; what we send
replaces what we sent before (removed fields go, fields of others stay); a Deployment's selector
is immutable, a delete honours its uid precondition. Watches are immediate: every write shows in
the store's sources at once, except for kinds the store does not watch (Secrets).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

from loadtest_monitor.controller.store import WatchStore
from loadtest_monitor.identity import API_VERSION, KIND
from loadtest_monitor.kube.client import KubeError
from loadtest_monitor.obj import Obj
from loadtest_monitor.settings import Settings

WATCHED = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "PersistentVolumeClaim"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    (API_VERSION, KIND),
)
_OURS = ("spec", "data", "type")


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str, str], Obj] = {}
        self.sources: dict[tuple[str, str], dict[tuple[str, str], list[Obj]]] = {k: {} for k in WATCHED}
        self.calls: list[tuple[str, str, str]] = []  # (verb, kind, name)
        self.events: list[tuple[str, str, str]] = []
        self.refused_creates: list[str] = []  # create-only applies onto an existing object (refused)
        self.fail: dict[tuple[str, str, str], KubeError] = {}  # (verb, kind, name) -> error to raise
        self._ids = itertools.count(1)
        self.now = 1000.0  # the clock of the by-name cache; tick() moves it
        self.store = WatchStore()
        for api_version, kind in WATCHED:
            self.store.attach(api_version, kind, self.sources[(api_version, kind)])
        self.store.attach_pods({})

    # --- helpers for tests ---------------------------------------------------------------------

    def clock(self) -> float:
        return self.now

    def tick(self, seconds: float = 3600.0) -> None:
        """Time passes (past the by-name cache's age, by default): the next pass reads Secrets again."""
        self.now += seconds

    def _publish(self, key: tuple[str, str, str, str]) -> None:
        source = self.sources.get((key[0], key[1]))
        if source is None:
            return
        obj = self.objects.get(key)
        if obj is None:
            source.pop((key[2], key[3]), None)
        else:
            source[(key[2], key[3])] = [copy.deepcopy(obj)]

    def put(self, obj: Mapping[str, Any]) -> Obj:
        """Creates or replaces an object as somebody else would (another team, a controller)."""
        new = copy.deepcopy(dict(obj))
        meta = new.setdefault("metadata", {})
        key = (new["apiVersion"], new["kind"], meta["namespace"], meta["name"])
        old = self.objects.get(key)
        meta.setdefault("uid", old["metadata"]["uid"] if old else f"uid-{next(self._ids)}")
        meta["resourceVersion"] = str(next(self._ids))
        meta.setdefault("generation", 1)
        self.objects[key] = new
        self._publish(key)
        return new

    def remove(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        self.objects.pop((api_version, kind, namespace, name), None)
        self._publish((api_version, kind, namespace, name))

    def find(self, kind: str, name: str) -> Obj | None:
        return next((o for k, o in self.objects.items() if k[1] == kind and k[3] == name), None)

    def found(self, kind: str, name: str) -> Obj:
        """The object, which the test expects to exist."""
        obj = self.find(kind, name)
        assert obj is not None, f"{kind}/{name} does not exist"
        return obj

    def writes(self) -> list[tuple[str, str, str]]:
        return [c for c in self.calls if c[0] != "get"]

    def _check(self, verb: str, kind: str, name: str) -> None:
        self.calls.append((verb, kind, name))
        error = self.fail.get((verb, kind, name))
        if error is not None:
            raise error

    # --- the client interface ------------------------------------------------------------------

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        self._check("get", kind, name)
        found = self.objects.get((api_version, kind, namespace, name))
        return copy.deepcopy(found) if found else None

    def apply(self, obj: Mapping[str, Any], *, uid: str | None = None) -> Obj:
        meta = obj["metadata"]
        self._check("apply", obj["kind"], meta["name"])
        key = (obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        old = self.objects.get(key)
        if uid is not None and (old is None or old["metadata"]["uid"] != uid):
            raise KubeError(409, f"Precondition failed: UID in precondition: {uid}")
        if old is not None and uid is None:
            self.refused_creates.append(f"{obj['kind']}/{meta['name']}")
            raise KubeError(409, "Operation cannot be fulfilled: the object has been modified")
        if old is not None and obj["kind"] == "Deployment" and old["spec"]["selector"] != obj["spec"]["selector"]:
            raise KubeError(422, "Deployment.apps is invalid: spec.selector: Invalid value: field is immutable")
        new = copy.deepcopy(dict(old or {}))
        for field in _OURS:  # what we send replaces what we sent before
            new.pop(field, None)
        applied = copy.deepcopy(dict(obj))
        new_meta = {**(new.get("metadata") or {})}
        for part in ("labels", "annotations"):
            new_meta[part] = {**(new_meta.get(part) or {}), **(applied["metadata"].get(part) or {})}
        new_meta["ownerReferences"] = applied["metadata"].get("ownerReferences") or []
        new_meta.update({k: v for k, v in applied["metadata"].items() if k in ("name", "namespace")})
        new_meta.pop("uid", None)
        new.update({k: v for k, v in applied.items() if k != "metadata"})
        new["metadata"] = new_meta
        return copy.deepcopy(self.put(new))

    def delete(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> None:
        self._check("delete", kind, name)
        old = self.objects.get((api_version, kind, namespace, name))
        if old is None:
            return
        if old["metadata"]["uid"] != uid:
            raise KubeError(409, "Precondition failed: UID in precondition")
        self.remove(api_version, kind, namespace, name)

    def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> Obj:
        self._check("status", KIND, name)
        monitor = self.objects.get((API_VERSION, KIND, namespace, name))
        if monitor is None:  # deleted meanwhile: the API server answers 404
            raise KubeError(404, f'loadtestmonitors.loadtest.dev "{name}" not found')
        monitor["status"] = _merge(monitor.get("status") or {}, patch)
        return copy.deepcopy(self.put(monitor))

    def post_event(self, involved: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        self._check("event", "Event", reason)
        self.events.append((event_type, reason, message))


def _merge(old: Mapping[str, Any], patch: Mapping[str, Any]) -> Obj:
    out = dict(old)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def make_reconciler(fake: FakeKube, **settings: Any) -> Any:
    from loadtest_monitor.controller.reconcile import Reconciler

    watched = {k: True for k in WATCHED}
    reconciler = Reconciler(
        fake,
        fake.store,
        Settings(**settings),
        watched=watched,
        events=fake.post_event,
        write_status=fake.patch_status,
        now=lambda: "2026-11-29T00:00:00Z",
    )
    reconciler.by_name.clock = fake.clock
    return reconciler
