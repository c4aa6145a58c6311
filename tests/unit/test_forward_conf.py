"""The forwarder reads the gatling.conf the operator publishes, resolving it as Gatling would."""

from __future__ import annotations

import pytest

from loadtest_monitor.forward.conf import ConfError, settings_from_text
from loadtest_monitor.graphite import runner_segment
from loadtest_monitor.render.gatling import render_gatling_conf
from loadtest_monitor.spec.monitor import parse_spec

PUBLISHED = render_gatling_conf(
    parse_spec(
        {"gatling": {"writePeriod": 5, "light": True, "rootPathPrefix": "perf"}, "graphite": {"protocol": "udp"}}
    ),
    "m-graphite.ns.svc.cluster.local",
    2003,
)


@pytest.mark.parametrize(
    ("env", "prefix"),
    [
        ({}, "perf.local"),
        ({"HOSTNAME": "runner-7x2"}, "perf.runner-7x2"),
        ({"HOSTNAME": "runner-7x2", "GATLING_RUNNER": "eu.west 1"}, "perf.eu-west-1"),
        ({"GATLING_RUNNER": ""}, "perf.local"),
    ],
)
def test_the_published_conf_gives_gatlings_settings_and_the_runner_segment(env, prefix):
    settings = settings_from_text(PUBLISHED, "gatling.conf", env)
    assert settings.prefix == prefix
    assert settings.runner == prefix.split(".", 1)[1]
    assert (settings.host, settings.port, settings.protocol) == ("m-graphite.ns.svc.cluster.local", 2003, "udp")
    assert (settings.write_period_s, settings.light, settings.percentiles) == (5, True, (50.0, 75.0, 95.0, 99.0))


def test_runner_segment_rule():
    assert runner_segment("pod.name_1-x") == "pod-name_1-x"
    assert runner_segment("") == "local"
    assert runner_segment("é" * 70) == "-" * 63
    assert runner_segment("pé") == "p--"  # byte by byte, like run.sh's `tr` in the C locale


def test_a_plain_user_conf_with_defaults_and_percentiles():
    text = """
    gatling.charting.indicators { percentile1 = 10, percentile4 = 99.9 }
    gatling.data.graphite { host = "graphite", rootPathPrefix = "team.load" }
    """
    settings = settings_from_text(text, "g.conf", {})
    assert (settings.port, settings.protocol, settings.write_period_s, settings.light) == (2003, "tcp", 1, False)
    assert settings.prefix == "team.load" and settings.runner is None
    assert settings.percentiles == (10.0, 75.0, 95.0, 99.9)


@pytest.mark.parametrize(
    ("value", "env", "prefix"),
    [
        ("gatling.${?R}", {}, "gatling."),
        ("gatling.${?R}", {"R": "r1"}, "gatling.r1"),
        ("x${?NOPE}y", {}, "xy"),
        ('"a b" ${?R}', {"R": "c"}, "a b c"),
        ("${R}.tail", {"R": "r.1"}, "r.1.tail"),
    ],
)
def test_concatenations(value, env, prefix):
    assert settings_from_text(f"gatling.data.graphite.rootPathPrefix = {value}\n", "g.conf", env).prefix == prefix


def test_substitutions_resolve_like_typesafe_config():
    text = """
    base = "g"
    who = "fallback"
    who = ${?NOT_SET}
    gatling.data.graphite.rootPathPrefix = ${base}".x"${?NOT_SET}
    gatling.data.graphite.host = ${who}
    gatling.data.graphite.port = ${?PORT}
    """
    settings = settings_from_text(text, "g.conf", {"PORT": "2103"})
    assert (settings.prefix, settings.host, settings.port) == ("g.x", "fallback", 2103)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('include "other.conf"\n', "g.conf line 1: 'include' is refused"),
        ("a = 1\n  INCLUDE file(\"/etc/x\")\n", "g.conf line 2: 'include' is refused"),
        ("gatling.data.graphite.protocol = http\n", "protocol = 'http' must be tcp or udp"),
        ("gatling.data.graphite.port = 70000\n", "port = 70000 must be a whole number from 1 to 65535"),
        ("gatling.data.graphite.writePeriod = 1s\n", "writePeriod = a duration must be a whole number from 1 to 3600"),
        ("gatling.data.graphite.light = maybe\n", "light = 'maybe' must be true or false"),
        ("gatling.charting.indicators.percentile2 = 150\n", "percentile2 = 150 must be a percentile"),
        ("gatling.data.graphite.host = ${MISSING}\n", r"\$\{MISSING\} is not defined"),
        ("gatling { data \n", "g.conf is not valid HOCON"),
        ("gatling.core.encoding = klingon\n", "is not an encoding"),
    ],
)
def test_bad_settings_are_one_line_errors_naming_the_key(text, message):
    with pytest.raises(ConfError, match=message) as err:
        settings_from_text(text, "g.conf", {})
    assert "\n" not in str(err.value)


def test_include_as_part_of_a_word_is_fine():
    settings = settings_from_text("# including runners\ngatling.data.graphite.host = included\n", "g.conf", {})
    assert settings.host == "included"
