"""Apply and prune one monitor's children, touching only objects that are provably ours.

Deciding to write: each applied object carries a hash of what we applied (APPLIED_HASH). The
object is re-applied when that hash differs from the desired one (the spec changed: server-side
apply then removes every field we no longer send) or when a field we send no longer holds our
value (drift by hand). Nothing else causes a write, so server-side normalisation (quantities) and
fields other managers add (a webhook's loadBalancerClass) never do.

Ownership: an object is ours when it carries our ownerReference; a PersistentVolumeClaim also when
it carries our managed-by and instance labels and no ownerReference at all (a PVC kept with
keepOnDelete, re-adopted; see is_ours). Anything else with a child's name is somebody else's:
never written, labelled, read for credentials or deleted (NameConflict).
Creation never merges into an existing object: a child missing from the label-selected store is
created with a create-only apply (refused when any object has the name, which a GET by name then
judges); every update names the uid of the object proven ours, so it can only ever change that
object.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from loadtest_monitor.controller.drift import contains
from loadtest_monitor.controller.store import Store
from loadtest_monitor.identity import FIELD_MANAGER, GROUP, LABEL_INSTANCE, LABEL_MANAGED_BY
from loadtest_monitor.kube.client import KubeError
from loadtest_monitor.obj import Obj
from loadtest_monitor.render.common import Owner

log = logging.getLogger(__name__)

APPLIED_HASH = f"{GROUP}/applied-hash"

# What happened to one child in one reconcile.
CREATED = "created"
UPDATED = "updated"
RECREATED = "recreated"
UNCHANGED = "unchanged"
CONFLICT = "conflict"
FAILED = "failed"
PRUNED = "pruned"
WRITES = (CREATED, UPDATED, RECREATED, PRUNED)


class Client(Protocol):
    """The part of kube.Kube the apply needs (an in-memory fake implements it for unit tests)."""

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None: ...

    def apply(self, obj: Mapping[str, Any], *, uid: str | None = None) -> Obj: ...

    def delete(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> None: ...


@dataclass(frozen=True)
class ChildResult:
    kind: str
    name: str
    action: str
    message: str = ""
    live: Obj | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}"


def applied_hash(desired: Mapping[str, Any]) -> str:
    text = json.dumps(desired, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def stamped(desired: Mapping[str, Any]) -> Obj:
    """`desired` with the hash of itself in metadata.annotations (what the next pass compares)."""
    meta = dict(desired["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), APPLIED_HASH: applied_hash(desired)}
    return {**desired, "metadata": meta}


# The one kind a monitor leaves behind on purpose (storage.keepOnDelete) and must find again.
ADOPTABLE_KINDS = ("PersistentVolumeClaim",)


def is_ours(obj: Mapping[str, Any], owner: Owner) -> bool:
    """Our ownerReference (the monitor's uid) proves ownership for every kind.

    Labels prove nothing: whoever can create an object can give it any label. They are accepted
    only for a PersistentVolumeClaim without any ownerReference, the claims a monitor keeps with
    `keepOnDelete` (InfluxDB's and Grafana's) and finds again after being made anew. Only a claim
    the spec asks for is ever looked at (storage enabled), and each is only mounted into its own
    pod, so a forged one gains its author nothing they could not do with a pod of their own in the
    namespace. A labelled Secret
    (a chosen password) or Deployment is somebody else's: a NameConflict, never read or written.
    """
    meta = obj.get("metadata") or {}
    refs = meta.get("ownerReferences") or []
    if any(ref.get("uid") == owner.uid for ref in refs):
        return True
    if refs or obj.get("kind") not in ADOPTABLE_KINDS:
        return False
    labels = meta.get("labels") or {}
    return labels.get(LABEL_MANAGED_BY) == FIELD_MANAGER and labels.get(LABEL_INSTANCE) == owner.name


def owned_by(obj: Mapping[str, Any], owner: Owner) -> bool:
    return any(ref.get("uid") == owner.uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def conflict_message(kind: str, name: str) -> str:
    return (
        f"{kind} {name} already exists and is not this monitor's (no ownerReference to it, no "
        f"{LABEL_MANAGED_BY}={FIELD_MANAGER} and {LABEL_INSTANCE} labels); it is left untouched: "
        "delete or rename it, or give the monitor another name"
    )


def _project(shape: Any, live: Any) -> Any:
    """The parts of `live` at the paths `shape` has (what the server made of what we sent)."""
    if isinstance(shape, Mapping) and isinstance(live, Mapping):
        return {k: _project(v, live[k]) for k, v in shape.items() if k in live}
    return live


def _immutable(err: KubeError) -> bool:
    return err.status == 422 and "immutable" in str(err).lower()


MonitorKey = tuple[str, str]  # (namespace, name) of the monitor that owns an entry
ReadKey = tuple[str, str, str, str]  # (apiVersion, kind, namespace, name) of an object read by name
ChildKey = tuple[str, str]  # (kind, name) of a child, within its monitor's entries


class NameCache:
    """Objects read by name (Secrets, which are not watched), reused for `max_age` seconds.

    Bursts of passes while a monitor rolls out then cost one GET, not one per pass; the resync
    still reads each again (max_age is below the resync period), which is how a deleted one is
    noticed. Entries are kept per monitor that read them, so a monitor that is gone drops exactly
    its own (never those of `checkout-eu` when `checkout` goes); old entries expire on their own.
    The workers and the event loop share it: every access holds `_lock`.
    """

    def __init__(self, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.clock = clock
        self._entries: dict[MonitorKey, dict[ReadKey, tuple[Obj | None, float]]] = {}
        self._lock = threading.Lock()

    def get(self, monitor: MonitorKey, key: ReadKey) -> tuple[bool, Obj | None]:
        with self._lock:
            entry = self._entries.get(monitor, {}).get(key)
        if entry is None or self.clock() - entry[1] > self.max_age:
            return False, None
        return True, entry[0]

    def put(self, monitor: MonitorKey, key: ReadKey, obj: Obj | None) -> None:
        now = self.clock()
        with self._lock:
            entries = self._entries.setdefault(monitor, {})
            entries[key] = (obj, now)
            for old in [k for k, (_, at) in entries.items() if now - at > 10 * self.max_age]:
                del entries[old]

    def drop(self, namespace: str, monitor: str) -> None:
        with self._lock:
            self._entries.pop((namespace, monitor), None)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._entries.values())


class Lookup:
    """Reads of one reconcile of `monitor`: the store for watched kinds, a GET by name (cached) for the rest."""

    def __init__(
        self,
        client: Client,
        store: Store,
        watched: Mapping[tuple[str, str], bool],
        by_name: NameCache,
        monitor: MonitorKey,
    ) -> None:
        self.client = client
        self.store = store
        self.watched = watched
        self.by_name = by_name
        self.monitor = monitor

    def from_store(self, api_version: str, kind: str) -> bool:
        return self.watched.get((api_version, kind), False)

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        if self.from_store(api_version, kind):
            return self.store.get(api_version, kind, namespace, name)
        key = (api_version, kind, namespace, name)
        fresh, cached = self.by_name.get(self.monitor, key)
        if fresh:
            return cached
        found = self.client.get(api_version, kind, namespace, name)
        self.by_name.put(self.monitor, key, found)
        return found

    def seen(self, obj: Mapping[str, Any], *, made: bool) -> None:
        """Our write's answer; `made`: the watch may not have shown the object yet (see Store.remember)."""
        meta = obj.get("metadata") or {}
        key = (str(obj.get("apiVersion")), str(obj.get("kind")), str(meta.get("namespace")), str(meta.get("name")))
        if not self.from_store(key[0], key[1]):
            self.by_name.put(self.monitor, key, dict(obj))
        self.store.remember(obj, self.monitor[1], made=made)

    def gone(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> None:
        if not self.from_store(api_version, kind):
            self.by_name.put(self.monitor, (api_version, kind, namespace, name), None)
        self.store.forget(api_version, kind, namespace, name, uid, self.monitor[1])


def _monitor_of(owner: Owner) -> MonitorKey:
    return (owner.namespace, owner.name)


class Applier:
    """Applies and prunes children; its memory is per monitor and shared by all the workers.

    The workers (and the event loop's forget_monitor) share `_baseline` and `_taken`: every
    access holds `_lock`, never across a request to the API server.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self._lock = threading.Lock()
        # Per monitor: (kind, child name) -> (hash, what the server returned for our fields) after
        # our last apply: a field an admission webhook rewrites in our own request is not drift.
        self._baseline: dict[MonitorKey, dict[ChildKey, tuple[str, Any]]] = {}
        # Per monitor: (kind, child name) found held by somebody else's object.
        self._taken: dict[MonitorKey, set[ChildKey]] = {}

    def forget_monitor(self, namespace: str, monitor: str) -> None:
        with self._lock:
            self._baseline.pop((namespace, monitor), None)
            self._taken.pop((namespace, monitor), None)

    def _get_baseline(self, owner: Owner, kind: str, name: str) -> tuple[str, Any] | None:
        with self._lock:
            return self._baseline.get(_monitor_of(owner), {}).get((kind, name))

    def _set_baseline(self, owner: Owner, kind: str, name: str, value: tuple[str, Any] | None) -> None:
        with self._lock:
            entries = self._baseline.setdefault(_monitor_of(owner), {})
            if value is None:
                entries.pop((kind, name), None)
            else:
                entries[(kind, name)] = value

    def _is_taken(self, owner: Owner, kind: str, name: str) -> bool:
        with self._lock:
            return (kind, name) in self._taken.get(_monitor_of(owner), set())

    def _set_taken(self, owner: Owner, kind: str, name: str, taken: bool) -> None:
        with self._lock:
            if taken:
                self._taken.setdefault(_monitor_of(owner), set()).add((kind, name))
            else:
                self._taken.get(_monitor_of(owner), set()).discard((kind, name))

    def _in_sync(self, owner: Owner, desired: Obj, live: Mapping[str, Any]) -> bool:
        want = desired["metadata"]["annotations"][APPLIED_HASH]
        have = ((live.get("metadata") or {}).get("annotations") or {}).get(APPLIED_HASH)
        if want != have:
            return False
        if contains(desired, live):
            return True
        baseline = self._get_baseline(owner, desired["kind"], desired["metadata"]["name"])
        return baseline is not None and baseline[0] == want and contains(baseline[1], live)

    def _remember(self, owner: Owner, desired: Obj, response: Obj, lookup: Lookup, *, made: bool) -> None:
        want = desired["metadata"]["annotations"][APPLIED_HASH]
        self._set_baseline(owner, desired["kind"], desired["metadata"]["name"], (want, _project(desired, response)))
        lookup.seen(response, made=made)

    def apply(self, owner: Owner, desired_unstamped: Obj, lookup: Lookup) -> ChildResult:
        desired = stamped(desired_unstamped)
        api_version, kind, name = desired["apiVersion"], desired["kind"], desired["metadata"]["name"]
        try:
            live = lookup.get(api_version, kind, owner.namespace, name)
            if live is None:
                return self._create(owner, desired, lookup)
            if not is_ours(live, owner):
                return ChildResult(kind, name, CONFLICT, conflict_message(kind, name))
            if self._in_sync(owner, desired, live):
                return ChildResult(kind, name, UNCHANGED, live=live)
            return self._update(owner, desired, live, lookup)
        except KubeError as err:
            return ChildResult(kind, name, FAILED, f"{kind} {name}: {err}")

    def _create(self, owner: Owner, desired: Obj, lookup: Lookup) -> ChildResult:
        """Create-only apply: one request when the name is free (the usual case, no GET first).

        The store only holds objects with our labels, so one without them may exist; the API
        server then refuses the create (409) and leaves it as it was, and a GET by name decides
        whether it is ours (a kept PVC, a watch that lags) or somebody else's. A name found taken
        is remembered: later passes read it by name and send nothing until it is free again.
        """
        kind, name = desired["kind"], desired["metadata"]["name"]
        if self._is_taken(owner, kind, name):
            existing = self.client.get(desired["apiVersion"], kind, owner.namespace, name)
            if existing is not None:
                return self._judge(owner, desired, existing, lookup)
            self._set_taken(owner, kind, name, False)
        try:
            response = self.client.apply(desired, uid=None)
        except KubeError as err:
            if err.status != 409:
                raise
            existing = self.client.get(desired["apiVersion"], kind, owner.namespace, name)
            if existing is None:  # deleted since: the next pass creates it
                raise KubeError(409, f"{kind} {name} was being replaced; retrying") from err
            return self._judge(owner, desired, existing, lookup)
        self._remember(owner, desired, response, lookup, made=True)
        return ChildResult(kind, name, CREATED, live=response)

    def _judge(self, owner: Owner, desired: Obj, existing: Obj, lookup: Lookup) -> ChildResult:
        """An object holds the name of a child the store did not show: ours is updated, any other left alone."""
        kind, name = desired["kind"], desired["metadata"]["name"]
        if not is_ours(existing, owner):
            self._set_taken(owner, kind, name, True)
            return ChildResult(kind, name, CONFLICT, conflict_message(kind, name))
        self._set_taken(owner, kind, name, False)
        return self._update(owner, desired, existing, lookup, unwatched=True)

    def _update(
        self, owner: Owner, desired: Obj, live: Mapping[str, Any], lookup: Lookup, *, unwatched: bool = False
    ) -> ChildResult:
        """`unwatched`: `live` came from a GET, not from the watch (which may not show it yet)."""
        kind, meta = desired["kind"], desired["metadata"]
        uid = str(live["metadata"]["uid"])
        try:
            response = self.client.apply(desired, uid=uid)
        except KubeError as err:
            if not (_immutable(err) and kind == "Deployment"):
                raise
            # A Deployment's selector cannot change: replace ours (its pods restart anyway).
            # Never a PVC: that would be its data.
            log.info("recreating Deployment %s/%s: %s", meta["namespace"], meta["name"], err)
            self.client.delete(desired["apiVersion"], kind, meta["namespace"], meta["name"], uid)
            lookup.gone(desired["apiVersion"], kind, meta["namespace"], meta["name"], uid)
            response = self.client.apply(desired, uid=None)
            self._remember(owner, desired, response, lookup, made=True)
            return ChildResult(kind, meta["name"], RECREATED, live=response)
        self._remember(owner, desired, response, lookup, made=unwatched)
        return ChildResult(kind, meta["name"], UPDATED, live=response)

    def prune(self, owner: Owner, api_version: str, kind: str, name: str, lookup: Lookup) -> ChildResult | None:
        """Deletes a child that is no longer wanted, if this monitor owns it (not merely labels it)."""
        try:
            live = lookup.get(api_version, kind, owner.namespace, name)
            # Only what this monitor owns (a PVC kept on delete has no ownerReference), and only
            # once: a claim still in use stays, terminating, behind its protection finalizer.
            if live is None or not owned_by(live, owner) or (live.get("metadata") or {}).get("deletionTimestamp"):
                return None
            uid = str(live["metadata"]["uid"])
            self.client.delete(api_version, kind, owner.namespace, name, uid)
            lookup.gone(api_version, kind, owner.namespace, name, uid)
            self._set_baseline(owner, kind, name, None)
            return ChildResult(kind, name, PRUNED)
        except KubeError as err:
            return ChildResult(kind, name, FAILED, f"{kind} {name} (to remove): {err}")
