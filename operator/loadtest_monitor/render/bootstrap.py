"""The InfluxDB bootstrap: an init container that prepares the data directory before influxd serves.

It starts influxd privately (HTTP on loopback only, authentication off, no Graphite listener),
creates the database, sets the default retention policy with a shard duration InfluxDB accepts,
creates or re-keys the admin user and the read-only user Grafana uses, and stops influxd. Nothing
else of the pod runs yet, so no one can reach that unauthenticated instance, there is no race for
the first admin, and a changed password in the Secret is simply set again on the next start.

It never fails the pod: the outcome, good or bad, becomes the container's termination message
(`status.initContainerStatuses[name=bootstrap].state.terminated.message`) and the script exits 0,
so a retention InfluxDB refuses can not crash-loop InfluxDB. The message is one line
`<Reason>: <text>`; Reason is BOOTSTRAPPED or one of the failure reasons below.
"""

from __future__ import annotations

import functools
import re
import shlex
import string
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from loadtest_monitor.identity import INFLUXDB_HTTP_PORT, INFLUXDB_RPC_BIND
from loadtest_monitor.spec.monitor import MonitorSpec, retention_hours

CONTAINER_NAME = "bootstrap"
SCRIPT_KEY = "bootstrap.sh"
CONF_KEY = "bootstrap.conf"
# influxd opens every shard before it answers; a large kept volume can take minutes.
START_TIMEOUT_SECONDS = 600

BOOTSTRAPPED = "Bootstrapped"
RETENTION_FAILED = "RetentionFailed"
DATABASE_FAILED = "DatabaseFailed"
USERS_FAILED = "UsersFailed"
INFLUXDB_UNAVAILABLE = "InfluxDBUnavailable"
FAILURE_REASONS = (RETENTION_FAILED, DATABASE_FAILED, USERS_FAILED, INFLUXDB_UNAVAILABLE)

# Environment of the bootstrap container: the credentials (from the generated Secret) and where
# the outcome goes (the kubelet's termination-log file unless a test says otherwise).
ENV_ADMIN_USER = "LTM_ADMIN_USER"
ENV_ADMIN_PASSWORD = "LTM_ADMIN_PASSWORD"
ENV_READER_USER = "LTM_READER_USER"
ENV_READER_PASSWORD = "LTM_READER_PASSWORD"
ENV_TERMINATION_LOG = "LTM_TERMINATION_LOG"
MESSAGE_LIMIT = 2000  # the kubelet keeps at most 4096 bytes of a termination message


@dataclass(frozen=True)
class Outcome:
    """What the last bootstrap of an InfluxDB pod reported (its termination message)."""

    reason: str
    message: str

    @property
    def failed(self) -> bool:
        return self.reason != BOOTSTRAPPED


def parse_outcome(termination_message: str) -> Outcome:
    """`<Reason>: <text>` -> Outcome; anything else (a crash before the script ran) is a failure."""
    reason, sep, text = termination_message.strip().partition(": ")
    if sep and (reason == BOOTSTRAPPED or reason in FAILURE_REASONS):
        return Outcome(reason, text)
    return Outcome(INFLUXDB_UNAVAILABLE, termination_message.strip() or "the bootstrap ended without a message")


def pod_outcome(pod: Mapping[str, Any]) -> Outcome | None:
    """The bootstrap outcome of one InfluxDB pod, None while it has not finished yet.

    Reads status.initContainerStatuses[name=bootstrap]: state.terminated, else lastState.terminated
    (the kubelet keeps the message of a finished init container there after a restart).
    """
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
    mine = next((s for s in statuses if s.get("name") == CONTAINER_NAME), None)
    if mine is None:
        return None
    for state in ("state", "lastState"):
        terminated = (mine.get(state) or {}).get("terminated")
        if terminated:
            message = str(terminated.get("message") or "")
            if not message and terminated.get("exitCode", 0) == 0:
                # The script always leaves a message; a clean exit without one is a kubelet that
                # did not keep it (or a simulated one): nothing is known, nothing is reported.
                return None
            return parse_outcome(message)
    return None


def shard_duration(retention: str) -> str:
    """The shard group duration InfluxDB 1.x itself picks for a new policy of this duration.

    InfluxDB refuses a policy shorter than its shard duration, and ALTER keeps the old shard
    duration (7d for the autogen policy) unless told: so we always say it. Same rule as
    shardGroupDuration in InfluxDB's services/meta/data.go: >= 180 days or infinite -> 7d,
    >= 2 days -> 1d, shorter -> 1h (the shortest retention InfluxDB accepts is 1h).
    """
    hours = retention_hours(retention)  # None: INF
    if hours is None or hours >= 180 * 24:
        return "7d"
    if hours >= 2 * 24:
        return "1d"
    return "1h"


