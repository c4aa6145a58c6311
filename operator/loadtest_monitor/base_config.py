"""`gatling.baseConfig` is data, never code: parse it without includes, I/O or substitution.

The HOCON library we use (pyhocon) executes `include "x"`, `include file(...)`, `include url(...)`,
`include package(...)` and `include required(...)` WHILE parsing: inside the operator that is a
server-side request forgery (an URL such as the cloud metadata endpoint lands in a ConfigMap the
monitor's author can read), a file read of the operator's own files, and a reconcile that hangs on
an URL that never answers. Decision: includes are REFUSED with a field-named error, not passed
through. Passing them through would need our own HOCON printer that keeps an include statement
unresolved (pyhocon's printer cannot), and a gatling.conf that pulls files or URLs into the runner is
not something the monitor needs to publish; the author can paste the settings instead.

How the refusal is made safe: pyhocon's grammar matches the keyword with a case-insensitive,
whole-word comparison anywhere a key or value may start. Rather than re-implementing HOCON's
lexer (comments, `//` inside unquoted URLs, triple-quoted strings) and risking one disagreement
that lets an include through, the check refuses the whole word `include` in any case ANYWHERE in
the text, quoted strings and comments included, by the same comparison pyparsing makes. The text
reaches the parser only after that. Substitutions are never resolved here (`resolve=False`), so
`${?HOSTNAME}` stays for Gatling to resolve in the runner, and no environment is read.

What must be a certain shape for the renderer to merge our settings on top (the root, `gatling`,
`gatling.data`, `gatling.data.graphite` objects; `gatling.data.writers` a literal list of names)
is checked here too, so a wrong type is a field-named error and never a traceback in a reconcile.
"""

from __future__ import annotations

import functools

from pyhocon import ConfigFactory, ConfigTree
from pyparsing import ParseBaseException

#: Characters, the same count as the CRD's maxLength (which counts characters, not bytes).
MAX_BASE_CONFIG_CHARS = 65536
#: Lines plus commas. pyhocon's time grows with the square of the number of keys (measured: 1000
#: dotted keys ~36 s on a loaded 2-core machine, 500 keys ~10 s), and every reconcile parses it;
#: Gatling's complete default gatling.conf has under 200 lines, so 500 entries is generous.
MAX_BASE_CONFIG_ENTRIES = 500

_KEYWORD = "INCLUDE"
# pyparsing's Keyword treats these as part of a word: `included` or `$include` is not the keyword.
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")
_OBJECT_PATHS = ("gatling", "gatling.data", "gatling.data.graphite")
WRITERS_PATH = "gatling.data.writers"


class BaseConfigError(ValueError):
    """One problem of the base config, as a short sentence (the caller adds the field path)."""


def _include_line(text: str) -> int | None:
    """The line of the first whole-word `include` in any letter case, as pyparsing would match it."""
    size = len(_KEYWORD)
    for start in range(len(text) - size + 1):
        if text[start : start + size].upper() != _KEYWORD:
            continue
        before = text[start - 1].upper() if start > 0 else ""
        after = text[start + size].upper() if start + size < len(text) else ""
        if before not in _WORD_CHARS and after not in _WORD_CHARS:
            return text.count("\n", 0, start) + 1
    return None


def _is_literal_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def parse_base_config(text: str) -> ConfigTree:
    """The base config as a tree with substitutions left unresolved, or BaseConfigError."""
    if len(text) > MAX_BASE_CONFIG_CHARS:
        raise BaseConfigError(
            f"is {len(text)} characters, more than {MAX_BASE_CONFIG_CHARS}; keep only the settings you change"
        )
    entries = text.count("\n") + text.count(",")
    if entries > MAX_BASE_CONFIG_ENTRIES:
        raise BaseConfigError(
            f"has {entries} lines and commas, more than {MAX_BASE_CONFIG_ENTRIES}; keep only the settings you change"
        )
    if not text.strip():
        return ConfigTree()
    line = _include_line(text)
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


#: Distinct base configs whose verdict is kept: parsing one near the limit takes seconds, and every
#: reconcile of its monitor would parse it again. Keys are the texts (at most 64 KiB each).
VERDICT_CACHE_SIZE = 64


@functools.lru_cache(maxsize=VERDICT_CACHE_SIZE)
def base_config_problem(text: str) -> str | None:
    """What parse_base_config refuses in `text`, or None; remembered per text (parsing is pure)."""
    try:
        parse_base_config(text)
    except BaseConfigError as err:
        return str(err)
    return None


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
