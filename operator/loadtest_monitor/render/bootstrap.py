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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadtest_monitor.spec.monitor import MonitorSpec, retention_hours

CONTAINER_NAME = "bootstrap"
SCRIPT_KEY = "bootstrap.sh"
CONF_KEY = "bootstrap.conf"
HTTP_PORT = 8086
RPC_BIND = "127.0.0.1:8088"
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
    hours = retention_hours(retention)
    if hours is None or hours >= 180 * 24:
        return "7d"
    if hours >= 2 * 24:
        return "1d"
    return "1h"


def render_bootstrap_conf(data_dir: str, http_port: int = HTTP_PORT, rpc_bind: str = RPC_BIND) -> str:
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


def render_bootstrap_script(spec: MonitorSpec, conf_path: str, secret_name: str, http_port: int = HTTP_PORT) -> str:
    """The POSIX sh script of the bootstrap container. Database, retention and shard duration
    are validated spec values (identifier characters and `<n><h|d|w>`/INF), safe to embed; user
    names and passwords come from the environment and are escaped for InfluxQL here."""
    db = spec.influxdb.database
    retention = spec.influxdb.retention
    shard = shard_duration(retention)
    return f"""#!/bin/sh
# Rendered by loadtest-monitor. Prepares InfluxDB before it serves; always exits 0: the outcome
# is this container's termination message, "<Reason>: <text>" (render/bootstrap.py).
set -u
out="${{{ENV_TERMINATION_LOG}:-/dev/termination-log}}"
reason=""
failures=""

finish() {{
  msg="$1: $2"
  one_line "$msg" | head -c {MESSAGE_LIMIT} >"$out" 2>/dev/null || true
  printf '%s\\n' "$msg"
  exit 0
}}

# One line per failure: the influx CLI's multi-line errors, without its "use <database>" advice.
one_line() {{
  printf '%s\\n' "$1" | grep -v -e '^Warning: It is possible' -e '^Please set a database' \\
    | tr '\\r\\n' '  ' | sed -e 's/  */ /g' -e 's/ $//'
}}

fail() {{
  [ -z "$reason" ] && reason="$1"
  failures="${{failures:+$failures; }}$(one_line "$2")"
}}

q() {{
  influx -host 127.0.0.1 -port {http_port} -execute "$1" 2>&1
}}

# InfluxQL string and identifier contents: backslash and both quotes escaped.
esc() {{
  printf '%s' "$1" | sed -e 's/\\\\/\\\\\\\\/g' -e "s/'/\\\\\\\\'/g" -e 's/"/\\\\"/g'
}}

influxd run -config "{conf_path}" &
pid=$!

stop_influxd() {{
  kill -TERM "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i+1))
    if [ "$i" -ge 60 ]; then kill -KILL "$pid" 2>/dev/null; break; fi
    sleep 1
  done
  wait "$pid" 2>/dev/null
}}

i=0
until q 'SHOW DATABASES' >/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    finish {INFLUXDB_UNAVAILABLE} "influxd exited on start (log of container {CONTAINER_NAME}); nothing was set"
  fi
  i=$((i+1))
  if [ "$i" -ge {START_TIMEOUT_SECONDS} ]; then
    stop_influxd
    finish {INFLUXDB_UNAVAILABLE} "influxd did not answer within {START_TIMEOUT_SECONDS} s; nothing was set"
  fi
  sleep 1
done

if ! r=$(q 'CREATE DATABASE "{db}"'); then
  fail {DATABASE_FAILED} "CREATE DATABASE {db}: $r"
fi
if ! r=$(q 'ALTER RETENTION POLICY "autogen" ON "{db}" DURATION {retention} SHARD DURATION {shard} DEFAULT'); then
  fail {RETENTION_FAILED} "retention {retention} (shard duration {shard}) on database {db}: $r"
fi

# $1 role, $2 user, $3 password, $4 grant statement for the user ($u in it is the escaped name).
ensure_user() {{
  if [ -z "$2" ] || [ -z "$3" ]; then
    fail {USERS_FAILED} "$1 user: name or password empty in Secret {secret_name}"
    return
  fi
  case "$2$3" in
    *"
"*) fail {USERS_FAILED} "$1 user: name or password in Secret {secret_name} contains a line break"; return ;;
  esac
  u=$(esc "$2")
  p=$(esc "$3")
  if ! r=$(q "CREATE USER \\"$u\\" WITH PASSWORD '$p'"); then
    if ! r=$(q "SET PASSWORD FOR \\"$u\\" = '$p'"); then
      # never quote a message that may contain the password
      case "$r" in *"$3"*) r="(InfluxDB's message withheld: it quotes the password)" ;; esac
      fail {USERS_FAILED} "$1 user $2: $r"
      return
    fi
  fi
  if ! r=$(q "$(printf "$4" "$u")"); then
    fail {USERS_FAILED} "$1 user $2: $r"
  fi
}}

admin_user="${{{ENV_ADMIN_USER}:-}}"
reader_user="${{{ENV_READER_USER}:-}}"
if [ -n "$admin_user" ] && [ "$admin_user" = "$reader_user" ]; then
  fail {USERS_FAILED} "admin-user and reader-user in Secret {secret_name} must differ"
else
  ensure_user admin "$admin_user" "${{{ENV_ADMIN_PASSWORD}:-}}" 'GRANT ALL PRIVILEGES TO "%s"'
  ensure_user reader "$reader_user" "${{{ENV_READER_PASSWORD}:-}}" 'GRANT READ ON "{db}" TO "%s"'
fi

stop_influxd
if [ -n "$reason" ]; then
  finish "$reason" "$failures"
fi
users="users $admin_user (admin) and $reader_user (read on {db})"
finish {BOOTSTRAPPED} "database {db}, retention {retention} (shard duration {shard}), $users"
"""
