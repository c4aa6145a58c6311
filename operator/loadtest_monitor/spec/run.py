"""A LoadtestRun's spec, typed, with the checks the API server's schema cannot make.

Defaults, enums and bounds come from the packaged CRD (spec/schema.py), so the operator assumes
exactly what the API server enforces. What only the operator checks: durations that are zero,
system property values the runner's JAVA_OPTS would split, a baseline that names the run itself.
Every problem names its field and says how to fix it; all of them are reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtest_monitor.runs.model import Criterion, Metric
from loadtest_monitor.spec import schema
from loadtest_monitor.spec.monitor import SpecError, image_problem
from loadtest_monitor.spec.reader import Problems, Reader, short

PLURAL = "loadtestruns"


def _at(path: str) -> schema.Node:
    return schema.at(path, PLURAL)


RUNNERS = _at("spec.runners")
COMMAND = _at("spec.command")
TIME_LIMIT = _at("spec.timeLimit")
START_TIMEOUT = _at("spec.startTimeout")
TTL = _at("spec.ttlSecondsAfterFinished")
METRICS = _at("spec.criteria[].metric").enum
_DURATION_RE = re.compile(TIME_LIMIT.pattern)
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_WHITESPACE_RE = re.compile(r"\s")


@dataclass(frozen=True)
class RunSpec:
    monitor: str
    image: str
    simulation: str
    command: tuple[str, ...] = tuple(COMMAND.default)
    runners: int = int(RUNNERS.default)
    system_properties: dict[str, str] = field(default_factory=dict)
    java_opts: str = ""
    env: tuple[dict[str, Any], ...] = ()
    resources: dict[str, Any] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    affinity: dict[str, Any] = field(default_factory=dict)
    time_limit_seconds: int = 3600
    start_timeout_seconds: int = 600
    ttl_seconds_after_finished: int = int(TTL.default)
    criteria: tuple[Criterion, ...] = ()


def duration_seconds(text: str) -> int | None:
    """`1h30m` -> 5400; None when `text` is not the CRD's duration grammar or is zero."""
    if not text or not _DURATION_RE.fullmatch(text):
        return None
    total = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in re.findall(r"([0-9]+)([hms])", text))
    return total or None


def parse_run_spec(raw: Mapping[str, Any] | None, run_name: str = "") -> RunSpec:
    """Turns `.spec` of a LoadtestRun into a RunSpec, or raises SpecError naming every problem."""
    problems = Problems()
    r = Reader(raw, "spec", problems)
    monitor = r.child("monitorRef").string("name", "")
    if not monitor:
        problems.add("spec.monitorRef.name", "is required: the name of a LoadtestMonitor in this namespace")
    image = r.string("image", "")
    if not image:
        r.problem("image", "is required: the runner image, such as gatling-runner:3.15.1")
    else:
        problem = image_problem(image)
        if problem:
            r.problem("image", problem)
    simulation = r.string("simulation", "")
    if not simulation:
        r.problem("simulation", "is required: the fully qualified simulation class, e.g. loadtest.CheckoutSimulation")
    spec = RunSpec(
        monitor=monitor,
        image=image,
        simulation=simulation,
        command=_command(r),
        runners=r.integer("runners", int(RUNNERS.default), int(RUNNERS.minimum), int(RUNNERS.maximum)),
        system_properties=_system_properties(r),
        java_opts=r.string("javaOpts", ""),
        env=_objects(r, "env"),
        resources=_object(r, "resources"),
        node_selector=r.string_map("nodeSelector"),
        tolerations=_objects(r, "tolerations"),
        affinity=_object(r, "affinity"),
        time_limit_seconds=_duration(r, "timeLimit", str(TIME_LIMIT.default)),
        start_timeout_seconds=_duration(r, "startTimeout", str(START_TIMEOUT.default)),
        ttl_seconds_after_finished=r.integer(
            "ttlSecondsAfterFinished", int(TTL.default), int(TTL.minimum), int(TTL.maximum)
        ),
        criteria=_criteria(r, run_name),
    )
    if problems.found:
        first_path, first_message = problems.found[0]
        raise SpecError(first_path, first_message, problems.found)
    return spec


def _command(r: Reader) -> tuple[str, ...]:
    if not r.has("command"):
        return tuple(COMMAND.default)
    command = r.string_list("command")
    if not command:
        r.problem("command", "must name the runner's entry point, such as [/opt/gatling/bin/run.sh]")
        return tuple(COMMAND.default)
    return command


def _duration(r: Reader, key: str, default: str) -> int:
    text = r.string(key, default)
    seconds = duration_seconds(text)
    if seconds is None:
        r.problem(key, f"{short(text)} is not a duration above zero: use hours, minutes, seconds such as 30m or 1h30m")
        return duration_seconds(default) or 1
    return seconds


def _system_properties(r: Reader) -> dict[str, str]:
    props = r.string_map("systemProperties")
    for key, value in props.items():
        # The runner's entry point splits JAVA_OPTS on whitespace: such a value would become two flags.
        if _WHITESPACE_RE.search(value):
            where = f"systemProperties.{key}"
            r.problem(where, "must not contain whitespace (JAVA_OPTS is split on it): use another separator")
    return props


def _object(r: Reader, key: str) -> dict[str, Any]:
    value = r.raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        r.problem(key, "must be an object")
        return {}
    return dict(value)


def _objects(r: Reader, key: str) -> tuple[dict[str, Any], ...]:
    value = r.raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        r.problem(key, "must be a list of objects")
        return ()
    return tuple(dict(v) for v in value)


def _criteria(r: Reader, run_name: str) -> tuple[Criterion, ...]:
    raw = r.raw.get("criteria") or []
    if not isinstance(raw, list):
        r.problem("criteria", "must be a list")
        return ()
    out: list[Criterion] = []
    for i, item in enumerate(raw):
        c = Reader(item, f"{r.at('criteria')}[{i}]", r.problems)
        metric = c.choice("metric", "", METRICS) if c.has("metric") else ""
        if not metric:
            if not c.has("metric"):
                c.problem("metric", f"is required: one of {', '.join(METRICS)}")
            continue
        bounds = [k for k in ("max", "min", "baseline") if c.has(k)]
        if len(bounds) != 1:
            c.problem("max", "a criterion has exactly one of max, min or baseline")
            continue
        request = c.string("request", "") or None
        if bounds[0] == "baseline":
            b = c.child("baseline")
            baseline_run = b.string("run", "")
            regression = _number(b, "maxRegressionPercent")
            if not baseline_run:
                b.problem("run", "is required: the name of a finished LoadtestRun to compare with")
                continue
            if baseline_run == run_name:
                b.problem("run", "names this run itself: name an earlier, finished LoadtestRun")
                continue
            out.append(Criterion(Metric(metric), request, baseline_run=baseline_run, max_regression_percent=regression))
            continue
        value = _number(c, bounds[0])
        if value is None:
            continue
        if bounds[0] == "max":
            out.append(Criterion(Metric(metric), request, max_value=value))
        else:
            out.append(Criterion(Metric(metric), request, min_value=value))
    return tuple(out)


def _number(r: Reader, key: str) -> float | None:
    value = r.raw.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        r.problem(key, f"must be a number of at least 0, got {short(value)}")
        return None
    return float(value)
