"""Hypothesis strategies for hostile `gatling.baseConfig` texts.

Strings that hold `\"\"\"`, newlines, backslashes, `${`, quotes, Unicode and whole HOCON lines that
would move the metrics destination if they escaped their quotes; keys with dots, spaces and
destination paths, quoted and unquoted; nested objects, lists, substitutions, durations. Many
texts are refused by the operator (a quote or backslash in a key, a substitution it does not
keep); the properties are about the ones it accepts.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

#: Environment of the process that reads the rendered files (Typesafe Config resolves from it).
SET_VAR, SET_VALUE = "LTM_SET", "set-value"
UNSET_VAR = "LTM_UNSET"
RUNNER = "runner-7"
READER_ENV = {SET_VAR: SET_VALUE, "GATLING_RUNNER": RUNNER}

ESCAPE_LINES = (
    "gatling.data.graphite.host = evil.example",
    'gatling.data.graphite.port = 1\ngatling.data.writers = [console]',
    'gatling.data.graphite.rootPathPrefix = "x"',
    "gatling.data.graphite.host = ${?HOSTNAME}",
    'loadtest-monitor.runner = "hijacked"',
    "}\n}\n}\ngatling { data { graphite { protocol = udp } } }",
)
PIECES = (
    '"""', '"', "\n", "\\", "${", "${?HOSTNAME}", "}", "{", "#", "//", ",", "=", "é", "\u2028", "\u0131",
    "\x00", "\t", "'", " ", "\uff47", "𝄞", *ESCAPE_LINES,
)

_word = st.from_regex(r"[a-z][a-zA-Z0-9_-]{0,6}", fullmatch=True)
_hostile_text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=8).map("".join)


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _triple(text: str) -> str:
    body = text.replace('"""', '""').rstrip('"') or " "
    return f'"""{body}"""'


def _escape_attempt(line: str) -> str:
    """A string that, printed inside triple quotes unescaped, closes them and adds `line`."""
    return _json_string(f'x\n"""\n{line}\nzz = """y')


_scalar = st.one_of(
    st.sampled_from(ESCAPE_LINES).map(_escape_attempt),
    _hostile_text.map(_json_string),
    _hostile_text.map(_triple),
    _word,
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(["true", "false", "null", "10s", "5 minutes", "250ms", "2w"]),
    st.sampled_from([f"${{?{SET_VAR}}}", f"${{?{UNSET_VAR}}}", "${?HOSTNAME}", f"${{{SET_VAR}}}"]),
)

_key = st.one_of(
    _word,
    st.lists(_word, min_size=2, max_size=3).map(".".join),
    _hostile_text.map(_json_string),
    st.sampled_from(
        [
            '"gatling.data.graphite.host"',
            '"gatling.data"',
            "gatling.data.graphite.host",
            "gatling.data.graphite.port",
            "gatling.data.writers",
            '"a.b"',
            '"with space"',
            '"loadtest-monitor.runner"',
        ]
    ),
)


def _members(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    member = st.tuples(_key, st.sampled_from([" = ", ": ", "="]), values).map("".join)
    return st.lists(member, max_size=4).flatmap(lambda ms: st.sampled_from(["\n", ", "]).map(lambda sep: sep.join(ms)))


def _compound(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    lists = st.lists(children, max_size=3).map(lambda vs: "[" + ", ".join(vs) + "]")
    objects = _members(children).map(lambda body: "{\n" + body + "\n}" if body else "{}")
    return st.one_of(lists, objects)


_value = st.recursive(_scalar, _compound, max_leaves=8)

_gatling_block = st.tuples(_value, _value, st.lists(_word, max_size=3)).map(
    lambda t: (
        "gatling { data { graphite { host = " + t[0] + ", port = " + t[1] + " } } }\n"
        "gatling.data.writers = [" + ", ".join(t[2]) + "]"
    )
)

base_configs = st.tuples(st.one_of(st.just(""), _gatling_block), _members(_value)).map(lambda t: "\n".join(t))
