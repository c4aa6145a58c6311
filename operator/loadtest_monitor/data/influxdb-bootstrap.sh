#!/bin/sh
# Rendered by loadtest-monitor (render/bootstrap.py). Prepares InfluxDB before it serves; always
# exits 0: the outcome is this container's termination message, "<Reason>: <text>".
set -u

# The values, substituted by render/bootstrap.py, each as ONE shell word (shlex.quote) and only in
# these assignments: the script below reads them as variables, never as text pasted into a command.
conf_path=@{conf_path}
http_port=@{http_port}
db=@{database}
retention=@{retention}
shard=@{shard}
secret_name=@{secret_name}
container=@{container}
message_limit=@{message_limit}
start_timeout=@{start_timeout}
bootstrapped=@{bootstrapped}
database_failed=@{database_failed}
retention_failed=@{retention_failed}
users_failed=@{users_failed}
unavailable=@{unavailable}
# From the container's environment: the credentials (the generated Secret) and where the outcome goes.
out="${@{env_termination_log}:-/dev/termination-log}"
admin_user="${@{env_admin_user}:-}"
admin_password="${@{env_admin_password}:-}"
reader_user="${@{env_reader_user}:-}"
reader_password="${@{env_reader_password}:-}"

reason=""
failures=""

finish() {
  msg="$1: $2"
  one_line "$msg" | head -c "$message_limit" >"$out" 2>/dev/null || true
  printf '%s\n' "$msg"
  exit 0
}

# One line per failure: the influx CLI's multi-line errors, without its "use <database>" advice.
one_line() {
  printf '%s\n' "$1" | grep -v -e '^Warning: It is possible' -e '^Please set a database' \
    | tr '\r\n' '  ' | sed -e 's/  */ /g' -e 's/ $//'
}

fail() {
  [ -z "$reason" ] && reason="$1"
  failures="${failures:+$failures; }$(one_line "$2")"
}

q() {
  influx -host 127.0.0.1 -port "$http_port" -execute "$1" 2>&1
}

# InfluxQL string and identifier contents: backslash and both quotes escaped.
esc() {
  printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g" -e 's/"/\\"/g'
}

db_q=$(esc "$db")

influxd run -config "$conf_path" &
pid=$!

stop_influxd() {
  kill -TERM "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i+1))
    if [ "$i" -ge 60 ]; then kill -KILL "$pid" 2>/dev/null; break; fi
    sleep 1
  done
  wait "$pid" 2>/dev/null
}

i=0
until q 'SHOW DATABASES' >/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    finish "$unavailable" "influxd exited on start (log of container $container); nothing was set"
  fi
  i=$((i+1))
  if [ "$i" -ge "$start_timeout" ]; then
    stop_influxd
    finish "$unavailable" "influxd did not answer within $start_timeout s; nothing was set"
  fi
  sleep 1
done

if ! r=$(q "CREATE DATABASE \"$db_q\""); then
  fail "$database_failed" "CREATE DATABASE $db: $r"
fi
if ! r=$(q "ALTER RETENTION POLICY \"autogen\" ON \"$db_q\" DURATION $retention SHARD DURATION $shard DEFAULT"); then
  fail "$retention_failed" "retention $retention (shard duration $shard) on database $db: $r"
fi

# $1 role, $2 user, $3 password, $4 the grant statement, to which the quoted user name is appended.
ensure_user() {
  if [ -z "$2" ] || [ -z "$3" ]; then
    fail "$users_failed" "$1 user: name or password empty in Secret $secret_name"
    return
  fi
  case "$2$3" in
    *"
"*) fail "$users_failed" "$1 user: name or password in Secret $secret_name contains a line break"; return ;;
  esac
  u=$(esc "$2")
  p=$(esc "$3")
  if ! r=$(q "CREATE USER \"$u\" WITH PASSWORD '$p'"); then
    if ! r=$(q "SET PASSWORD FOR \"$u\" = '$p'"); then
      # never quote a message that may contain the password
      case "$r" in *"$3"*) r="(InfluxDB's message withheld: it quotes the password)" ;; esac
      fail "$users_failed" "$1 user $2: $r"
      return
    fi
  fi
  if ! r=$(q "$4 \"$u\""); then
    fail "$users_failed" "$1 user $2: $r"
  fi
}

if [ -n "$admin_user" ] && [ "$admin_user" = "$reader_user" ]; then
  fail "$users_failed" "admin-user and reader-user in Secret $secret_name must differ"
else
  ensure_user admin "$admin_user" "$admin_password" 'GRANT ALL PRIVILEGES TO'
  ensure_user reader "$reader_user" "$reader_password" "GRANT READ ON \"$db_q\" TO"
fi

stop_influxd
if [ -n "$reason" ]; then
  finish "$reason" "$failures"
fi
users="users $admin_user (admin) and $reader_user (read on $db)"
finish "$bootstrapped" "database $db, retention $retention (shard duration $shard), $users"
