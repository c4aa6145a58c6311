"""What the operator knows of the cluster, in memory, fed by label-selected watches.

The watches themselves are kopf indexes (handlers.py): one per child kind, each with a
server-side label selector for our managed-by label, so only our objects reach the operator.
kopf calls no handler before every index has its initial listing, so a reconcile never sees a
half-filled store. This module reads them and lays the answers of our own writes over them
until the watch has caught up, so a reconcile that runs right after a write does not repeat it.

Secrets are not here on purpose: the operator may not list or watch Secrets, it reads them by name.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

Obj = dict[str, Any]
Kind = tuple[str, str]  # (apiVersion, kind)

#: Per kind: (namespace, name) -> the objects indexed under it (a kopf Index, or a dict in tests).
Source = Mapping[tuple[str, str], Iterable[Obj]]


class Store(Protocol):
    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None: ...

    def pods(self, namespace: str, monitor: str) -> list[Obj]: ...

    def remember(self, obj: Mapping[str, Any]) -> None: ...

    def forget(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> None: ...


def _resource_version(obj: Mapping[str, Any]) -> int:
    raw = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
    return int(raw) if raw.isdigit() else 0


def _uid(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("uid") or "")


def slim(obj: Mapping[str, Any]) -> Obj:
    """The object without managedFields (the biggest part nobody here reads)."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


class WatchStore:
    """Watched objects plus the answers to our own writes that the watch has not delivered yet."""

    def __init__(self) -> None:
        self._sources: dict[Kind, Source] = {}
        self._pods: Source = {}
        self._written: dict[tuple[str, str, str, str], Obj] = {}
        self._deleted: dict[tuple[str, str, str, str], str] = {}  # key -> uid we deleted
        self._lock = threading.Lock()

    def attach(self, api_version: str, kind: str, source: Source) -> None:
        self._sources[(api_version, kind)] = source

    def attach_pods(self, source: Source) -> None:
        self._pods = source

    def watches(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self._sources

    def _watched(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        source = self._sources.get((api_version, kind))
        if source is None:
            return None
        for _ in range(3):  # the event loop may replace the entry while this thread copies it
            try:
                items = list(source.get((namespace, name)) or [])
                return items[-1] if items else None
            except RuntimeError:
                continue
        return None

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        key = (api_version, kind, namespace, name)
        watched = self._watched(api_version, kind, namespace, name)
        with self._lock:
            deleted_uid = self._deleted.get(key)
            if deleted_uid is not None:
                if watched is not None and _uid(watched) == deleted_uid:
                    return None  # the watch has not seen our delete yet
                del self._deleted[key]
            written = self._written.get(key)
            if written is None:
                return watched
            if watched is not None and (
                _uid(watched) != _uid(written) or _resource_version(watched) >= _resource_version(written)
            ):
                del self._written[key]  # the watch caught up (or the object was replaced)
                return watched
            return written

    def pods(self, namespace: str, monitor: str) -> list[Obj]:
        for _ in range(3):
            try:
                return list(self._pods.get((namespace, monitor)) or [])
            except RuntimeError:
                continue
        return []

    def remember(self, obj: Mapping[str, Any]) -> None:
        api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
        if not self.watches(api_version, kind):
            return  # nothing would ever replace it (Secrets): never cached
        meta = obj.get("metadata") or {}
        key = (api_version, kind, str(meta.get("namespace")), str(meta.get("name")))
        with self._lock:
            self._written[key] = slim(copy.deepcopy(dict(obj)))
            self._deleted.pop(key, None)

    def forget(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> None:
        if not self.watches(api_version, kind):
            return
        key = (api_version, kind, namespace, name)
        with self._lock:
            self._written.pop(key, None)
            self._deleted[key] = uid

    def drop_namespace_name(self, namespace: str, prefix: str) -> None:
        """Forgets what we wrote for a monitor that is gone (keeps the overlay from growing)."""
        with self._lock:
            for table in (self._written, self._deleted):
                for key in [k for k in table if k[2] == namespace and k[3].startswith(prefix)]:
                    del table[key]

    def overlay_size(self) -> int:
        with self._lock:
            return len(self._written) + len(self._deleted)
