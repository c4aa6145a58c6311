"""The forwarder's settings, read from the same gatling.conf the monitor publishes for runners.

The file is parsed as data: a word pyhocon could take for `include` is refused before parsing
(pyhocon would load the file or URL while parsing; hocon_safety.py holds the one check the operator
uses too), and no substitution is left to pyhocon, which gets
`x = ${?UNDEFINED}` wrong (it drops the earlier value; Typesafe Config, which Gatling uses, keeps
it). Substitutions are resolved here as Typesafe Config does: a path of the config first, then
an environment variable; an undefined `${?X}` assignment leaves the previous value in place, an
undefined `${?X}` inside a concatenation is empty.

The runner name (`loadtest-monitor.runner`, and direct `${?GATLING_RUNNER}` / `${?HOSTNAME}`) is
reduced to one safe segment by graphite.runner_segment, the rule the runner image applies to
GATLING_RUNNER before Gatling starts, so both write the same path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyhocon import ConfigFactory, ConfigTree
from pyhocon.config_tree import ConfigQuotedString, ConfigSubstitution, ConfigUnquotedString, ConfigValues

from loadtest_monitor.graphite import RUNNER_ENV_VARS, RUNNER_KEY, runner_segment
from loadtest_monitor.hocon_safety import include_line

_MAX_CONF_BYTES = 1 << 20

# Gatling 3.11.5's defaults (gatling-defaults.conf) for what the file may leave out.
DEFAULTS: dict[str, Any] = {
    "gatling.data.graphite.host": "localhost",
    "gatling.data.graphite.port": 2003,
    "gatling.data.graphite.protocol": "tcp",
    "gatling.data.graphite.rootPathPrefix": "gatling",
    "gatling.data.graphite.writePeriod": 1,
    "gatling.data.graphite.light": False,
    "gatling.charting.indicators.percentile1": 50,
    "gatling.charting.indicators.percentile2": 75,
    "gatling.charting.indicators.percentile3": 95,
    "gatling.charting.indicators.percentile4": 99,
    "gatling.core.encoding": "utf-8",
}


class ConfError(Exception):
    """A setting the forwarder cannot use; the message names the key and the fix."""


@dataclass(frozen=True)
class ForwardSettings:
    host: str
    port: int
    protocol: str  # "tcp" or "udp"
    prefix: str  # rootPathPrefix as Gatling would resolve it, runner segment reduced
    runner: str | None  # the reduced runner segment, when the prefix carries one
    write_period_s: int
    light: bool
    percentiles: tuple[float, ...]
    encoding: str


def parse_conf_text(text: str, source: str) -> ConfigTree:
    line = include_line(text)
    if line is not None:
        raise ConfError(f"{source} line {line}: 'include' is refused (the forwarder never loads other files or URLs)")
    try:
        tree = ConfigFactory.parse_string(text, resolve=False)
    except Exception as err:  # pyparsing and pyhocon errors: keep one line
        first = (str(err).splitlines() or [type(err).__name__])[0][:160]
        raise ConfError(f"{source} is not valid HOCON: {first}") from None
    if not isinstance(tree, ConfigTree):
        raise ConfError(f"{source} must be a HOCON object")
    return tree


class _Resolver:
    def __init__(self, tree: ConfigTree, env: Mapping[str, str], source: str) -> None:
        self.tree = tree
        self.env = env
        self.source = source
        self.runner: str | None = None
        self._active: set[str] = set()

    def get(self, key: str) -> Any:
        """The resolved value of `key`, or DEFAULTS[key] when the file leaves it out."""
        found, value = self._lookup(key)
        return value if found else DEFAULTS.get(key)

    def _lookup(self, key: str) -> tuple[bool, Any]:
        try:
            raw = self.tree.get(key, _MISSING)
        except Exception:
            return False, None
        if raw is _MISSING:
            return False, None
        if key in self._active:
            raise ConfError(f"{self.source}: {key} refers to itself")
        self._active.add(key)
        try:
            found, value = self._value(raw)
        finally:
            self._active.discard(key)
        if key == RUNNER_KEY and found:
            self.runner = runner_segment(str(value))
            return True, self.runner
        return found, value

    def _value(self, raw: Any) -> tuple[bool, Any]:
        if not isinstance(raw, ConfigValues):
            return True, raw
        tokens = list(raw.tokens)
        if len(tokens) == 1 and isinstance(tokens[0], ConfigSubstitution):
            found, value = self._substitute(tokens[0])
            if found:
                return True, value
            previous = getattr(raw, "overridden_value", None)
            return self._value(previous) if previous is not None else (False, None)
        parts = []
        for token in tokens:
            if isinstance(token, ConfigSubstitution):
                found, value = self._substitute(token)
                parts.append(_text(value) if found else "")
                parts.append(token.ws or "")
            elif isinstance(token, ConfigQuotedString):
                parts.append(token.value)
                parts.append(token.ws or "")
            elif isinstance(token, ConfigUnquotedString):  # a str, its spaces included
                parts.append(str(token))
            else:
                parts.append(_text(token))
        return True, "".join(parts).rstrip() if not isinstance(tokens[-1], ConfigQuotedString) else "".join(parts)

    def _substitute(self, token: ConfigSubstitution) -> tuple[bool, Any]:
        name = token.variable
        found, value = self._lookup(name)
        if not found and name in self.env:
            found, value = True, self.env[name]
            if name in RUNNER_ENV_VARS:
                value = self.runner = runner_segment(value)
        if not found and not token.optional:
            raise ConfError(f"{self.source}: ${{{name}}} is not defined (neither a key nor an environment variable)")
        return found, value


_MISSING = object()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(resolver: _Resolver, key: str, minimum: int, maximum: int) -> int:
    value = resolver.get(key)
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum or isinstance(value, (bool, float)):
        # pyhocon turns `1s` into a duration object; Gatling reads these keys with getInt.
        shown = repr(value) if isinstance(value, (str, int, float)) else "a duration"
        raise ConfError(f"{resolver.source}: {key} = {shown} must be a whole number from {minimum} to {maximum}")
    return number


def _float(resolver: _Resolver, key: str) -> float:
    value = resolver.get(key)
    try:
        number = float(str(value).strip())
    except ValueError:
        number = -1.0
    if isinstance(value, bool) or not 0.0 <= number <= 100.0:
        raise ConfError(f"{resolver.source}: {key} = {value!r} must be a percentile from 0 to 100")
    return number


def _bool(resolver: _Resolver, key: str) -> bool:
    value = resolver.get(key)
    text = _text(value).strip().lower()
    # Typesafe Config's getBoolean accepts these spellings.
    if text in ("true", "yes", "on"):
        return True
    if text in ("false", "no", "off"):
        return False
    raise ConfError(f"{resolver.source}: {key} = {value!r} must be true or false")


def settings_from_text(text: str, source: str, env: Mapping[str, str] | None = None) -> ForwardSettings:
    resolver = _Resolver(parse_conf_text(text, source), os.environ if env is None else env, source)
    protocol = _text(resolver.get("gatling.data.graphite.protocol")).strip().lower()
    if protocol not in ("tcp", "udp"):
        raise ConfError(f"{source}: gatling.data.graphite.protocol = {protocol!r} must be tcp or udp")
    host = _text(resolver.get("gatling.data.graphite.host")).strip()
    if not host:
        raise ConfError(f"{source}: gatling.data.graphite.host is empty; set the Graphite host")
    prefix = _text(resolver.get("gatling.data.graphite.rootPathPrefix"))
    if not prefix.strip(". "):
        raise ConfError(f"{source}: gatling.data.graphite.rootPathPrefix is empty")
    encoding = _text(resolver.get("gatling.core.encoding")).strip()
    try:
        "".encode(encoding)
    except LookupError:
        raise ConfError(f"{source}: gatling.core.encoding = {encoding!r} is not an encoding Python knows") from None
    return ForwardSettings(
        host=host,
        port=_int(resolver, "gatling.data.graphite.port", 1, 65535),
        protocol=protocol,
        prefix=prefix,
        runner=resolver.runner,
        write_period_s=_int(resolver, "gatling.data.graphite.writePeriod", 1, 3600),
        light=_bool(resolver, "gatling.data.graphite.light"),
        percentiles=tuple(_float(resolver, f"gatling.charting.indicators.percentile{i}") for i in range(1, 5)),
        encoding=encoding,
    )


def load_settings(path: Path, env: Mapping[str, str] | None = None) -> ForwardSettings:
    try:
        data = path.read_bytes()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ConfError(f"--gatling-conf {path}: cannot read it ({reason}); mount the ConfigMap there") from None
    if len(data) > _MAX_CONF_BYTES:
        raise ConfError(f"--gatling-conf {path}: {len(data)} bytes is too large for a gatling.conf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfError(f"--gatling-conf {path}: not UTF-8 text") from None
    return settings_from_text(text, str(path), env)
