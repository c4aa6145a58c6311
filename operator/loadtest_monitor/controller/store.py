"""What the operator knows of the cluster, in memory, fed by label-selected watches.

The watches themselves are kopf indexes (controller/handlers.py): one per child kind, each with a
server-side label selector for our managed-by label, so only our objects reach the operator.
kopf calls no handler before every index has its initial listing, so a reconcile never sees a
half-filled store. This module reads them and lays the answers of our own writes over them
until the watch has caught up, so a reconcile that runs right after a write does not repeat it.

Threads: kopf changes its indexes on the event loop's thread, and the reconciles run on worker
threads. A worker never iterates an index itself (it could see an entry half-replaced, or give
up and see "absent" for an object that exists): once `read_on(loop)` is called, every read of
a watched source runs on the loop's thread, between two of kopf's changes, and the worker waits
for the copy. The overlay of our own writes has one lock, `_lock`; its entries belong to the
monitor that wrote them and are dropped with that monitor, by owner, never by name prefix.

Secrets are not here on purpose: the operator may not list or watch Secrets, it reads them by name.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

Obj = dict[str, Any]
Kind = tuple[str, str]  # (apiVersion, kind)
ObjKey = tuple[str, str, str, str]  # (apiVersion, kind, namespace, name)
T = TypeVar("T")

#: A worker waits this long for the event loop to copy an entry; longer means the loop is stuck,
#: and the reconcile fails (and deletes nothing) rather than take "not there" for an answer.
LOOP_READ_TIMEOUT = 30.0

#: Per kind: (namespace, name) -> the objects indexed under it (a kopf Index, or a dict in tests).
Source = Mapping[tuple[str, str], Iterable[Obj]]


class Store(Protocol):
    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None: ...

    def pods(self, namespace: str, monitor: str) -> list[Obj]: ...

    def remember(self, obj: Mapping[str, Any], monitor: str, *, made: bool = False) -> None: ...

    def forget(self, api_version: str, kind: str, namespace: str, name: str, uid: str, monitor: str) -> None: ...


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
        self._run_pods: Source = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        # key -> (monitor that wrote it, the server's answer, made by that write) / (monitor, uid we deleted)
        self._written: dict[ObjKey, tuple[str, Obj, bool]] = {}
        self._deleted: dict[ObjKey, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def attach(self, api_version: str, kind: str, source: Source) -> None:
        self._sources[(api_version, kind)] = source

    def attach_pods(self, source: Source) -> None:
        self._pods = source

    def attach_run_pods(self, source: Source) -> None:
        """Runner pods of LoadtestRuns, keyed by (namespace, run)."""
        self._run_pods = source

    def read_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """From now on the sources are read on `loop`'s thread only (call it from that thread)."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def watches(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self._sources

    def _on_loop(self, read: Callable[[], T]) -> T:
        """`read()` run where the sources change: the loop's thread (directly when there is no loop)."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            return read()
        answer: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                answer.set_result(read())
            except Exception as err:  # handed to the waiting worker, whose reconcile then fails
                answer.set_exception(err)

        loop.call_soon_threadsafe(run)
        return answer.result(timeout=LOOP_READ_TIMEOUT)

    def _watched(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        source = self._sources.get((api_version, kind))
        if source is None:
            return None

        def read() -> Obj | None:
            items = list(source.get((namespace, name)) or [])
            return items[-1] if items else None

        return self._on_loop(read)

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        key = (api_version, kind, namespace, name)
        watched = self._watched(api_version, kind, namespace, name)
        with self._lock:
            deleted = self._deleted.get(key)
            if deleted is not None:
                if watched is not None and _uid(watched) == deleted[1]:
                    return None  # the watch has not seen our delete yet
                del self._deleted[key]
            entry = self._written.get(key)
            if entry is None:
                return watched
            written = entry[1]
            if watched is None and not entry[2]:
                # It was there when we wrote it, and the watch says it is gone now: it is (a write
                # that raced a deletion, e.g. a status written as the monitor was deleted, must not
                # bring it back). Only what our write made may be missing from a lagging watch.
                del self._written[key]
                return None
            if watched is not None and (
                _uid(watched) != _uid(written) or _resource_version(watched) >= _resource_version(written)
            ):
                del self._written[key]  # the watch caught up (or the object was replaced)
                return watched
            return written

    def pods(self, namespace: str, monitor: str) -> list[Obj]:
        pods = self._pods
        return self._on_loop(lambda: list(pods.get((namespace, monitor)) or []))

    def run_pods(self, namespace: str, run: str) -> list[Obj]:
        pods = self._run_pods
        return self._on_loop(lambda: list(pods.get((namespace, run)) or []))

    def scan(self, api_version: str, kind: str, namespace: str) -> list[Obj]:
        """Every watched object of a kind in a namespace (a LoadtestMonitor's runs)."""
        source = self._sources.get((api_version, kind))
        if source is None:
            return []

        def read() -> list[Obj]:
            out: list[Obj] = []
            for (ns, _), items in list(source.items()):
                found = list(items or [])
                if ns == namespace and found:
                    out.append(found[-1])
            return out

        return self._on_loop(read)

    def remember(self, obj: Mapping[str, Any], monitor: str, *, made: bool = False) -> None:
        """Lays our write's answer over the watch; `monitor` owns the entry (dropped with it).

        `made`: the write created the object (or found it where the watch did not show it), so
        the watch may not have delivered it yet; otherwise an absent watch entry means deleted.
        """
        api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
        if not self.watches(api_version, kind):
            return  # nothing would ever replace it (Secrets): never cached
        meta = obj.get("metadata") or {}
        key = (api_version, kind, str(meta.get("namespace")), str(meta.get("name")))
        answer = slim(copy.deepcopy(dict(obj)))
        with self._lock:
            before = self._written.get(key)
            # An update of what we made, before the watch delivered it, is still only ours to know.
            made = made or (before is not None and before[2] and _uid(before[1]) == _uid(answer))
            self._written[key] = (monitor, answer, made)
            self._deleted.pop(key, None)

    def forget(self, api_version: str, kind: str, namespace: str, name: str, uid: str, monitor: str) -> None:
        if not self.watches(api_version, kind):
            return
        key = (api_version, kind, namespace, name)
        with self._lock:
            self._written.pop(key, None)
            self._deleted[key] = (monitor, uid)

    def drop_monitor(self, namespace: str, monitor: str) -> None:
        """Forgets what we wrote for a monitor that is gone (keeps the overlay from growing)."""
        with self._lock:
            for table in (self._written, self._deleted):
                for key in [k for k, entry in table.items() if k[2] == namespace and entry[0] == monitor]:
                    del table[key]

    def overlay_size(self) -> int:
        with self._lock:
            return len(self._written) + len(self._deleted)
