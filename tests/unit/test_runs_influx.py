"""The InfluxDB client's quoting and endpoint (runs/influx.py). Queries against a real InfluxDB,
hostile names included, are in tests/e2e/test_run_verdict_datapath.py."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest_monitor.identity import ChildNames
from loadtest_monitor.runs.influx import InfluxClient, any_tag_equals, endpoint, quote_ident, quote_string
from loadtest_monitor.settings import Settings, SettingsError

# A string literal as InfluxQL's scanner reads one: quotes only after a backslash.
LITERAL = re.compile(r"'(?:[^'\\\n]|\\[\\'n])*'")


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("run-0-abc", "'run-0-abc'"),
        ("x' OR '1'='1", r"'x\' OR \'1\'=\'1'"),
        ("back\\slash'", r"'back\\slash\''"),
        ("two\nlines", r"'two\nlines'"),
    ],
)
def test_string_literals_escape_every_quote_and_backslash(value, quoted):
    assert quote_string(value) == quoted


@given(st.text(st.characters(blacklist_characters="\r", codec="utf-8")))
def test_a_literal_never_ends_early(value):
    assert LITERAL.fullmatch(quote_string(value))


def test_identifiers_are_double_quoted_with_escapes():
    assert quote_ident('we"ird\\') == '"we\\"ird\\\\"'
    with pytest.raises(ValueError, match="line break"):
        quote_ident("a\nb")


def test_runner_matches_are_exact_equalities_not_regexes():
    q = any_tag_equals("runner", ["a.*", "b'); DROP DATABASE gatling; --"])
    assert q == "(\"runner\" = 'a.*' OR \"runner\" = 'b\\'); DROP DATABASE gatling; --')"
    with pytest.raises(ValueError, match="no values"):
        any_tag_equals("runner", [])


def test_endpoint_in_cluster_and_the_outside_override():
    names = ChildNames("checkout", "perf")
    assert endpoint(names, Settings()) == "http://checkout-influxdb.perf.svc.cluster.local:8086"
    assert endpoint(names, Settings(cluster_domain="corp.example")) == "http://checkout-influxdb.perf.svc.corp.example:8086"
    outside = Settings.from_env({"LTM_INFLUXDB_URL": "http://127.0.0.1:18086/"})
    assert endpoint(names, outside) == "http://127.0.0.1:18086"
    templated = Settings.from_env({"LTM_INFLUXDB_URL": "http://{monitor}-influxdb.{namespace}.example:8086"})
    assert endpoint(names, templated) == "http://checkout-influxdb.perf.example:8086"


@pytest.mark.parametrize("raw", ["127.0.0.1:8086", "ftp://x", "http://{host}:8086", "http://"])
def test_a_bad_override_names_the_variable_and_the_fix(raw):
    with pytest.raises(SettingsError, match=r"LTM_INFLUXDB_URL=.*set it like http://127.0.0.1:8086"):
        Settings.from_env({"LTM_INFLUXDB_URL": raw})


def test_the_client_refuses_a_url_it_cannot_use():
    with pytest.raises(ValueError, match="expected http"):
        InfluxClient("influxdb:8086", "admin", "pw")


def test_the_operator_namespace_comes_from_the_downward_api():
    assert Settings.from_env({}).operator_namespace is None
    assert Settings.from_env({"LTM_OPERATOR_NAMESPACE": "loadtest-monitor-system"}).operator_namespace == (
        "loadtest-monitor-system"
    )
    with pytest.raises(SettingsError, match="LTM_OPERATOR_NAMESPACE='Bad_NS' is not a namespace name"):
        Settings.from_env({"LTM_OPERATOR_NAMESPACE": "Bad_NS"})
