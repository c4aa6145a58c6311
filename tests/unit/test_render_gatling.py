"""gatling.conf parsed back with pyhocon, and the prefix/template agreement Gatling relies on."""

from __future__ import annotations

import json
import re
import shlex

import pytest
from hypothesis import HealthCheck, assume, given, settings
from pyhocon import ConfigFactory

from loadtest_monitor.forward.conf import settings_from_text
from loadtest_monitor.graphite import USER_FIELDS
from loadtest_monitor.render.gatling import (
    graphite_templates,
    java_system_properties,
    render_gatling_conf,
)
from loadtest_monitor.spec.base_config import base_config_problem
from loadtest_monitor.spec.monitor import parse_spec
from ltm_harness.cases.hocon import READER_ENV, RUNNER, base_configs

HOST = "checkout-graphite.perf.svc.cluster.local"


def _parse(text: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> object:
    for var in ("HOSTNAME", "GATLING_RUNNER"):
        monkeypatch.delenv(var, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return ConfigFactory.parse_string(text)


def test_graphite_section_points_at_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_spec({"graphite": {"protocol": "udp"}, "gatling": {"light": True, "writePeriod": 5}})
    conf = _parse(render_gatling_conf(spec, HOST, 2003), monkeypatch)
    graphite = conf["gatling.data.graphite"]  # type: ignore[index]
    assert graphite["host"] == HOST
    assert graphite["port"] == 2003
    assert graphite["protocol"] == "udp"
    assert graphite["light"] is True
    assert graphite["writePeriod"] == 5
    assert conf["gatling.data.writers"] == ["console", "file", "graphite"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("env", "runner"),
    [
        ({"HOSTNAME": "ltm-runner-0"}, "ltm-runner-0"),
        ({"HOSTNAME": "host-a", "GATLING_RUNNER": "job-1"}, "job-1"),
    ],
)
def test_every_runner_gets_its_own_path_segment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], runner: str
) -> None:
    conf = _parse(render_gatling_conf(parse_spec({}), HOST, 2003), monkeypatch, **env)
    assert conf["gatling.data.graphite.rootPathPrefix"] == f"gatling.{runner}"  # type: ignore[index]


def test_runner_falls_back_to_local_before_the_environment() -> None:
    """HOCON keeps the last defined value and an undefined ${?VAR} defines nothing (as Typesafe Config,
    which Gatling uses, implements it); so "local" must come first, then HOSTNAME, then GATLING_RUNNER."""
    text = render_gatling_conf(parse_spec({}), HOST, 2003)
    order = [text.index('"runner" = "local"'), text.index("${?HOSTNAME}"), text.index("${?GATLING_RUNNER}")]
    assert order == sorted(order)


def test_base_config_is_merged_and_graphite_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    base = """
    gatling.core.encoding = "utf-8"
    gatling.data.writers = [console]
    gatling.data.graphite { host = "elsewhere", port = 9999, rootPathPrefix = "mine" }
    gatling.charting.indicators.percentile1 = 90
    """
    spec = parse_spec({"gatling": {"baseConfig": base}})
    conf = _parse(render_gatling_conf(spec, HOST, 2003), monkeypatch, HOSTNAME="pod-1")
    assert conf["gatling.core.encoding"] == "utf-8"  # type: ignore[index]
    assert conf["gatling.charting.indicators.percentile1"] == 90  # type: ignore[index]
    assert conf["gatling.data.writers"] == ["console", "file", "graphite"]  # type: ignore[index]
    assert conf["gatling.data.graphite.host"] == HOST  # type: ignore[index]
    assert conf["gatling.data.graphite.port"] == 2003  # type: ignore[index]
    assert conf["gatling.data.graphite.rootPathPrefix"] == "gatling.pod-1"  # type: ignore[index]


def test_render_is_deterministic() -> None:
    spec = parse_spec({"gatling": {"baseConfig": "a.b = 1\nc = [x, y]"}})
    assert render_gatling_conf(spec, HOST, 2003) == render_gatling_conf(spec, HOST, 2003)


def test_java_system_properties_carry_the_same_settings() -> None:
    spec = parse_spec({"gatling": {"writePeriod": 2, "light": True, "rootPathPrefix": "perf"}})
    flags = dict(f[2:].split("=", 1) for f in shlex.split(java_system_properties(spec, HOST, 2003)))
    assert flags["gatling.data.writers.2"] == "graphite"
    assert flags["gatling.data.graphite.host"] == HOST
    assert flags["gatling.data.graphite.writePeriod"] == "2"
    assert flags["gatling.data.graphite.light"] == "true"
    # $(GATLING_RUNNER) is expanded by the kubelet from the container's env.
    assert flags["gatling.data.graphite.rootPathPrefix"] == "perf.$(GATLING_RUNNER)"


