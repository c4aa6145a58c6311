"""The gatling.conf document: the base config's data, the operator's metrics destination on top,
printed by render/hocon.py and parsed again to prove the destination is what the operator decided.

Pure and free of the spec, so the spec check (spec/base_config.py) can publish a trial document and
refuse a base config whose document would not hold, with the field named, before any reconcile.

Checked after printing (fail closed: PublishError, nothing is published): `gatling.data.writers`
is exactly the decided list, `gatling.data.graphite.{host,port,protocol}` are the decided
literals, `rootPathPrefix` is `"<prefix>."${loadtest-monitor.runner}` and nothing else, and the
runner is "local", then `${?HOSTNAME}`, then `${?GATLING_RUNNER}`, in that order (HOCON keeps the
last defined value; an undefined `${?X}` keeps the one before).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyhocon import ConfigFactory, ConfigTree
from pyhocon.config_tree import ConfigQuotedString, ConfigSubstitution, ConfigValues

from loadtest_monitor.graphite import DEFAULT_RUNNER, RUNNER_ENV_VARS, RUNNER_KEY
from loadtest_monitor.render import hocon

WRITERS_PATH = "gatling.data.writers"
GRAPHITE_PATH = ("gatling", "data", "graphite")
#: The operator's own top-level key: the runner identity lives there.
# The runner identity (where the name comes from, strongest last) is the Graphite contract's.
RUNNER_ROOT, _RUNNER_LEAF = RUNNER_KEY.split(".")

HEADER = (
    "# Rendered by loadtest-monitor. Gatling 3.12+ (3.15.1 is current) has no Graphite output and\n"
    "# ignores the graphite writer: the forwarder sidecar (loadtest-monitor forward) reads this file\n"
    "# and sends the same lines from simulation.log. Gatling 3.11 sends them with its own writer.\n"
    "# Every runner pod writes under its own path segment (loadtest-monitor.runner), so runners never\n"
    '# overwrite each other\'s series. GATLING_RUNNER wins over HOSTNAME; without either: "local".\n'
)


class PublishError(ValueError):
    """The printed document would not send metrics where the operator decided."""


@dataclass(frozen=True)
class Destination:
    """Where Gatling sends metrics, as the operator decided it."""

    writers: tuple[str, ...]
    host: str
    port: int
    protocol: str
    prefix: str  # the first segment; the runner segment follows it


def _runner() -> hocon.Overrides:
    return hocon.Overrides((DEFAULT_RUNNER, *(hocon.Substitution(v) for v in RUNNER_ENV_VARS)))


def _root_path_prefix(prefix: str) -> hocon.Concatenation:
    return hocon.Concatenation((f"{prefix}.", hocon.Substitution(RUNNER_KEY, optional=False)))


def _object(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def document(base: Mapping[str, Any], dest: Destination, graphite_extra: Mapping[str, Any]) -> dict[str, Any]:
    """The base config's members with the destination (and `graphite_extra`) set on top."""
    root = dict(base)
    gatling = _object(root.get("gatling"))
    data = _object(gatling.get("data"))
    graphite = _object(data.get("graphite"))
    graphite.pop("rootPathPrefix", None)  # ours alone: it carries the runner segment
    graphite.update(graphite_extra)
    graphite.update(host=dest.host, port=dest.port, protocol=dest.protocol)
    graphite["rootPathPrefix"] = _root_path_prefix(dest.prefix)
    data["writers"] = list(dest.writers)
    data["graphite"] = graphite
    gatling["data"] = data
    root["gatling"] = gatling
    root[RUNNER_ROOT] = {_RUNNER_LEAF: _runner()}
    return root


def publish(base: Mapping[str, Any], dest: Destination, graphite_extra: Mapping[str, Any]) -> str:
    """The gatling.conf text, or PublishError when parsing it back does not give `dest`."""
    try:
        text = HEADER + hocon.dumps(document(base, dest, graphite_extra))
    except ValueError as err:
        raise PublishError(f"cannot be written as HOCON data: {err}") from None
    verify(text, dest)
    return text


def _is_subst(token: object, path: str, optional: bool) -> bool:
    return isinstance(token, ConfigSubstitution) and token.variable == path and bool(token.optional) == optional


def _runner_chain_ok(value: object) -> bool:
    """`value` is "local" overridden by ${?HOSTNAME}, then by ${?GATLING_RUNNER}."""
    for var in reversed(RUNNER_ENV_VARS):
        if not isinstance(value, ConfigValues) or len(value.tokens) != 1 or not _is_subst(value.tokens[0], var, True):
            return False
        value = getattr(value, "overridden_value", None)
    return value == DEFAULT_RUNNER and isinstance(value, str)


def _prefix_ok(value: object, prefix: str) -> bool:
    if not isinstance(value, ConfigValues) or len(value.tokens) != 2:
        return False
    first, second = value.tokens
    quoted = isinstance(first, ConfigQuotedString) and first.value == f"{prefix}." and not first.ws
    return quoted and _is_subst(second, RUNNER_KEY, False) and getattr(value, "overridden_value", None) is None


def _problems(tree: ConfigTree, dest: Destination) -> list[str]:
    graphite = tree.get(".".join(GRAPHITE_PATH), None)
    if not isinstance(graphite, ConfigTree):
        return ["gatling.data.graphite is not an object"]
    found = {k: graphite.get(k, None) for k in ("host", "port", "protocol")}
    wanted = {"host": dest.host, "port": dest.port, "protocol": dest.protocol}
    problems = [f"gatling.data.graphite.{k} is {found[k]!r}" for k in wanted if found[k] != wanted[k]]
    if isinstance(found["port"], bool):
        problems.append("gatling.data.graphite.port is not a number")
    if tree.get(WRITERS_PATH, None) != list(dest.writers):
        problems.append(f"{WRITERS_PATH} is not {list(dest.writers)}")
    if not _prefix_ok(graphite.get("rootPathPrefix", None), dest.prefix):
        problems.append("gatling.data.graphite.rootPathPrefix is not the operator's")
    if not _runner_chain_ok(tree.get(RUNNER_KEY, None)):
        problems.append(f"{RUNNER_KEY} is not the operator's")
    return problems


def verify(text: str, dest: Destination) -> None:
    """Parses `text` back (it holds no include: every key and string is quoted) and compares."""
    try:
        tree = ConfigFactory.parse_string(text, resolve=False)
    except Exception as err:  # pyparsing and pyhocon errors alike: the printer made unreadable text
        raise PublishError(f"printed as text that does not parse ({type(err).__name__})") from None
    problems = _problems(tree, dest) if isinstance(tree, ConfigTree) else ["the document is not an object"]
    if problems:
        raise PublishError("would not send metrics where the operator decided: " + "; ".join(problems))
