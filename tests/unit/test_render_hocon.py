"""The gatling.conf printer: every key and string a JSON string, only checked substitutions unquoted."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhocon import ConfigFactory

from loadtest_monitor.render import hocon
from loadtest_monitor.render.hocon import Concatenation, Overrides, Substitution


def test_keys_and_strings_are_json_strings() -> None:
    text = hocon.dumps({"a.b": {'q"\n': 'x"""\n}${?H}\\é\u2028'}, "n": [1, 2.5, True, None, []], "e": {}})
    assert text == (
        '"a.b" = {\n'
        '  "q\\"\\n" = "x\\"\\"\\"\\n}${?H}\\\\\\u00e9\\u2028"\n'
        "}\n"
        '"n" = [\n  1,\n  2.5,\n  true,\n  null,\n  []\n]\n'
        '"e" = {}\n'
    )
    assert text.isascii() and all(c == "\n" or c.isprintable() for c in text)


def test_substitutions_concatenations_and_overrides() -> None:
    root: dict[str, hocon.Value] = {
        "p": Concatenation(("gatling.", Substitution("loadtest-monitor.runner", optional=False))),
        "r": Overrides(("local", Substitution("HOSTNAME"))),
    }
    assert hocon.dumps(root) == '"p" = "gatling."${loadtest-monitor.runner}\n"r" = "local"\n"r" = ${?HOSTNAME}\n'


@pytest.mark.parametrize("path", ["", "a}", "a b", 'a"', "a..b", ".a", "a.", "${x}", "1a"])
def test_a_substitution_path_that_could_end_early_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="not a substitution path"):
        Substitution(path)


@pytest.mark.parametrize(
    "root", [{"x": float("inf")}, {"x": float("nan")}, {"x": [Overrides((1,))]}, {"x": object()}, {1: 2}]
)
def test_what_has_no_hocon_form_is_refused(root: dict[object, object]) -> None:
    with pytest.raises(ValueError):
        hocon.dumps(root)  # type: ignore[arg-type]


# pyhocon decodes only some JSON escapes (not \b, \f or \u), drops "" from lists and reads null in
# a list as its own NoneValue, so the round trip through it keeps to printable ASCII, the whitespace
# escapes it knows, non-empty strings and null outside lists; Typesafe Config's reading of
# everything else is tested in tests/e2e/test_gatling_conf_typesafe.py.
_text = st.text(alphabet=string.printable.replace("\x0b", "").replace("\x0c", ""), min_size=1, max_size=20)
_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_ -]{0,8}", fullmatch=True).map(str.strip).filter(bool)
_scalars = st.one_of(_text, st.integers(-(2**62), 2**62), st.booleans())
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys, inner | st.none(), max_size=3)),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=5))
def test_pyhocon_reads_back_what_was_printed(root: dict[str, object]) -> None:
    parsed = ConfigFactory.parse_string(hocon.dumps(root), resolve=False)  # type: ignore[arg-type]
    assert json.loads(json.dumps(parsed)) == json.loads(json.dumps(root))
