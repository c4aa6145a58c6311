"""What must be true of HOCON text before pyhocon may parse it: no include, and a bounded cost.

One module for every place that parses HOCON written by someone else: the operator's
`gatling.baseConfig` (spec/base_config.py) and the forwarder's gatling.conf (forward/conf.py).

Includes. pyhocon EXECUTES `include "x"`, `include file(...)`, `include url(...)`,
`include package(...)` while it parses. Its grammar matches the keyword with pyparsing's caseless
`Keyword`: seven characters whose `str.upper()` is `INCLUDE`, with no ASCII word character
(letters, digits, `_`, `$`) right before or after. That is Unicode case mapping, not ASCII:
`\u0131nclude` (dotless i) upper-cases to `INCLUDE` and is the keyword, while a check that lower-cases
the text lets it through. `include_line` refuses every place where that very predicate holds, and
also every word whose compatibility and case fold is `include` (fullwidth letters,
`\u0130nclude`), so no HOCON reader that folds case more widely can take a word for the keyword either.
The check runs over the whole text, strings and comments included, on purpose: a check that skips
strings and comments has to agree with pyhocon on where every string and comment ends (pyhocon
reads `http://x` as text, not a comment; `\\"` outside quotes as an escaped character, not a
string; keys and values end triple-quoted strings differently), and one disagreement is an
executed include. A comment or string that merely mentions the word has to be reworded.

Cost. pyhocon's time is not linear in the text: repeated root objects and dotted keys are merged
by copying (measured on this project's 2-core machines: 60 KB of `a = {k=1}{k=1}…` on one line,
10-20 s; 1000 root-level `a { kN = 1 }` lines, ~8 s), and nesting past ~50 levels exhausts
Python's stack. Counting lines or characters bounds none of that. `measure` is a linear,
regex-driven tokenizer that counts what pyhocon's time grows with: tokens (every key, value and
punctuation mark), objects (every `{`, and every path separator of an unquoted word, since
`a.b.c = 1` builds two objects) and the nesting depth of brackets. It errs on the side of
counting more than pyhocon builds (a `.` in any unquoted word counts as an object, `//` is never a
comment), never less, except inside what it reads as a quoted string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_KEYWORD = "INCLUDE"
#: pyparsing's Keyword.DEFAULT_KEYWORD_CHARS (upper-cased, as its caseless match compares them).
_IDENT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
#: Every character whose upper case is exactly `I` (a unit test scans all of Unicode for them): the
#: seven characters of a match each upper-case to one letter, so the first one is one of these.
FIRST_LETTERS = "Ii\u0131"
_FIRST = re.compile(f"[{FIRST_LETTERS}]")
_WORD = re.compile(r"\w+")


def _fold(word: str) -> str:
    """Compatibility decomposition, combining marks dropped, case folded (dotless i, which folds to itself, made i)."""
    decomposed = unicodedata.normalize("NFKD", word)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", bare.casefold().replace("\u0131", "i"))


def _pyparsing_keyword_at(text: str, start: int) -> bool:
    """pyparsing's caseless Keyword("include") predicate at `start`, exactly as it computes it."""
    end = start + len(_KEYWORD)
    if text[start:end].upper() != _KEYWORD:
        return False
    before_ok = start == 0 or text[start - 1].upper() not in _IDENT_CHARS
    after_ok = end >= len(text) or text[end].upper() not in _IDENT_CHARS
    return before_ok and after_ok


def include_line(text: str) -> int | None:
    """The line of the first word any HOCON reader could take for `include`, or None."""
    hits = [m.start() for m in _FIRST.finditer(text) if _pyparsing_keyword_at(text, m.start())]
    hits += [m.start() for m in _WORD.finditer(text) if _fold(m.group()) == "include"]
    if not hits:
        return None
    return text.count("\n", 0, min(hits)) + 1


@dataclass(frozen=True)
class Cost:
    tokens: int
    objects: int
    depth: int


# One alternative per token kind, tried in this order at every position; each consumes at least one
# character, so a scan is one pass. Unquoted words follow pyhocon's own rule: a backslash escapes
# the next character, `//` does not end them. A substitution's scan stops at the next `$`, `{` or
# newline (else `${${${…` would rescan the line from every `${`); a `${` that does not close there
# is counted as `$` and an opening brace, more than pyhocon pays, never less.
_TOKEN = re.compile(
    r"""
    (?P<space>[^\S\n]+|\n)
    |(?P<comment>\#[^\n]*)
    |(?P<triple>\"\"\"(?s:.*?)\"*\"\"\")
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<subst>\$\{[^{}$\n]*\})
    |(?P<open>[{\[])
    |(?P<close>[}\]])
    |(?P<word>(?:[^\s"{}\[\],=:\#$\\]|\\.|\$(?!\{))+)
    |(?P<other>(?s:.))
    """,
    re.VERBOSE,
)


def measure(text: str) -> Cost:
    """Tokens, objects and bracket depth of `text`, in one linear pass (see the module doc)."""
    tokens = objects = depth = deepest = 0
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind in ("space", "comment"):
            continue
        tokens += 1
        if kind == "open":
            objects += match.group() == "{"
            depth += 1
            deepest = max(deepest, depth)
        elif kind == "close":
            depth = max(depth - 1, 0)
        elif kind == "word":
            objects += match.group().count(".")
    return Cost(tokens=tokens, objects=objects, depth=deepest)
