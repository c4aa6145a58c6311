"""`loadtest-monitor examples [NAME]`: the example manifests, shipped in the package.

A CLI installed with pip or pipx has no repository checkout beside it: the monitors and runner
Jobs of manifests/examples travel in the wheel (install_manifests/examples is a link to that
folder, so the files are the repository's own) and this command lists or prints them, e.g.
`loadtest-monitor examples gatling-job-current | kubectl apply -n perf -f -`.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

#: The runner Job for the default Gatling (3.12+, forwarder sidecar) and for the legacy 3.11 path.
CURRENT_JOB = "gatling-job-current"
LEGACY_JOB = "gatling-job"


def _folder() -> Traversable:
    return resources.files("loadtest_monitor") / "install_manifests" / "examples"


def available() -> dict[str, Traversable]:
    """Example name (the file name without .yaml) -> its file, sorted by name."""
    folder = _folder()
    if not folder.is_dir():
        raise SystemExit("error: this package carries no examples; reinstall loadtest-monitor (pipx install …)")
    found = {f.name.removesuffix(".yaml"): f for f in folder.iterdir() if f.name.endswith(".yaml")}
    return dict(sorted(found.items()))


def summary_line(text: str) -> str:
    """The first sentence of the file's leading comment: what the example is."""
    words: list[str] = []
    for line in text.splitlines():
        comment = line.lstrip("#").strip()
        if not line.startswith("#") or not comment:
            break
        words.append(comment)
    paragraph = " ".join(words)
    end = paragraph.find(". ")
    return (paragraph if end < 0 else paragraph[: end + 1]) or "(no description)"


def cmd_examples(args: argparse.Namespace) -> int:
    examples = available()
    if args.name is None:
        width = max(len(name) for name in examples)
        for name, file in examples.items():
            sys.stdout.write(f"{name:<{width}}  {summary_line(file.read_text())}\n")
        sys.stdout.write(
            "\nprint one: loadtest-monitor examples NAME (e.g. loadtest-monitor examples "
            f"{CURRENT_JOB} | kubectl apply -n NAMESPACE -f -)\n"
        )
        return 0
    name = args.name.removesuffix(".yaml")
    if name not in examples:
        raise SystemExit(
            f"error: examples {args.name!r}: no such example; one of {', '.join(examples)} "
            "(`loadtest-monitor examples` lists them)"
        )
    sys.stdout.write(examples[name].read_text())
    return 0


def register(sub: Any) -> None:
    """Adds `examples` to the CLI's subcommands."""
    examples = sub.add_parser("examples", help="list the example manifests shipped with the CLI, or print one")
    examples.add_argument("name", nargs="?", help="the example to print (default: list them all)")
    examples.set_defaults(func=cmd_examples)