# --- template agreement -----------------------------------------------------------------------
# A model of InfluxDB 1.x's Graphite template matching (services/graphite/parser.go): filters form
# a tree walked segment by segment, an exact segment before `*`, with no backtracking; the node
# reached when the line's segments run out, or where no child matches, holds the template; no
# template there means the default one, `measurement*` (the whole path becomes the measurement).
# The real thing is exercised in tests/e2e/test_templates.py.

DEFAULT_TEMPLATE = "measurement*"


def _match(templates: list[str], line: str) -> str:
    tree: dict[str, object] = {}
    for entry in templates:
        filt, template = entry.split(" ", 1)
        node = tree
        for part in filt.split("."):
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node["__template__"] = template
    node = tree
    for part in line.split("."):
        children = {k: v for k, v in node.items() if k != "__template__"}
        if part in children:
            node = children[part]  # type: ignore[assignment]
        elif "*" in children:
            node = children["*"]  # type: ignore[assignment]
        else:
            break
    return str(node.get("__template__") or DEFAULT_TEMPLATE)


def _apply(template: str, line: str) -> tuple[str, dict[str, str], str]:
    parts = line.split(".")
    measurement: list[str] = []
    fields: list[str] = []
    tags: dict[str, list[str]] = {}
    for i, tag in enumerate(template.split(" ")[0].split(".")):
        if i >= len(parts):
            break
        if tag == "measurement*":
            measurement += parts[i:]
            break
        if tag == "measurement":
            measurement.append(parts[i])
        elif tag == "field":
            fields.append(parts[i])
        elif tag:
            tags.setdefault(tag, []).append(parts[i])
    return ".".join(measurement), {k: ".".join(v) for k, v in tags.items()}, ".".join(fields) or "value"


def _file(templates: list[str], line: str) -> tuple[str, dict[str, str], str]:
    return _apply(_match(templates, line), line)


def _gatling_prefix(monkeypatch: pytest.MonkeyPatch, spec_raw: dict[str, object], runner: str) -> str:
    conf = _parse(render_gatling_conf(parse_spec(spec_raw), HOST, 2003), monkeypatch, GATLING_RUNNER=runner)
    return str(conf["gatling.data.graphite.rootPathPrefix"])  # type: ignore[index]


@pytest.mark.parametrize("prefix_setting", ["gatling", "perf_team-1"])
@pytest.mark.parametrize("groups", [[], ["Checkout"], ["Checkout", "Pay"], ["A", "B", "C"]])
def test_request_lines_split_into_the_right_tags(
    monkeypatch: pytest.MonkeyPatch, prefix_setting: str, groups: list[str]
) -> None:
    spec_raw: dict[str, object] = {"gatling": {"rootPathPrefix": prefix_setting}}
    prefix = _gatling_prefix(monkeypatch, spec_raw, "runner-7")
    templates = graphite_templates(parse_spec(spec_raw).gatling)
    for status in ("ok", "ko", "all"):
        line = ".".join([prefix, "basicsimulation", *groups, "get-home", status, "percentiles95"])
        measurement, tags, field = _file(templates, line)
        assert measurement == prefix_setting
        assert field == "percentiles95"
        expected = {"runner": "runner-7", "simulation": "basicsimulation", "request": "get-home", "status": status}
        if groups:
            expected["group"] = ".".join(groups)
        assert tags == expected


def test_totals_and_users_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = _gatling_prefix(monkeypatch, {}, "r1")
    templates = graphite_templates(parse_spec({}).gatling)
    measurement, tags, field = _file(templates, f"{prefix}.sim.allRequests.ko.count")
    assert (measurement, tags["request"], tags["status"], field) == ("gatling", "allRequests", "ko", "count")
    for scenario in ("browse", "allUsers", "users", "active"):
        for user_field in USER_FIELDS:
            measurement, tags, field = _file(templates, f"{prefix}.sim.users.{scenario}.{user_field}")
            assert measurement == "users"
            assert tags == {"runner": "r1", "simulation": "sim", "scenario": scenario}
            assert field == user_field


def test_two_runners_write_distinct_series(monkeypatch: pytest.MonkeyPatch) -> None:
    templates = graphite_templates(parse_spec({}).gatling)
    seen = set()
    for runner in ("job-0", "job-1"):
        prefix = _gatling_prefix(monkeypatch, {}, runner)
        measurement, tags, _ = _file(templates, f"{prefix}.sim.allRequests.all.count")
        seen.add((measurement, tuple(sorted(tags.items()))))
    assert len(seen) == 2


def test_templates_cover_exactly_the_configured_group_depths() -> None:
    for depth in (0, 3, 8):
        templates = graphite_templates(parse_spec({"gatling": {"maxGroupDepth": depth}}).gatling)
        request_templates = {t.split(" ")[1] for t in templates if ".request." in t}
        group_counts = sorted(t.split(".").count("group") for t in request_templates)
        assert group_counts == list(range(depth + 1))
        assert len(templates) == len(set(t.split(" ")[0] for t in templates)), "a filter given twice"


