"""The watch-fed store: our writes show at once, the watch wins once it has caught up."""

from __future__ import annotations

from typing import Any

from loadtest_monitor.controller.store import WatchStore


def _cm(rv: int, uid: str = "u1", **data: str) -> dict[str, Any]:
    meta = {"name": "x-gatling", "namespace": "ns", "uid": uid, "resourceVersion": str(rv), "managedFields": [{}]}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def test_a_written_object_shows_until_the_watch_delivers_it_or_something_newer() -> None:
    source: dict[tuple[str, str], list[dict[str, Any]]] = {("ns", "x-gatling"): [_cm(5, a="old")]}
    store = WatchStore()
    store.attach("v1", "ConfigMap", source)
    store.remember(_cm(7, a="ours"), "x")
    got = store.get("v1", "ConfigMap", "ns", "x-gatling")
    assert got is not None and got["data"] == {"a": "ours"} and "managedFields" not in got["metadata"]
    source[("ns", "x-gatling")] = [_cm(9, a="newer")]
    assert store.get("v1", "ConfigMap", "ns", "x-gatling")["data"] == {"a": "newer"}  # type: ignore[index]
    assert store.overlay_size() == 0


def test_a_deleted_object_is_gone_before_the_watch_says_so() -> None:
    source: dict[tuple[str, str], list[dict[str, Any]]] = {("ns", "x-gatling"): [_cm(5)]}
    store = WatchStore()
    store.attach("v1", "ConfigMap", source)
    store.forget("v1", "ConfigMap", "ns", "x-gatling", "u1", "x")
    assert store.get("v1", "ConfigMap", "ns", "x-gatling") is None
    source[("ns", "x-gatling")] = [_cm(8, uid="u2")]  # a new object of that name
    assert store.get("v1", "ConfigMap", "ns", "x-gatling")["metadata"]["uid"] == "u2"  # type: ignore[index]
    assert store.overlay_size() == 0


def test_unwatched_kinds_are_never_cached_and_a_gone_monitor_leaves_nothing() -> None:
    store = WatchStore()
    store.attach("v1", "ConfigMap", {})
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x-grafana-admin", "namespace": "ns"}}
    store.remember(secret, "x")
    store.remember(_cm(3), "x")
    assert store.overlay_size() == 1
    store.drop_monitor("ns", "x")
    assert store.overlay_size() == 0


def test_a_write_that_raced_a_deletion_does_not_bring_the_object_back() -> None:
    source: dict[tuple[str, str], list[dict[str, Any]]] = {("ns", "x-gatling"): [_cm(5)]}
    store = WatchStore()
    store.attach("v1", "ConfigMap", source)
    store.remember(_cm(7), "x")  # an update (a status write) answered as the object was deleted
    del source[("ns", "x-gatling")]
    assert store.get("v1", "ConfigMap", "ns", "x-gatling") is None
    store.remember(_cm(9, uid="u2"), "x", made=True)  # what we create may not be in the watch yet
    assert store.get("v1", "ConfigMap", "ns", "x-gatling")["metadata"]["uid"] == "u2"  # type: ignore[index]
    store.remember(_cm(10, uid="u2"), "x")  # updated before the watch showed it: still ours to know
    assert store.get("v1", "ConfigMap", "ns", "x-gatling")["metadata"]["resourceVersion"] == "10"  # type: ignore[index]
