"""`gatling.baseConfig` is data, never code: parse it without includes, I/O or substitution.

The HOCON library we use (pyhocon) executes `include "x"`, `include file(...)`, `include url(...)`,
`include package(...)` and `include required(...)` WHILE parsing: inside the operator that is a
server-side request forgery (an URL such as the cloud metadata endpoint lands in a ConfigMap the
monitor's author can read), a file read of the operator's own files, and a reconcile that hangs on
an URL that never answers. Decision: includes are REFUSED with a field-named error, not passed
through. Passing them through would need our own HOCON printer that keeps an include statement
unresolved (pyhocon's printer cannot), and a gatling.conf that pulls files or URLs into the runner is
not something the monitor needs to publish; the author can paste the settings instead.

How the refusal is made safe, and what bounds the cost: hocon_safety.py, shared with the
forwarder. The text reaches pyhocon only after both checks. Substitutions are never resolved here
(`resolve=False`), and no environment is read.

The tree pyhocon returns is then turned into plain data (dicts, lists, strings, numbers,
booleans, null, and render/hocon.py's Substitution), which is what the operator publishes through
its own printer. What has no faithful data form is refused, with the reason:
- a substitution that is not a whole value, or whose name is not one environment-style name
  (`${?NAME}`, `${NAME}`, NAME of letters, digits and `_`): a path such as `${a.b}` or a
  concatenation such as `${?A}x` is refused (decision: keep what runners need, `${?HOSTNAME}`-
  style values, and nothing that could read or build other settings);
- a quoted key holding a quote or a backslash (pyhocon keeps the escape undecoded and splits such
  keys at the wrong places), a number that is not finite, and the operator's own top-level key
  `loadtest-monitor`.
Durations pyhocon reads (`10s`, `5 minutes`) are published as strings Typesafe Config reads as the
same duration (`"10s"`, `"5m"`).

What must be a certain shape for the renderer to merge our settings on top (the root, `gatling`,
`gatling.data`, `gatling.data.graphite` objects; `gatling.data.writers` a literal list of names)
is checked here too, so a wrong type is a field-named error and never a traceback in a reconcile.
Last, a trial gatling.conf is printed and parsed back (render/gatling_conf.py): a base config
whose document would not hold the operator's metrics destination is refused here, at the spec.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pyhocon import ConfigFactory, ConfigTree
from pyhocon.config_tree import ConfigSubstitution, ConfigValues, NoneValue
from pyhocon.period_serializer import is_timedelta_like
from pyparsing import ParseBaseException

from loadtest_monitor import hocon_safety
from loadtest_monitor.render import gatling_conf
from loadtest_monitor.render.gatling_conf import RUNNER_ROOT, WRITERS_PATH, Destination, PublishError
from loadtest_monitor.render.hocon import Overrides, Substitution
from loadtest_monitor.spec.reader import short

#: Characters, the same count as the CRD's maxLength (which counts characters, not bytes).
MAX_BASE_CONFIG_CHARS = 65536
# What pyhocon's time grows with (hocon_safety.measure), bounded so that the worst accepted base
# config costs the whole spec check at most ~0.6 s of CPU, measured on a 2-core machine at load 8
# (`python -m bench.base_config_bench`; bench/results/base-config-*.txt). For scale, gatling-core
# 3.11.5's complete gatling-defaults.conf is 276 tokens, 22 objects, depth 4.
MAX_BASE_CONFIG_TOKENS = 1200
MAX_BASE_CONFIG_OBJECTS = 120
MAX_BASE_CONFIG_DEPTH = 16

_OBJECT_PATHS = ("gatling", "gatling.data", "gatling.data.graphite")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A trial destination: the user's data is printed the same way whatever the real one is.
_TRIAL = Destination(("console", "file", "graphite"), "graphite.invalid", 2003, "tcp", "gatling")

BaseData = dict[str, Any]


class BaseConfigError(ValueError):
    """One problem of the base config, as a short sentence (the caller adds the field path)."""


def _check_cost(text: str) -> None:
    if len(text) > MAX_BASE_CONFIG_CHARS:
        raise BaseConfigError(
            f"is {len(text)} characters, more than {MAX_BASE_CONFIG_CHARS}; keep only the settings you change"
        )
    cost = hocon_safety.measure(text)
    for count, limit, what in (
        (cost.tokens, MAX_BASE_CONFIG_TOKENS, "tokens (keys, values and punctuation)"),
        (cost.objects, MAX_BASE_CONFIG_OBJECTS, "objects (braces and dotted key parts)"),
        (cost.depth, MAX_BASE_CONFIG_DEPTH, "levels of nested braces and brackets"),
    ):
        if count > limit:
            raise BaseConfigError(f"has {count} {what}, more than {limit}; keep only the settings you change")


def parse_base_config(text: str) -> ConfigTree:
    """The base config as a tree with substitutions left unresolved, or BaseConfigError."""
    _check_cost(text)
    if not text.strip():
        return ConfigTree()
    line = hocon_safety.include_line(text)
    if line is not None:
        raise BaseConfigError(
            f"line {line}: 'include' is not allowed (the operator never loads files or URLs); paste the "
            "settings themselves, and reword a comment or string that contains the word"
        )
    try:
        tree = ConfigFactory.parse_string(text, resolve=False)
    except ParseBaseException as err:
        raise BaseConfigError(f"is not valid HOCON near line {err.lineno}, column {err.col}") from None
    except RecursionError:
        raise BaseConfigError("nests objects or lists too deeply to be a Gatling config") from None
    except Exception as err:  # pyhocon's own exceptions carry grammar dumps: keep the first line
        first = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise BaseConfigError(f"is not valid HOCON: {first}") from None
    if not isinstance(tree, ConfigTree):
        raise BaseConfigError("must be a HOCON object such as `gatling { core { encoding = utf-8 } }`, not a list")
    _check_shape(tree)
    return tree


# --- the tree as data ------------------------------------------------------------------------


def _key(raw: str, where: str) -> str:
    """pyhocon keeps a quoted key holding `.` (or another special character) with its quotes."""
    inner = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if '"' in inner or "\\" in inner:
        raise BaseConfigError(f"key {short(where + inner)}: a key may not contain a quote or a backslash")
    return inner


_DURATION_UNITS = (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1000))


def _duration(value: Any) -> str:
    """A duration (a timedelta, or dateutil's relativedelta) as a string Typesafe Config's
    getDuration/getPeriod read as the same length."""
    if isinstance(value, timedelta):
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    elif value.years or value.months:
        return f"{value.years * 12 + value.months}mo"
    else:
        micros = (((value.days * 24 + value.hours) * 60 + value.minutes) * 60 + value.seconds) * 1_000_000
        micros += value.microseconds
    for unit, size in _DURATION_UNITS:
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"


def _substitution(value: ConfigValues, where: str) -> Any:
    tokens = list(value.tokens)
    token = tokens[0] if len(tokens) == 1 else None
    if not isinstance(token, ConfigSubstitution) or not _ENV_NAME.fullmatch(str(token.variable)):
        raise BaseConfigError(
            f"{where}: a substitution must be a whole value, `${{?NAME}}` or `${{NAME}}` with NAME an "
            "environment variable name (letters, digits, _); write other values out"
        )
    subst = Substitution(str(token.variable), optional=bool(token.optional))
    previous = getattr(value, "overridden_value", None)
    if previous is None:
        return subst
    earlier = _data(previous, where)  # `a = 1, a = ${?A}, a = ${?B}`: one flat list of assignments
    return Overrides((*(earlier.values if isinstance(earlier, Overrides) else (earlier,)), subst))


def _data(value: object, where: str) -> Any:
    """`value` from pyhocon's tree as plain data, or BaseConfigError naming `where`."""
    if isinstance(value, ConfigTree):
        return {_key(k, where): _data(v, f"{where}{_key(k, where)}.") for k, v in value.items()}
    if isinstance(value, ConfigValues):
        return _substitution(value, where.rstrip("."))
    if isinstance(value, list):
        return [_data(v, where) for v in value]
    if value is None or isinstance(value, NoneValue):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise BaseConfigError(f"{where.rstrip('.')}: {value} is not a number Gatling can read")
    if isinstance(value, (bool, int, float, str)):
        return value
    if is_timedelta_like(value):
        return _duration(value)
    raise BaseConfigError(f"{where.rstrip('.')}: a value pyhocon read as {type(value).__name__} cannot be published")


def _substitution_names(value: object) -> set[str]:
    if isinstance(value, Substitution):
        return {value.path}
    if isinstance(value, Overrides):
        return set().union(*(_substitution_names(v) for v in value.values))
    if isinstance(value, Mapping):
        return set().union(set(), *(_substitution_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(_substitution_names(v) for v in value))
    return set()


def _depth(value: object) -> int:
    if isinstance(value, Mapping):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, (list, Overrides)):
        items = value.values if isinstance(value, Overrides) else value
        return (0 if isinstance(value, Overrides) else 1) + max((_depth(v) for v in items), default=0)
    return 0


def to_data(tree: ConfigTree) -> BaseData:
    """The checked tree as data the printer writes; BaseConfigError for what it cannot write faithfully."""
    data: BaseData = _data(tree, "")
    # Printed, every dotted key part is an object of its own (and the document is parsed back).
    depth = _depth(data) - 1
    if depth > MAX_BASE_CONFIG_DEPTH:
        raise BaseConfigError(
            f"nests objects and lists {depth} levels deep (each part of a dotted key is a level), more than "
            f"{MAX_BASE_CONFIG_DEPTH}"
        )
    if RUNNER_ROOT in data:
        raise BaseConfigError(f"{RUNNER_ROOT} is the operator's own key (the runner identity); use another name")
    # A single-name substitution also reads a top-level key of that name (Typesafe Config looks in
    # the config first): only environment variables may be substituted.
    clashes = sorted(_substitution_names(data) & {*data, "gatling"})
    if clashes:
        raise BaseConfigError(
            f"${{{clashes[0]}}} names a setting of this config; only environment variables may be substituted"
        )
    return data


#: Distinct base configs whose data is kept: parsing one near the limit takes a fraction of a
#: second, and every reconcile of its monitor would parse it again. Keys are the texts (<= 64 KiB).
VERDICT_CACHE_SIZE = 64


@functools.lru_cache(maxsize=VERDICT_CACHE_SIZE)
def _data_or_problem(text: str) -> BaseData | str:
    try:
        data = to_data(parse_base_config(text))
        gatling_conf.publish(data, _TRIAL, {})
    except (BaseConfigError, PublishError) as err:
        return str(err)
    return data


def base_config_data(text: str) -> BaseData:
    """The base config as data (shared between callers: read it, never change it), or BaseConfigError."""
    found = _data_or_problem(text)
    if isinstance(found, str):
        raise BaseConfigError(found)
    return found


def base_config_problem(text: str) -> str | None:
    """What the operator refuses in `text`, or None; remembered per text (parsing is pure)."""
    found = _data_or_problem(text)
    return found if isinstance(found, str) else None


def _is_literal_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_shape(tree: ConfigTree) -> None:
    for path in _OBJECT_PATHS:
        value = tree.get(path, None)
        if value is not None and not isinstance(value, ConfigTree):
            raise BaseConfigError(f"{path} must be an object (`{path} {{ ... }}`), not a value or substitution")
    writers = tree.get(WRITERS_PATH, None)
    if writers is not None and not _is_literal_list(writers):
        raise BaseConfigError(
            f"{WRITERS_PATH} must be a list of writer names such as [console, file], "
            "without substitutions; graphite is added for you"
        )