def render_bootstrap_conf(
    data_dir: str, http_port: int = INFLUXDB_HTTP_PORT, rpc_bind: str = INFLUXDB_RPC_BIND
) -> str:
    """influxd settings for the private run: same data, loopback only, no auth, no listeners."""
    return (
        "# Rendered by loadtest-monitor: the bootstrap's private influxd (see bootstrap.sh).\n"
        "reporting-disabled = true\n"
        f'bind-address = "{rpc_bind}"\n\n'
        "[meta]\n"
        f'  dir = "{data_dir}/meta"\n'
        "  retention-autocreate = true\n\n"
        "[data]\n"
        f'  dir = "{data_dir}/data"\n'
        f'  wal-dir = "{data_dir}/wal"\n'
        "  query-log-enabled = false\n\n"
        "[http]\n"
        "  enabled = true\n"
        f'  bind-address = "127.0.0.1:{http_port}"\n'
        "  auth-enabled = false\n"
        "  pprof-enabled = false\n"
        "  log-enabled = false\n\n"
        "[monitor]\n"
        "  store-enabled = false\n"
    )


# `@{name}` placeholders only (a shell script is full of `$`); any other `@` is an error.
_PLACEHOLDER = r"""
@(?:
  (?P<escaped>@) |
  \{(?P<braced>[a-z_]+)\} |
  (?P<named>(?!)) |
  (?P<invalid>)
)
"""


class _ScriptTemplate(string.Template):
    delimiter = "@"
    # A string, as string.Template wants it (its __init_subclass__ compiles it); typeshed says Pattern.
    pattern = _PLACEHOLDER  # type: ignore[assignment]


# Where a placeholder may stand in the script file: alone as the value of an assignment (a value,
# shell-quoted), or as the name of an environment variable read with a default (an identifier).
_VALUE_LINE = re.compile(r"[a-z_]+=@\{[a-z_]+\}")
_ENV_LINE = re.compile(r'[a-z_]+="\$\{@\{env_[a-z_]+\}:-[^"$`\\]*\}"')
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
SCRIPT_FILE = "data/influxdb-bootstrap.sh"


def parse_script_template(text: str, source: str = SCRIPT_FILE) -> _ScriptTemplate:
    """The script file as a template, refused if a placeholder stands anywhere but alone as an
    assignment's value or as the name of an environment variable read with a default."""
    for number, line in enumerate(text.splitlines(), 1):
        if "@" in line and not (_VALUE_LINE.fullmatch(line) or _ENV_LINE.fullmatch(line)):
            raise ValueError(f"{source}:{number}: a placeholder must be a whole assignment value: {line!r}")
    return _ScriptTemplate(text)


@functools.cache
def _script_template() -> _ScriptTemplate:
    return parse_script_template(resources.files("loadtest_monitor").joinpath(SCRIPT_FILE).read_text(encoding="utf-8"))


def render_bootstrap_script(
    spec: MonitorSpec, conf_path: str, secret_name: str, http_port: int = INFLUXDB_HTTP_PORT
) -> str:
    """The POSIX sh script of the bootstrap container (data/influxdb-bootstrap.sh) with its values.

    Every value becomes one shell word (shlex.quote) in an assignment at the top of the script, which
    then only reads variables: no value, the spec's or any other, is ever pasted into a command. The
    credentials come from the environment; the script escapes them (and the database) for InfluxQL."""
    env = {
        "env_termination_log": ENV_TERMINATION_LOG,
        "env_admin_user": ENV_ADMIN_USER,
        "env_admin_password": ENV_ADMIN_PASSWORD,
        "env_reader_user": ENV_READER_USER,
        "env_reader_password": ENV_READER_PASSWORD,
    }
    for key, name in env.items():
        if not _ENV_NAME.fullmatch(name):  # a name inside ${...}: quoting cannot make it safe
            raise ValueError(f"{key} = {name!r} is not an environment variable name")
    values: dict[str, object] = {
        "conf_path": conf_path,
        "http_port": http_port,
        "database": spec.influxdb.database,
        "retention": spec.influxdb.retention,
        "shard": shard_duration(spec.influxdb.retention),
        "secret_name": secret_name,
        "container": CONTAINER_NAME,
        "message_limit": MESSAGE_LIMIT,
        "start_timeout": START_TIMEOUT_SECONDS,
        "bootstrapped": BOOTSTRAPPED,
        "database_failed": DATABASE_FAILED,
        "retention_failed": RETENTION_FAILED,
        "users_failed": USERS_FAILED,
        "unavailable": INFLUXDB_UNAVAILABLE,
    }
    return _script_template().substitute({**env, **{k: shlex.quote(str(v)) for k, v in values.items()}})
