"""Does the live object already hold everything we would apply? (pure)

Server-side apply of unchanged content is harmless but still a write request; comparing first
means a reconcile of an unchanged monitor sends no writes at all. Fields that the API server or
other controllers add (defaults, status, a webhook's loadBalancerClass) are ignored: only the
fields we set are compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_monitor.spec.kube_rules import parse_quantity as quantity_value

# List items that Kubernetes merges by a key rather than by position.
_LIST_KEYS = ("name", "mountPath", "containerPort", "type")

# Maps whose values are resource quantities (container resources, PVC requests and limits).
_QUANTITY_MAPS = ("limits", "requests")

def _same_quantity(desired: Any, live: Any) -> bool:
    want, have = quantity_value(desired), quantity_value(live)
    return want is not None and want == have


def _key_of(item: Mapping[str, Any]) -> tuple[str, Any] | None:
    for key in _LIST_KEYS:
        if key in item:
            return key, item[key]
    return None


def _list_contains(desired: Sequence[Any], live: Sequence[Any]) -> bool:
    keyed = all(isinstance(d, Mapping) and _key_of(d) is not None for d in desired)
    if keyed and desired:
        for item in desired:
            key = _key_of(item)
            assert key is not None
            field, value = key
            # Ports share a name across protocols only when names differ; match on all identity keys.
            matches = [
                live_item
                for live_item in live
                if isinstance(live_item, Mapping)
                and live_item.get(field) == value
                and all(live_item.get(k) == item[k] for k in ("protocol",) if k in item)
            ]
            if not any(contains(item, m) for m in matches):
                return False
        return True
    return len(desired) == len(live) and all(contains(d, v) for d, v in zip(desired, live, strict=True))


def contains(desired: Any, live: Any) -> bool:
    """True when every field of `desired` is present in `live` with the same value."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return False
        return all(
            key in live
            and (
                _quantities_equal(value, live[key])
                if key in _QUANTITY_MAPS and isinstance(value, Mapping)
                else contains(value, live[key])
            )
            for key, value in desired.items()
        )
    if isinstance(desired, list | tuple):
        if not isinstance(live, list | tuple):
            return False
        return _list_contains(desired, live)
    return bool(desired == live)


def _quantities_equal(desired: Mapping[str, Any], live: Any) -> bool:
    if not isinstance(live, Mapping):
        return False
    return all(
        name in live and (value == live[name] or _same_quantity(value, live[name])) for name, value in desired.items()
    )
