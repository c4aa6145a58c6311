"""A container's `resources` in the spec, checked as the API server checks a container's: resource
names, quantities (one parser: kube_rules.parse_quantity), and limit >= request; extended
resources cannot be overcommitted. The CRD's schema cannot compare a request with its limit."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from loadtest_monitor.spec import kube_rules
from loadtest_monitor.spec.reader import Reader, short

Resources = dict[str, dict[str, str]]


def parse_resources(r: Reader, default: Resources) -> Resources:
    """requests/limits as the API server checks a container's: names, quantities, limit >= request."""
    if not r.has("resources"):
        return default
    res = r.child("resources")
    for extra in sorted(set(res.raw) - {"requests", "limits"}, key=str):
        res.problem(str(extra), "is not requests or limits")
    out: Resources = {}
    amounts: dict[str, dict[str, Decimal]] = {}
    for part in ("requests", "limits"):
        values = res.raw.get(part) or {}
        if not isinstance(values, Mapping):
            res.problem(part, "must be a map such as {cpu: 500m, memory: 1Gi}")
            continue
        parsed: dict[str, str] = {}
        amounts[part] = {}
        for key, value in sorted(values.items(), key=lambda kv: str(kv[0])):
            path = f"{res.at(part)}.{key}"
            name_problem = kube_rules.resource_name(str(key))
            if name_problem:
                r.problems.add(path, f"{short(str(key))} {name_problem}")
                continue
            text, problem = kube_rules.quantity(value)
            amount = kube_rules.parse_quantity(text) if text is not None else None
            if text is None or amount is None:
                r.problems.add(path, problem or "is not a quantity")
                continue
            problem = kube_rules.resource_quantity_problem(str(key), amount)
            if problem:
                r.problems.add(path, problem)
                continue
            parsed[str(key)] = text
            amounts[part][str(key)] = amount
        if parsed:
            out[part] = parsed
    _check_requests_within_limits(res, amounts)
    return out


def _check_requests_within_limits(res: Reader, amounts: dict[str, dict[str, Decimal]]) -> None:
    requests, limits = amounts.get("requests", {}), amounts.get("limits", {})
    for name, request in requests.items():
        limit = limits.get(name)
        overcommit = name in kube_rules.STANDARD_RESOURCES
        if limit is not None and request > limit:
            res.problems.add(f"{res.at('requests')}.{name}", f"must not be more than the limit {name}")
        elif not overcommit and (limit is None or limit != request):
            res.problems.add(
                f"{res.at('limits')}.{name}", f"must be given and equal to the request: {name} cannot be overcommitted"
            )
    if any(n.startswith("hugepages-") for n in (*requests, *limits)) and not {"cpu", "memory"} & {
        *requests,
        *limits,
    }:
        res.problems.add(res.path, "hugepages need a cpu or memory request or limit as well")
