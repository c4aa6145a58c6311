"""One include check and one cost bound for every HOCON text written by someone else: the
operator's baseConfig and the forwarder's gatling.conf."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pyhocon import ConfigFactory

from loadtest_monitor import hocon_safety
from loadtest_monitor.forward.conf import ConfError, parse_conf_text
from loadtest_monitor.spec.base_config import (
    MAX_BASE_CONFIG_CHARS,
    MAX_BASE_CONFIG_DEPTH,
    MAX_BASE_CONFIG_OBJECTS,
    MAX_BASE_CONFIG_TOKENS,
)
from loadtest_monitor.spec.monitor import SpecError, parse_spec

SECRET = "TOPSECRET-operator-file-content"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.conf"
    path.write_text(f'leaked = "{SECRET}"\n')
    return path


def test_dotless_i_is_the_include_keyword_for_pyhocon(secret_file: Path) -> None:
    """Why lower-casing is wrong: pyparsing compares str.upper(), and the dotless i upper-cases to `I`."""
    tree = ConfigFactory.parse_string(f'\u0131nclude file("{secret_file}")', resolve=False)
    assert tree["leaked"] == SECRET


def test_every_letter_whose_upper_case_is_i_is_known() -> None:
    found = "".join(chr(c) for c in range(0x110000) if chr(c).upper() == "I")
    assert found == hocon_safety.FIRST_LETTERS


SPELLINGS = [
    "include",
    "INCLUDE",
    "InClUdE",
    "\u0131nclude",  # dotless i: pyparsing executes it
    "\u0130nclude",  # dotted capital I
    "\uff49\uff4e\uff43\uff4c\uff55\uff44\uff45",  # fullwidth
    "incl\u0075de",
]


@pytest.mark.parametrize("word", SPELLINGS)
def test_the_operator_and_the_forwarder_refuse_every_spelling(word: str, secret_file: Path) -> None:
    text = f'a = 1\n{word} file("{secret_file}")\n'
    assert hocon_safety.include_line(text) == 2
    with pytest.raises(SpecError) as caught:
        parse_spec({"gatling": {"baseConfig": text}})
    assert caught.value.field == "spec.gatling.baseConfig" and "'include' is not allowed" in caught.value.message
    with pytest.raises(ConfError, match="'include' is refused"):
        parse_conf_text(text, "gatling.conf")


@pytest.mark.parametrize(
    "text",
    ["included = 1", "my_include = 2", "include2 = 3", 'x = "ninclude"', "a = 1 # excluded"],
)
def test_words_that_only_contain_include_pass(text: str) -> None:
    assert hocon_safety.include_line(text) is None


def test_measure_counts_what_pyhocon_pays_for() -> None:
    cost = hocon_safety.measure('a.b.c = [1, "x,{y}"]\n# {{{ a comment\nd { e = """{[,\n]}""" }')
    # a.b.c = [ 1 , "…" ] d { e = """…""" } : 13 tokens; objects: two dots and one brace.
    assert (cost.tokens, cost.objects, cost.depth) == (13, 3, 1)
    # a = http : //x//y include: `//` starts no comment for pyhocon, so it is counted on.
    assert hocon_safety.measure("a = http://x//y include").tokens == 6
    assert hocon_safety.measure("[" * 30 + "]" * 30).depth == 30


@pytest.mark.parametrize(
    "text",
    ["${" * 32_768, '"""' + "a" * 65_000, '"a' * 32_768, "\\" * 65_536, "\u0131" * 65_536, '"\n' * 32_768],
    ids=["substitution openings", "unclosed triple quote", "quotes", "backslashes", "dotless i", "quote lines"],
)
def test_the_checks_are_linear_on_hostile_text(text: str) -> None:
    started = time.process_time()
    hocon_safety.measure(text)
    hocon_safety.include_line(text)
    assert time.process_time() - started < 1.0


def _refusal(text: str) -> str:
    with pytest.raises(SpecError) as caught:
        parse_spec({"gatling": {"baseConfig": text}})
    assert caught.value.field == "spec.gatling.baseConfig"
    return caught.value.message


def test_one_long_line_of_object_concatenations_is_refused_before_pyhocon_runs() -> None:
    """Issue 14: 60 KB of `a = {k=1}{k=1}…` on one line had no newline or comma to count and cost
    10-20 s of CPU in pyhocon; it is refused by counting objects, in a few milliseconds."""
    text = "a = " + "{k=1}" * ((MAX_BASE_CONFIG_CHARS - 4) // 5)
    started = time.process_time()
    message = _refusal(text)
    assert time.process_time() - started < 1.0
    assert f"more than {MAX_BASE_CONFIG_TOKENS}" in message or f"more than {MAX_BASE_CONFIG_OBJECTS}" in message


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("\n".join(f"a.k{i} = 1" for i in range(MAX_BASE_CONFIG_OBJECTS + 1)), MAX_BASE_CONFIG_OBJECTS),
        ("\n".join(f"r {{ k{i} = 1 }}" for i in range(MAX_BASE_CONFIG_OBJECTS + 1)), MAX_BASE_CONFIG_OBJECTS),
        ("a = " + " ".join(["w"] * MAX_BASE_CONFIG_TOKENS), MAX_BASE_CONFIG_TOKENS),
        ("a = " + "[" * (MAX_BASE_CONFIG_DEPTH + 1) + "]" * (MAX_BASE_CONFIG_DEPTH + 1), MAX_BASE_CONFIG_DEPTH),
    ],
    ids=["dotted keys", "repeated root objects", "unquoted words", "nesting"],
)
def test_every_costly_shape_names_its_limit(text: str, limit: int) -> None:
    assert f"more than {limit}" in _refusal(text)
