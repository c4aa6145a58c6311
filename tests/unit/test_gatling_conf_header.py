"""The published gatling.conf tells a reader which Gatling sends its metrics how (issue 17): 3.12+
(the default, 3.15.1) through the forwarder sidecar that reads this file, 3.11 with its own
Graphite writer. The old header claimed the file was for "3.11.x or older" only."""

from __future__ import annotations

from loadtest_monitor.cli.runner_image import DEFAULT_GATLING_VERSION
from loadtest_monitor.render.gatling import render_gatling_conf
from loadtest_monitor.spec.monitor import parse_spec


def _header() -> str:
    text = render_gatling_conf(parse_spec({}), "checkout-graphite.perf.svc.cluster.local", 2003)
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# "))
    return " ".join(lines)


def test_header_names_the_forwarder_for_312_and_later_and_the_writer_for_311() -> None:
    header = _header()
    assert "Gatling 3.12+" in header and "loadtest-monitor forward" in header
    assert "Gatling 3.11 sends them with its own writer" in header
    assert "or older" not in header
    assert f"{DEFAULT_GATLING_VERSION} is current" in header  # the runner image's default, stated once
