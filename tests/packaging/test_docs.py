"""The documentation against the things it describes (issue 17): the Helm values table against the
chart's values.yaml, the CLI's commands and options against the docs, every `kubectl wait` with a
timeout, and the README's operator request figures against bench/results. Plain file reads: no
tool is needed."""

from __future__ import annotations

import argparse
import re
import shlex
from typing import Any

import pytest
import yaml

from loadtest_monitor.cli.main import build_parser
from tests.packaging.packaging_support import CHART, ROOT

INSTALL_MD = ROOT / "docs" / "install.md"
README = ROOT / "README.md"

# Values that are Kubernetes structures copied into the pod as they are: documented as one key.
PASS_THROUGH = {"resources"}


def _docs_text() -> str:
    return "\n".join(p.read_text() for p in [README, *sorted((ROOT / "docs").glob("*.md"))])


def _value_keys(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted key -> default, down to the leaves (an empty map or list is a leaf: the user fills it)."""
    keys: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and dotted not in PASS_THROUGH:
            keys.update(_value_keys(value, f"{dotted}."))
        else:
            keys[dotted] = value
    return keys


def _helm_table() -> list[tuple[list[str], list[str]]]:
    """(keys, defaults) of each row of the values table in docs/install.md's "With Helm" section."""
    text = INSTALL_MD.read_text()
    section = text[text.index("## With Helm") :]
    table = section[section.index("| value | default | meaning |") :].split("\n\n")[0]
    rows = []
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    return [(keys, [d.strip() for d in default.split(",")] if len(keys) > 1 else [default]) for keys, default in rows]


def _shown(value: Any) -> str:
    """A default as the table writes it."""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    if value == [] or value == {}:
        return f"`{'[]' if value == [] else '{}'}`"
    return f"`{value}`"


def test_the_helm_values_table_has_every_key_of_values_yaml_and_no_other() -> None:
    keys = _value_keys(yaml.safe_load((CHART / "values.yaml").read_text()))
    documented = {key for row_keys, _ in _helm_table() for key in row_keys}
    assert sorted(set(keys) - documented) == [], "values.yaml keys missing from the table in docs/install.md"
    assert sorted(documented - set(keys)) == [], "keys in the table that values.yaml does not have"


def test_the_helm_values_table_states_the_defaults_of_values_yaml() -> None:
    keys = _value_keys(yaml.safe_load((CHART / "values.yaml").read_text()))
    wrong = []
    for row_keys, defaults in _helm_table():
        named = [k for k in row_keys if k in keys]
        if len(named) != len(defaults):  # one default for a group ("empty", "100m / 128Mi …")
            continue
        for key, default in zip(named, defaults, strict=True):
            value = keys[key]
            scalar = isinstance(value, (bool, int, str, list)) or value == {}
            if scalar and not default.startswith(_shown(value)):
                wrong.append(f"{key}: table says {default!r}, values.yaml {_shown(value)}")
    assert not wrong, wrong


def _subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[f"{prefix}{name}"] = sub
                found.update(_subcommands(sub, f"{prefix}{name} "))
    return found


COMMANDS = sorted(_subcommands(build_parser()))


def test_every_command_is_documented() -> None:
    docs = _docs_text()
    assert [c for c in COMMANDS if f"loadtest-monitor {c}" not in docs] == []


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_every_command_is_documented(command: str) -> None:
    """By its long name somewhere in the README or docs/ (where the command is explained)."""
    docs = _docs_text()
    parser = _subcommands(build_parser())[command]
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"]
    # -f/--filename is written as -f everywhere; the long form says nothing more.
    assert [o for o in options if o not in docs and o != "--filename"] == []


def test_every_kubectl_wait_has_a_timeout() -> None:
    """kubectl's default --timeout is 30 s: a monitor's first image pulls take longer, and the wait fails."""
    files = [README, *ROOT.glob("docs/*.md"), *ROOT.glob("manifests/**/*.yaml"), *ROOT.glob("charts/*/templates/*")]
    files += [ROOT / "hack" / "demo.py"]
    waits = [
        (path.relative_to(ROOT), line.strip())
        for path in files
        for line in path.read_text().splitlines()
        if re.search(r"kubectl\"?,? *\"?wait", line)
    ]
    assert waits, "no kubectl wait found: the pattern is out of date"
    assert [w for w in waits if "--timeout" not in w[1]] == []


def _bench_figure(text: str, figure: str) -> str:
    match = re.search(rf"\| {re.escape(figure)} \| ([\d.]+) ", text)
    assert match, figure
    return match.group(1)


def test_the_readme_quotes_the_latest_operator_benchmark_and_its_figures() -> None:
    readme = README.read_text().replace("\n", " ")
    results = sorted((ROOT / "bench" / "results").glob("operator-*.md"), key=lambda p: p.name)
    latest = results[-1]
    assert f"`bench/results/{latest.name}`" in readme
    for path in results:
        quoted = f"`bench/results/{path.name}`"
        if quoted not in readme:
            continue
        text = path.read_text()
        requests = _bench_figure(text, "API requests to converge, per monitor")
        writes = _bench_figure(text, "writes to converge, per monitor")
        after = readme[readme.index(quoted) :][:400]
        assert f"{requests} requests and {writes} writes per monitor" in after, (path.name, after)


# --- docs/install-eks.md: the newcomer's page, against the CLI and doctor ---------------------------

INSTALL_EKS = ROOT / "docs" / "install-eks.md"
DOCTOR_SOURCES = ROOT / "operator" / "loadtest_monitor" / "doctor"


def _shell_blocks(text: str) -> list[list[str]]:
    """The command lines of the ```sh blocks (comments cut off, continuation lines joined)."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            for cut, word in enumerate(words):  # a redirection or pipe ends the command
                if word in (">", ">>", "<", "|", "&&"):
                    words = words[:cut]
                    break
            if words:
                lines.append(words)
    return lines


def test_the_readme_links_the_install_on_eks_page_from_its_install_section() -> None:
    readme = README.read_text()
    section = readme[readme.index("## Install the CLI") : readme.index("## Quick start")]
    assert "pipx install loadtest-monitor" in section
    assert "(docs/install-eks.md)" in section


def test_every_command_of_the_install_on_eks_page_exists_with_those_flags() -> None:
    """Each `loadtest-monitor …` line parses with the CLI's own parser: the command, its flags and
    their values (a typo, a dropped flag or a renamed command fails here, not on a newcomer's laptop)."""
    commands = [words for words in _shell_blocks(INSTALL_EKS.read_text()) if words[0] == "loadtest-monitor"]
    assert len(commands) >= 10, "the page's commands were not found: the pattern is out of date"
    parser = build_parser()
    refused = []
    for words in commands:
        if words[1:] == ["--help"]:
            continue
        try:
            args = parser.parse_args(words[1:])
        except SystemExit:
            refused.append(" ".join(words))
            continue
        if args.command == "examples" and args.name:  # the example it prints is shipped
            assert (ROOT / "manifests" / "examples" / f"{args.name}.yaml").is_file(), args.name
    assert refused == []


def test_the_install_on_eks_page_goes_in_order_from_the_cli_to_cleanup() -> None:
    text = INSTALL_EKS.read_text()
    steps = re.findall(r"^## (\d+)\. (.+)$", text, re.MULTILINE)
    assert [int(n) for n, _ in steps] == list(range(1, len(steps) + 1))
    run = [" ".join(words[:2]) for words in _shell_blocks(text)]
    order = ("pipx install", "loadtest-monitor doctor", "loadtest-monitor up", "loadtest-monitor runner-image",
             "loadtest-monitor test", "loadtest-monitor down")
    first_use = [run.index(c) for c in order]
    assert first_use == sorted(first_use), "install, doctor, up, the runner image, the run, down: in that order"


def test_every_doctor_check_is_on_the_install_on_eks_page() -> None:
    """The prerequisites are the ones doctor checks: every cluster check's title (read from
    doctor's source) is a line of the page's table, so a new check cannot go unmentioned."""
    titles = sorted(
        {t for path in DOCTOR_SOURCES.glob("*.py") for t in re.findall(r'title = "([^"{]+)"', path.read_text())}
    )
    assert len(titles) >= 8, titles
    text = INSTALL_EKS.read_text()
    assert [t for t in titles if f"| {t} |" not in text and f"`{t}`" not in text] == []
