"""The CRDs are the one source of the spec's facts: defaults, enums, bounds and patterns.

Each custom resource's CRD (crds/, packaged under loadtest_monitor/data/ as the same file) is read
once; the operator takes every fact the schema states from it (`Schema.at(path).default`, ...)
instead of restating it. What the API server enforces and `kubectl explain` shows is then, by
construction, what the operator assumes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

#: Packaged CRD files, by the plural of their resource.
CRD_FILES = {"loadtestmonitors": "data/loadtestmonitors.yaml", "loadtestruns": "data/loadtestruns.yaml"}

# A CEL rule that states a grammar: `self.matches('^...$')`, the regular expression quoted once
# (the patterns hold no quote). CEL rules with a message rather than `pattern`: the API server's
# pattern error dumps the regular expression at the user.
_CEL_MATCHES = re.compile(r"self\.matches\('\^([^']*)\$'\)")


class SchemaPathError(KeyError):
    """A path that the CRD does not describe: a programming error, raised at import."""


@cache
def crd(plural: str = "loadtestmonitors") -> dict[str, Any]:
    """The packaged CRD of `plural` (the same file as crds/loadtest.dev_<plural>.yaml)."""
    text = resources.files("loadtest_monitor").joinpath(CRD_FILES[plural]).read_text(encoding="utf-8")
    # Read at import by the spec: libyaml's parser when PyYAML has it (12 ms instead of 165 ms for
    # this CRD, measured under load), the same safe constructor either way.
    return dict(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def crd_file(plural: str = "loadtestmonitors") -> Path:
    """Where the packaged CRD of `plural` is on disk, for tools that take a file (`kubectl apply -f`).
    In a checkout the packaged file is a link to crds/loadtest.dev_<plural>.yaml: that file is returned."""
    return Path(str(resources.files("loadtest_monitor").joinpath(CRD_FILES[plural]))).resolve()


def root(plural: str = "loadtestmonitors") -> dict[str, Any]:
    """The openAPIV3Schema of the CRD's one served version."""
    return dict(crd(plural)["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


@dataclass(frozen=True)
class Node:
    """One node of a structural schema, with typed access to the facts the operator reads."""

    path: str
    raw: Mapping[str, Any]

    @property
    def default(self) -> Any:
        if "default" not in self.raw:
            raise SchemaPathError(f"{self.path}: the CRD states no default")
        return self.raw["default"]

    @property
    def enum(self) -> tuple[str, ...]:
        if "enum" not in self.raw:
            raise SchemaPathError(f"{self.path}: the CRD states no enum")
        return tuple(self.raw["enum"])

    @property
    def pattern(self) -> str:
        if "pattern" not in self.raw:
            raise SchemaPathError(f"{self.path}: the CRD states no pattern")
        return str(self.raw["pattern"])

    @property
    def minimum(self) -> int | float:
        return self._number("minimum")

    @property
    def maximum(self) -> int | float:
        return self._number("maximum")

    @property
    def max_length(self) -> int:
        return int(self._number("maxLength"))

    @property
    def max_items(self) -> int:
        return int(self._number("maxItems"))

    @property
    def cel_pattern(self) -> str:
        """The grammar of the node's first `self.matches('^...$')` CEL rule, without the anchors:
        match it with `re.fullmatch` (Python's `$` also matches before a trailing newline)."""
        for rule in self.rules:
            found = _CEL_MATCHES.match(rule)
            if found and "\\" in found.group(1):
                # A CEL string literal unescapes backslashes: the text is not the pattern as written.
                raise SchemaPathError(f"{self.path}: write the CEL grammar without backslashes ([.] for a dot)")
            if found:
                return found.group(1)
        raise SchemaPathError(f"{self.path}: the CRD states no self.matches('^...$') rule")

    @property
    def rules(self) -> tuple[str, ...]:
        """The node's x-kubernetes-validations CEL rules, in order."""
        return tuple(str(r["rule"]) for r in self.raw.get("x-kubernetes-validations") or ())

    @property
    def description(self) -> str:
        return str(self.raw.get("description", ""))

    def _number(self, key: str) -> int | float:
        value = self.raw.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise SchemaPathError(f"{self.path}: the CRD states no {key}")
        return value


def at(path: str, plural: str = "loadtestmonitors") -> Node:
    """The node at a dotted path from the root, `[]` for an array's items: `spec.influxdb.image`,
    `spec.grafana.service.loadBalancerSourceRanges[]`."""
    node: Mapping[str, Any] = root(plural)
    walked: list[str] = []
    for part in path.split("."):
        items = part.endswith("[]")
        name = part[:-2] if items else part
        walked.append(part)
        props = node.get("properties", {})
        if name not in props:
            raise SchemaPathError(f"{'.'.join(walked)}: not in the {plural} CRD")
        node = props[name]
        if items:
            if "items" not in node:
                raise SchemaPathError(f"{'.'.join(walked)}: not an array in the {plural} CRD")
            node = node["items"]
    return Node(path, node)
