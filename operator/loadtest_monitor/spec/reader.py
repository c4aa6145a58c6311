"""Reading one object of a LoadtestMonitor spec with type checks, collecting every problem.

A wrong value is recorded with its full field path and the default is used instead, so a parse
goes on and reports several problems at once (spec.parse_spec raises them together).

A Reader's path is the field's path in the CRD's schema (`spec.influxdb.storage`), so the enums,
bounds and patterns it checks are read from the CRD (spec/schema.py), never restated by a caller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from loadtest_monitor.spec import schema

# `spec.criteria[2].metric` is described by the schema at `spec.criteria[].metric`.
_ITEM_INDEX = re.compile(r"\[[0-9]+\]")


class Problems:
    """Every problem found in one parse, in the order of the fields."""

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.found.append((path, message))


class Reader:
    """Reads one object of the spec with type checks; every problem names the full field path.

    A wrong value is recorded and the default is used instead, so the parse goes on and reports
    several problems at once; parse_spec raises them together at the end. `plural` names the CRD
    whose schema states the facts of the fields (spec/schema.py CRD_FILES)."""

    def __init__(self, raw: Any, path: str, problems: Problems, plural: str = "loadtestmonitors") -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            problems.add(path, f"must be an object, got {_kind(raw)}")
            raw = {}
        self.raw = raw
        self.path = path
        self.problems = problems
        self.plural = plural

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def problem(self, key: str, message: str) -> None:
        self.problems.add(self.at(key), message)

    def child(self, key: str) -> Reader:
        return Reader(self.raw.get(key), self.at(key), self.problems, self.plural)

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def string(self, key: str, default: str) -> str:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if not isinstance(value, str):
            self.problem(key, f"must be a string, got {short(value)}")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(key, f"must be true or false, got {short(value)}")
            return default
        return value

    def integer(self, key: str, default: int, low: int | None = None, high: int | None = None) -> int:
        """A whole number within the CRD's minimum and maximum for the field (or `low`/`high`
        when given: bounds the schema does not state, such as a tighter operator limit)."""
        if low is None or high is None:
            node = self.fact(key)
            low = int(node.minimum) if low is None else low
            high = int(node.maximum) if high is None else high
        value = self.raw.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"must be a whole number from {low} to {high}, got {short(value)}")
            return default
        if not low <= value <= high:
            self.problem(key, f"must be from {low} to {high}, got {value}")
            return default
        return value

    def choice(self, key: str, default: str, allowed: Sequence[str] | None = None) -> str:
        """One of the CRD's enum for the field (or of `allowed`, when the schema states none)."""
        allowed = self.fact(key).enum if allowed is None else allowed
        value = self.string(key, default)
        if value not in allowed:
            self.problem(key, f"must be one of {', '.join(allowed)}, got {short(value)}")
            return default
        return value

    def matching(self, key: str, default: str, hint: str) -> str:
        """A string in the grammar the CRD states for the field (its pattern or its CEL rule)."""
        value = self.string(key, default)
        if not _grammar(_ITEM_INDEX.sub("[]", self.at(key)), self.plural).fullmatch(value):
            self.problem(key, f"{short(value)} is not valid: {hint}")
            return default
        return value

    def fact(self, key: str) -> schema.Node:
        """The CRD's schema of the field `key` of this object."""
        return schema.at(_ITEM_INDEX.sub("[]", self.at(key)), self.plural)

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, "must be a list of strings")
            return ()
        return tuple(value)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.raw.get(key) or {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            self.problem(key, "must be a map of strings to strings")
            return {}
        return dict(sorted(value.items()))


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "true/false", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@cache
def _grammar(path: str, plural: str) -> re.Pattern[str]:
    """The field's grammar as the CRD states it: a `pattern` (anchored, so fullmatch is the
    API server's match) or else a `self.matches('^...$')` CEL rule. Matched with fullmatch: Python's
    `$` also matches before a trailing newline, which RE2 does not."""
    node = schema.at(path, plural)
    return re.compile(node.pattern if "pattern" in node.raw else node.cel_pattern)
