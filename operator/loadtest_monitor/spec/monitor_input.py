"""Reading LoadtestMonitor manifests for the offline commands: every problem is one clear line.

A file that cannot be read, is not UTF-8 or not YAML, a monitor whose metadata or spec is of the
wrong shape, or one the CRD's own rules or the operator's checks refuse: each gives an InputError
with short lines that name the file, the monitor and the field, never a traceback. The checks are
the operator's (spec.parse_spec, whose messages say how to fix the value) plus the CRD's schema
and CEL rules run offline (crd_check), so `render` refuses what `kubectl apply` or the operator
would refuse.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from loadtest_monitor.identity import API_VERSION, KIND
from loadtest_monitor.spec import kube_rules
from loadtest_monitor.spec.monitor import MonitorSpec, monitor_name_problem, parse_spec
from loadtest_monitor.spec.problems import SpecError, problem_lines


class _KubectlLikeLoader(yaml.SafeLoader):
    """PyYAML reads `1e-1` as a string (YAML 1.1 floats need a dot) while kubectl reads a number;
    reading it as a number here too makes `render` refuse what the API server would refuse."""


_KubectlLikeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"), list("-+0123456789")
)


class InputError(Exception):
    """What is wrong with the input, as lines ready to print."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class MonitorInput:
    name: str
    namespace: str
    spec: MonitorSpec


def read_documents(path: str) -> list[Any]:
    label = "stdin" if path == "-" else path
    try:
        if path == "-":
            text = sys.stdin.buffer.read().decode("utf-8")
        else:
            with open(path, "rb") as stream:
                text = stream.read().decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError([f"error: {label}: not UTF-8 text (byte {err.start})"]) from None
    except OSError as err:
        raise InputError([f"error: {label}: cannot read: {err.strerror}"]) from None
    try:
        return list(yaml.load_all(text, Loader=_KubectlLikeLoader))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise InputError([f"error: {label}: not valid YAML: {where}{err.problem or err.context}"]) from None
    except yaml.YAMLError as err:
        raise InputError([f"error: {label}: not valid YAML: {str(err).splitlines()[0]}"]) from None


def _metadata_problems(meta: Any) -> list[tuple[str, str]]:
    if not isinstance(meta, Mapping):
        return [("metadata", "must be an object with at least a name")]
    problems: list[tuple[str, str]] = []
    name_problem = monitor_name_problem(meta.get("name"))
    if name_problem:
        problems.append(("metadata.name", name_problem))
    namespace = meta.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or kube_rules.dns1123_label(namespace)):
        problems.append(("metadata.namespace", "must be a namespace name (lowercase letters, digits, '-')"))
    for part, value_rule in (("labels", kube_rules.label_value), ("annotations", None)):
        entries = meta.get(part)
        if entries is None:
            continue
        if not isinstance(entries, Mapping):
            problems.append((f"metadata.{part}", "must be a map of strings"))
            continue
        for key, value in entries.items():
            field = f"metadata.{part}[{key!r}]"
            key_problem = kube_rules.qualified_name(key) if isinstance(key, str) else "must be a string"
            if key_problem:
                problems.append((field, f"is not a valid key: it {key_problem}"))
            if not isinstance(value, str):
                problems.append((field, "must be a string (quote it)"))
            elif value_rule is not None and value_rule(value):
                problems.append((field, f"is not a valid label value: it {value_rule(value)}"))
    return problems


def _same_field(path: str) -> str:
    """`requests['cpu']` and `requests.cpu` name the same field (the CRD check writes map keys in
    brackets, spec/monitor.py as a path segment)."""
    return re.sub(r"\['([^']*)'\]", r".\1", path)


def _merge(first: list[tuple[str, str]], second: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The operator's problems first (they say how to fix), then the CRD's for other fields."""
    seen = {_same_field(path) for path, _ in first}
    return first + [(p, text) for p, text in second if not _covered(_same_field(p), seen)]


def _covered(path: str, seen: set[str]) -> bool:
    return any(path == s or path.startswith(s + ".") or path.startswith(s + "[") for s in seen)


def check_monitor(doc: Mapping[str, Any], namespace: str | None) -> MonitorInput:
    """The monitor's name, namespace and parsed spec, or InputError with every problem (capped)."""
    # Imported here: the CEL interpreter is for the offline commands; `run` never loads it.
    from loadtest_monitor.spec import crd_check

    meta = doc.get("metadata")
    problems = _metadata_problems(meta)
    spec: MonitorSpec | None = None
    try:
        spec = parse_spec(doc.get("spec"))
    except SpecError as err:
        problems += list(err.problems)
    problems = _merge(problems, crd_check.check(doc))
    name = meta.get("name") if isinstance(meta, Mapping) else None
    label = f"{KIND} {name}" if monitor_name_problem(name) is None else f"a {KIND}"
    if problems or spec is None:
        raise InputError([f"{label}: {line}" for line in problem_lines(problems)])
    assert isinstance(meta, Mapping) and isinstance(name, str)
    ns = namespace or meta.get("namespace") or "default"
    return MonitorInput(name, ns, spec)


def monitors(path: str, namespace: str | None) -> list[MonitorInput]:
    """Every LoadtestMonitor of the file, checked; InputError lists the problems of all of them."""
    label = "stdin" if path == "-" else path
    docs = [
        d
        for d in read_documents(path)
        if isinstance(d, Mapping) and d.get("kind") == KIND and d.get("apiVersion") == API_VERSION
    ]
    if not docs:
        raise InputError([f"error: {label}: no {API_VERSION} {KIND} found"])
    if namespace is not None and kube_rules.dns1123_label(namespace):
        raise InputError([f"error: --namespace {namespace!r} is not a namespace name (lowercase letters, digits, '-')"])
    found: list[MonitorInput] = []
    lines: list[str] = []
    for doc in docs:
        try:
            found.append(check_monitor(doc, namespace))
        except InputError as err:
            lines += [f"error: {label}: {line}" for line in err.lines]
    if lines:
        raise InputError(lines)
    return found
