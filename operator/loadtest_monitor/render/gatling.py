"""gatling.conf, the same settings as Java system properties, and the InfluxDB Graphite templates.

The templates live here, next to the code that builds Gatling's root path prefix, so the path
Gatling writes and the way InfluxDB splits it can never disagree. Gatling 3.11 writes

    <prefix>.<runner>.<simulation>.users.<scenario|allUsers>.<active|waiting|done>
    <prefix>.<runner>.<simulation>[.<group>...].<request|allRequests>.<ok|ko|all>.<metric>

where `<prefix>.<runner>` is the rootPathPrefix we publish: Gatling itself has no runner segment,
and N runners writing the same series at the same second would overwrite each other in InfluxDB.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from loadtest_monitor.graphite import (
    REQUEST_LINE_SEGMENTS,
    SEPARATOR,
    SPAN_ROOT,
    SUMMARY_ROOT,
    USER_FIELD_AT,
    USER_FIELDS,
    USERS,
    USERS_AT,
)
from loadtest_monitor.render.gatling_conf import Destination, PublishError, publish
from loadtest_monitor.spec.base_config import BaseConfigError, base_config_data
from loadtest_monitor.spec.monitor import GatlingSpec, MonitorSpec

# Series layout in InfluxDB; the dashboard imports these names rather than repeating them. The
# path layout, the reserved names and the runner identity are the Graphite contract's (graphite.py).
USERS_MEASUREMENT = USERS  # the template takes the measurement from the `users` segment
TAG_RUNNER = "runner"
TAG_SIMULATION = "simulation"
TAG_SCENARIO = "scenario"
TAG_GROUP = "group"
TAG_REQUEST = "request"
TAG_STATUS = "status"
# The whole-run summary of each runner (graphite.py: SUMMARY_ROOT, SPAN_ROOT): the histograms, one
# field per HdrHistogram bucket holding its count, and the span of the run (epoch ms fields).
SUMMARY_MEASUREMENT = SUMMARY_ROOT
SPAN_MEASUREMENT = SPAN_ROOT
SUMMARY_TEMPLATES = (
    f"{SUMMARY_ROOT}.*.*.*.*.* measurement.{TAG_RUNNER}.{TAG_SIMULATION}.{TAG_REQUEST}.{TAG_STATUS}.field",
    f"{SPAN_ROOT}.*.*.* measurement.{TAG_RUNNER}.{TAG_SIMULATION}.field",
)

# The runner name (render/gatling_conf.py): "local", then ${?HOSTNAME}, then ${?GATLING_RUNNER};
# HOCON keeps the last defined value, and an undefined `${?VAR}` leaves the earlier one in place.
# For JAVA_OPTS written inline in a pod spec: the kubelet expands $(VAR) in a literal `value:` for
# variables defined earlier in the container's env, but not in a value read through
# configMapKeyRef, so the flags are meant to be pasted into the Job (docs/runners.md).
RUNNER_KUBELET_REF = "$(GATLING_RUNNER)"

_REQUIRED_WRITERS = ("console", "file", "graphite")


def requests_measurement(gatling: GatlingSpec) -> str:
    """Request metrics land in a measurement named after the root prefix (default `gatling`)."""
    return gatling.root_path_prefix


# Request lines deeper than maxGroupDepth are kept, each in a measurement named after its path
# (`<prefix>.<group>....<request>.<status>.<metric>`), instead of being split at the wrong places.
OVERFLOW_TEMPLATE = f"measurement.{TAG_RUNNER}.{TAG_SIMULATION}.measurement*"

_ANY = "*"


def _request_template(depth: int) -> str:
    parts = ["measurement", TAG_RUNNER, TAG_SIMULATION, *([TAG_GROUP] * depth), TAG_REQUEST, TAG_STATUS, "field"]
    return SEPARATOR.join(parts)


def _filters(prefix: str, length: int) -> list[str]:
    """Every filter of `length` segments a request line of that length may walk through.

    InfluxDB walks the filter tree segment by segment, takes an exact segment before `*` and
    never backtracks. A line whose 4th segment is `users` (a group or request named so) therefore
    enters the users branch, and one whose 6th segment is then active/waiting/done enters that
    leaf: each such branch needs its own copy of the request templates, or the line falls out of
    the tree (and lands in a measurement named after its whole path) or is read as a users line.
    """
    wild = [prefix] + [_ANY] * (length - 1)
    out = [SEPARATOR.join(wild)]
    users = list(wild)
    users[USERS_AT] = USERS
    out.append(SEPARATOR.join(users))
    if length > USER_FIELD_AT + 1:  # a 6-segment line ending in a user field is a users line
        for user_field in USER_FIELDS:
            leaf = list(users)
            leaf[USER_FIELD_AT] = user_field
            out.append(SEPARATOR.join(leaf))
    return out


def graphite_templates(gatling: GatlingSpec) -> list[str]:
    """InfluxDB `[[graphite]]` templates for every group depth up to max_group_depth, and beyond.

    - users lines `<prefix>.<runner>.<sim>.users.<scenario>.<active|waiting|done>`: one exact
      template per field, so a request or group named `users` is never read as user counts;
    - request lines of depth 0..max_group_depth: `measurement.runner.simulation[.group…].request.
      status.field`, the number of `*` selecting the depth;
    - deeper request lines: one filter a segment longer than the deepest template. InfluxDB uses
      the template of the last filter node a longer line reaches, so every deeper line takes
      OVERFLOW_TEMPLATE and keeps its whole path as its measurement, instead of overwriting the
      deepest template's series with shifted segments.
    """
    prefix = gatling.root_path_prefix
    users_template = f".{TAG_RUNNER}.{TAG_SIMULATION}.measurement.{TAG_SCENARIO}.field"
    templates = [
        f"{prefix}.{_ANY}.{_ANY}.{USERS}.{_ANY}.{user_field} {users_template}" for user_field in USER_FIELDS
    ]
    for depth in range(gatling.max_group_depth + 1):
        template = _request_template(depth)
        templates += [f"{f} {template}" for f in _filters(prefix, REQUEST_LINE_SEGMENTS + depth)]
    deeper = REQUEST_LINE_SEGMENTS + gatling.max_group_depth + 1
    templates += [f"{f} {OVERFLOW_TEMPLATE}" for f in _filters(prefix, deeper)]
    # Their first segment is never the prefix (the CRD refuses it), so no Gatling line reaches them.
    templates += SUMMARY_TEMPLATES
    return templates


def _writers(base: Mapping[str, Any]) -> tuple[str, ...]:
    """Keeps the writers a base config already lists, in its order, and adds the required ones."""
    data = (base.get("gatling") or {}).get("data") or {}
    writers = [str(w) for w in data.get("writers") or []]  # base_config made sure it is a list of names
    return (*writers, *(w for w in _REQUIRED_WRITERS if w not in writers))


def _graphite_settings(
    gatling: GatlingSpec, protocol: str, graphite_host: str, graphite_port: int
) -> dict[str, object]:
    return {
        "host": graphite_host,
        "port": graphite_port,
        "protocol": protocol,
        "light": gatling.light,
        "writePeriod": gatling.write_period,
    }


def render_gatling_conf(spec: MonitorSpec, graphite_host: str, graphite_port: int) -> str:
    """The gatling.conf runner Jobs mount: the base config merged, our graphite settings on top."""
    return _gatling_conf(spec.gatling, spec.graphite.protocol, graphite_host, graphite_port)


#: Rendered texts kept per distinct input: a base config near its size limit takes seconds to parse
#: and merge, and every reconcile renders its monitor's gatling.conf again.
_RENDER_CACHE_SIZE = 64


@functools.lru_cache(maxsize=_RENDER_CACHE_SIZE)
def _gatling_conf(gatling: GatlingSpec, protocol: str, graphite_host: str, graphite_port: int) -> str:
    # Data without includes, I/O or substitution (spec/monitor.py already refused what cannot be merged),
    # printed by our own printer and parsed back: never published unless the destination holds.
    base = base_config_data(gatling.base_config)
    dest = Destination(_writers(base), graphite_host, graphite_port, protocol, gatling.root_path_prefix)
    extra = {"light": gatling.light, "writePeriod": gatling.write_period}
    try:
        return publish(base, dest, extra)
    except PublishError as err:
        raise BaseConfigError(str(err)) from None


def java_system_properties(spec: MonitorSpec, graphite_host: str, graphite_port: int) -> str:
    """The same settings as `-D` flags for JAVA_OPTS, for runners that cannot mount a file.

    System properties override gatling.conf in every Gatling version; a list is given as
    numbered keys, which Typesafe Config reads back as a list.
    """
    flags = [f"-Dgatling.data.writers.{i}={w}" for i, w in enumerate(_REQUIRED_WRITERS)]
    settings = _graphite_settings(spec.gatling, spec.graphite.protocol, graphite_host, graphite_port)
    for key, value in settings.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        flags.append(f"-Dgatling.data.graphite.{key}={text}")
    flags.append(f"-Dgatling.data.graphite.rootPathPrefix={spec.gatling.root_path_prefix}.{RUNNER_KUBELET_REF}")
    return " ".join(flags)
