"""The CRD's own rules, run offline: what `kubectl apply` would refuse, `render` refuses too.

The CRD (crds/, packaged as loadtest_monitor/data/loadtestmonitors.yaml, one file) is read and its
structural schema applied the way the API server applies it: defaults first, then types, enums,
patterns (RE2, as the server matches them), lengths, bounds, item and property counts, required
and unknown fields (kubectl's default strict field validation refuses unknown fields), then the
x-kubernetes-validations CEL rules of every node whose schema was valid (cel-python).

Not run offline: transition rules (those reading `oldSelf`, such as "storage can only grow"): they
compare with the stored object, which only exists on an update in the cluster. A rule whose
evaluation fails (a field it reads is missing or of the wrong type) is skipped: the schema check of
that field has already reported it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import celpy
import re2
from celpy.adapter import json_to_cel

from loadtest_monitor.spec import schema as schema_source

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def crd() -> dict[str, Any]:
    """The packaged LoadtestMonitor CRD (one loader: spec/schema.py)."""
    return schema_source.crd()


def schema() -> dict[str, Any]:
    return schema_source.root()


@cache
def _program(rule: str) -> celpy.Runner:
    env = celpy.Environment()
    return env.program(env.compile(rule))


@cache
def _pattern(pattern: str) -> Any:
    return re2.compile(pattern)


def apply_defaults(node: Mapping[str, Any], value: Any) -> Any:
    """Structural defaulting: a missing property with a default gets it, recursively."""
    if isinstance(value, dict) and node.get("type") == "object":
        out = dict(value)
        for key, sub in (node.get("properties") or {}).items():
            if key not in out and "default" in sub:
                out[key] = sub["default"]
            if key in out:
                out[key] = apply_defaults(sub, out[key])
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for key in out:
                if key not in (node.get("properties") or {}):
                    out[key] = apply_defaults(extra, out[key])
        return out
    if isinstance(value, list) and node.get("type") == "array":
        return [apply_defaults(node.get("items") or {}, item) for item in value]
    return value


def check(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field path, problem) for every rule of the CRD that the defaulted object breaks."""
    problems: list[tuple[str, str]] = []
    root = schema()
    _validate(root, apply_defaults(root, dict(obj)), "", problems)
    return problems


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_ok(node: Mapping[str, Any], value: Any) -> bool:
    if node.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    wanted = node.get("type")
    if wanted is None:
        return True
    if isinstance(value, bool) and wanted != "boolean":
        return False
    return isinstance(value, _TYPES[wanted])


def _validate(node: Mapping[str, Any], value: Any, path: str, problems: list[tuple[str, str]]) -> bool:
    """Validates one node; True when its subtree holds a wrong type, which (as in the API server)
    blocks the CEL rules above it: they cannot be evaluated on a value of the wrong type."""
    where = path or "object"
    if value is None:
        problems.append((where, "must not be null"))
        return True
    if not _type_ok(node, value):
        kind = "an integer or a string" if node.get("x-kubernetes-int-or-string") else f"of type {node.get('type')}"
        problems.append((where, f"must be {kind}"))
        return True
    blocked = False
    if "enum" in node and value not in node["enum"]:
        problems.append((where, f"must be one of {', '.join(map(str, node['enum']))}, got {value!r}"))
    if isinstance(value, str):
        _check_string(node, value, where, problems)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in node and value < node["minimum"]:
            problems.append((where, f"must be at least {node['minimum']}"))
        if "maximum" in node and value > node["maximum"]:
            problems.append((where, f"must be at most {node['maximum']}"))
    if isinstance(value, list):
        if "maxItems" in node and len(value) > node["maxItems"]:
            problems.append((where, f"must have at most {node['maxItems']} items"))
        for i, item in enumerate(value):
            blocked = _validate(node.get("items") or {}, item, f"{path}[{i}]", problems) or blocked
    if isinstance(value, dict):
        blocked = _check_object(node, value, path, problems)
    if not blocked:
        _check_rules(node, value, where, problems)
    return blocked


def _check_string(node: Mapping[str, Any], value: str, where: str, problems: list[tuple[str, str]]) -> None:
    if "maxLength" in node and len(value) > node["maxLength"]:
        problems.append((where, f"must be at most {node['maxLength']} characters"))
    elif "minLength" in node and len(value) < node["minLength"]:
        problems.append((where, f"must be at least {node['minLength']} characters"))
    elif "pattern" in node and not _pattern(node["pattern"]).search(value):
        shown = value if len(value) <= 40 else value[:37] + "..."
        problems.append((where, f"{shown!r} is not in the form this field takes (kubectl explain shows it)"))


def _check_object(node: Mapping[str, Any], value: dict[str, Any], path: str, problems: list[tuple[str, str]]) -> bool:
    properties = node.get("properties") or {}
    extra = node.get("additionalProperties")
    if "maxProperties" in node and len(value) > node["maxProperties"]:
        problems.append((path or "object", f"must have at most {node['maxProperties']} entries"))
    if "minProperties" in node and len(value) < node["minProperties"]:
        problems.append((path or "object", f"must have at least {node['minProperties']} entries"))
    blocked = False
    for key in node.get("required") or ():
        if key not in value:
            problems.append((_join(path, key), "is required"))
            blocked = True
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append((_join(path, str(key)), "keys must be strings"))
            blocked = True
        elif key in properties:
            blocked = _validate(properties[key], item, _join(path, key), problems) or blocked
        elif isinstance(extra, dict):
            blocked = _validate(extra, item, f"{path}[{key!r}]", problems) or blocked
        elif path == "metadata" or (node.get("type") == "object" and not properties and extra is None):
            continue  # free-form object (metadata is validated by the API server's own rules)
        else:
            known = ", ".join(sorted(properties)) or "none"
            problems.append((_join(path, key), f"is not a field of this object (fields: {known})"))
    return blocked


def _check_rules(node: Mapping[str, Any], value: Any, where: str, problems: list[tuple[str, str]]) -> None:
    for rule in node.get("x-kubernetes-validations") or ():
        expression = rule["rule"]
        if "oldSelf" in expression:
            continue  # a transition rule: only an update in the cluster has the old object
        try:
            result = _program(expression).evaluate({"self": json_to_cel(value)})
        except Exception:  # celpy raises several types; see the module docstring
            continue
        if isinstance(result, Exception) or bool(result):
            continue
        # A root rule reports the name it checks, as the message says.
        field = "metadata.name" if where == "object" and "self.metadata.name" in expression else where
        problems.append((field, rule.get("message") or f"breaks the rule {expression}"))