# Names that collide with the users branch or the field names of users lines, at every position.
NAMES = ("users", "active", "waiting", "done", "allUsers", "get-home")
STATUSES = ("ok", "ko", "all")


def _request_cases(max_depth: int) -> list[tuple[tuple[str, ...], str]]:
    """(groups, request) for every depth up to max_depth + 2, each position trying every NAME."""
    cases: list[tuple[tuple[str, ...], str]] = []
    for depth in range(max_depth + 3):
        for i in range(depth + 1):
            for name in NAMES:
                path = ["g"] * depth + ["req"]
                path[i] = name
                cases.append((tuple(path[:-1]), path[-1]))
    return cases


@pytest.mark.parametrize("max_depth", [0, 1, 3])
def test_reserved_names_and_deep_groups_are_filed_right(monkeypatch: pytest.MonkeyPatch, max_depth: int) -> None:
    """A request or group named `users` (or active/waiting/done) is never taken for user counts;
    a group deeper than maxGroupDepth lands in its own measurement named after its whole path,
    never in the request measurement with shifted tags."""
    spec = parse_spec({"gatling": {"maxGroupDepth": max_depth}})
    templates = graphite_templates(spec.gatling)
    prefix = _gatling_prefix(monkeypatch, {}, "r1")
    for groups, request in _request_cases(max_depth):
        for status in STATUSES:
            tail = [*groups, request, status, "count"]
            line = ".".join([prefix, "sim", *tail])
            got = _file(templates, line)
            if len(groups) <= max_depth:
                tags = {"runner": "r1", "simulation": "sim", "request": request, "status": status}
                if groups:
                    tags["group"] = ".".join(groups)
                assert got == ("gatling", tags, "count"), line
            else:
                assert got == (".".join(["gatling", *tail]), {"runner": "r1", "simulation": "sim"}, "value"), line


def test_the_docs_name_the_reserved_totals() -> None:
    assert re.search(r"allRequests.*allUsers", open_docs_text().replace("\n", " "), re.DOTALL)


def open_docs_text() -> str:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return "\n".join(p.read_text() for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.exists())


# --- issue 14: what a user wrote never becomes HOCON syntax in the published file ---------------

_ESCAPE = (
    'x\n"""\ngatling.data.graphite.host = "evil.example"\ngatling.data.graphite.port = 1\n'
    'gatling.data.writers = [console]\nzz = """y'
)


def test_a_string_cannot_close_its_quotes_and_rewrite_the_destination(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyhocon's printer wrote this string inside triple quotes unescaped: its `\"\"\"` closed the
    quote and the lines after it set the graphite host, port and writers."""
    base = 'gatling.core.encoding = "utf-8"\nzz = ' + json.dumps(_ESCAPE)
    text = render_gatling_conf(parse_spec({"gatling": {"baseConfig": base}}), HOST, 2003)
    conf = _parse(text, monkeypatch)
    assert conf["gatling.data.graphite.host"] == HOST  # type: ignore[index]
    assert conf["gatling.data.graphite.port"] == 2003  # type: ignore[index]
    assert conf["gatling.data.writers"] == ["console", "file", "graphite"]  # type: ignore[index]
    assert conf["zz"] == _ESCAPE  # type: ignore[index]
    assert not re.search(r"^\s*include", text, re.MULTILINE | re.IGNORECASE)


def test_every_key_is_quoted_and_dotted_quoted_keys_stay_one_key(monkeypatch: pytest.MonkeyPatch) -> None:
    base = '"gatling.data.graphite.host" = "evil.example"\na { "b c" { d = 1 } }\ngatling { "x.y" = [1, {"p.q" = r}] }'
    text = render_gatling_conf(parse_spec({"gatling": {"baseConfig": base}}), HOST, 2003)
    members = [line.strip() for line in text.splitlines() if " = " in line]
    assert members and all(line.startswith('"') for line in members), text
    assert '"gatling.data.graphite.host" = "evil.example"' in text
    assert '"b c" = {' in text and '"x.y" = [' in text and '"p.q" = "r"' in text
    assert _parse(text, monkeypatch)["gatling.data.graphite.host"] == HOST  # type: ignore[index]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(text=base_configs)
def test_every_accepted_base_config_renders_with_the_operators_destination(text: str) -> None:
    """The pyhocon side of tests/e2e/test_gatling_conf_typesafe.py (which reads with Typesafe Config)."""
    assume(base_config_problem(text) is None)
    conf = render_gatling_conf(parse_spec({"gatling": {"baseConfig": text}}), HOST, 2003)
    forward = settings_from_text(conf, "gatling.conf", READER_ENV)
    assert (forward.host, forward.port, forward.protocol, forward.prefix) == (HOST, 2003, "tcp", f"gatling.{RUNNER}")
    # Every line starts a quoted key or string, a literal, a substitution, a bracket, or a comment.
    starts = re.compile(r'\s*(["{}\[\]#$0-9-]|true\b|false\b|null\b)')
    assert all(starts.match(line) for line in conf.split("\n") if line), conf
