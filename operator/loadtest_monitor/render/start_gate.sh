# Start gate of one LoadtestRun runner: the Gatling container's command (render/run_job.py puts
# this text in the pod; its tokens, a name between two at-signs, are filled from validated values).
#
# No runner may start its injection before every runner is up, or the first runners would load
# the system alone. The operator writes one start time (epoch seconds, with milliseconds) into
# the pod annotation loadtest.dev/start-at of every runner once all of them run; the kubelet
# mirrors it into START_FILE through a downward-API volume. This waits for it, sleeps until that
# moment, then execs the runner's entry point ("$@"), which keeps Gatling's exit code as the
# container's (0 passed, 1 crashed, 2 assertions failed).
set -eu
start_file='@START_FILE@'
wait_limit=@WAIT_SECONDS@
poll=@POLL_SECONDS@

waited_since=$(date +%s)
echo "start-gate: runner ${GATLING_RUNNER:-?} up; waiting for every runner (start time in $start_file)"
while :; do
  at=$(cat "$start_file" 2>/dev/null || true)
  case "$at" in
    '' | .* | *.*.* | *[!0-9.]*) ;; # empty (annotation not set yet) or not an epoch time
    *) break ;;
  esac
  if [ $(($(date +%s) - waited_since)) -ge "$wait_limit" ]; then
    echo "start-gate: no start time after ${wait_limit}s: not every runner came up; giving up" >&2
    exit 3
  fi
  sleep "$poll"
done

# Sub-second clock where date has one (GNU date: %N), else whole seconds.
now=$(date +%s.%N 2>/dev/null || true)
case "$now" in '' | *N*) now=$(date +%s) ;; esac
delay=$(awk -v at="$at" -v now="$now" 'BEGIN { d = at - now; if (d < 0) d = 0; printf "%.3f", d }')
echo "start-gate: all runners up; starting at $at (in ${delay}s)"
sleep "$delay"
exec "$@"
