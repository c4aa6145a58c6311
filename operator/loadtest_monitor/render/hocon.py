"""A HOCON printer that can only write data, for the gatling.conf the operator publishes.

Why our own: the published file is read by Typesafe Config (Gatling) and by pyhocon (the
forwarder), and every value in it that came from a user must read back as exactly that value,
never as HOCON syntax. pyhocon's printer writes a string containing a newline inside `\"\"\"…\"\"\"`
without escaping, so a string holding `\"\"\"` closes the quote and adds lines of its own (a graphite
host, an include); it also writes keys unquoted. The rules here leave no such room:

- every key is one JSON string (`"a.b"` is ONE key named `a.b`, never the path a → b), written
  with `json.dumps(ensure_ascii=True)`: no raw newline, quote, backslash or non-ASCII character
  can reach the file;
- every string value is a JSON string the same way; numbers (finite only), booleans and null are
  literals; lists and objects are written structurally, one member per line;
- the only thing written unquoted is a `Substitution` whose path matches `SUBSTITUTION_PATH`
  (dotted words of letters, digits, `_` and `-`): it cannot contain `}` or a quote, so it cannot
  end early; `Concatenation` glues strings and substitutions with nothing in between, and
  `Overrides` assigns one key several values in turn (HOCON keeps the last defined one, and an
  undefined `${?X}` keeps the one before).

What a substitution may refer to is the caller's policy (spec/base_config.py: user values may only be
`${?NAME}`/`${NAME}` of one environment-style name; render/gatling.py: the runner identity).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

SUBSTITUTION_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")
_INDENT = "  "


@dataclass(frozen=True)
class Substitution:
    """`${path}`, or `${?path}` when optional; the path is checked when the object is made."""

    path: str
    optional: bool = True

    def __post_init__(self) -> None:
        if not SUBSTITUTION_PATH.fullmatch(self.path):
            raise ValueError(f"not a substitution path this printer writes: {self.path!r}")

    def hocon(self) -> str:
        return "${" + ("?" if self.optional else "") + self.path + "}"


@dataclass(frozen=True)
class Concatenation:
    """Strings and substitutions written side by side, e.g. `"gatling."${loadtest-monitor.runner}`."""

    parts: tuple[str | Substitution, ...]


@dataclass(frozen=True)
class Overrides:
    """One key assigned these values in this order (members of objects only)."""

    values: tuple[Value, ...]


Value: TypeAlias = (
    "bool | int | float | str | Substitution | Concatenation | Overrides | Sequence[Value] | Mapping[str, Value] | None"
)


def string(text: str) -> str:
    """A JSON string: HOCON reads it back as exactly `text`."""
    return json.dumps(text, ensure_ascii=True)


def _scalar(value: object) -> str | None:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no HOCON literal")
        return repr(value)
    if isinstance(value, str):
        return string(value)
    if isinstance(value, Substitution):
        return value.hocon()
    if isinstance(value, Concatenation):
        return "".join(p.hocon() if isinstance(p, Substitution) else string(p) for p in value.parts)
    return None


def _value(value: Value, depth: int) -> str:
    text = _scalar(value)
    if text is not None:
        return text
    pad = _INDENT * depth
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{\n" + _members(value, depth + 1) + pad + "}"
    if isinstance(value, Overrides):
        raise ValueError("Overrides belongs to an object member, not a list element")
    if isinstance(value, Sequence):
        if not value:
            return "[]"
        inner = _INDENT * (depth + 1)
        return "[\n" + ",\n".join(inner + _value(v, depth + 1) for v in value) + "\n" + pad + "]"
    raise ValueError(f"cannot print a {type(value).__name__}")


def _members(members: Mapping[str, Value], depth: int) -> str:
    pad = _INDENT * depth
    lines = []
    for key, value in members.items():
        if not isinstance(key, str):
            raise ValueError(f"object keys are strings, not {type(key).__name__}")
        values = value.values if isinstance(value, Overrides) else (value,)
        lines += [f"{pad}{string(key)} = {_value(v, depth)}\n" for v in values]
    return "".join(lines)


def dumps(root: Mapping[str, Value]) -> str:
    """The members of the root object, one per line (no braces around the file)."""
    return _members(root, 0)
