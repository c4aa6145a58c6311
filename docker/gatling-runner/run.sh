#!/bin/sh
# Entry point of the Gatling runner image: one Gatling 3.11 run of GATLING_SIMULATION.
#
# Classpath, first match wins:
#   $GATLING_HOME/conf     gatling.conf, mounted from the monitor's ConfigMap (<monitor>-gatling)
#   $GATLING_HOME/classes  the compiled simulations and src/test/resources (logback, feeders)
#   $GATLING_HOME/lib/*    Gatling 3.11.5 and its dependencies
# Gatling loads gatling.conf from the classpath and resolves it, so its ${?GATLING_RUNNER} and
# ${?HOSTNAME} substitutions see this container's environment. JAVA_OPTS (split on spaces) go
# to the JVM: heap settings, or -Dgatling.* system properties, which override gatling.conf.
# Extra arguments are passed to Gatling (e.g. -nr to skip the HTML report).
set -eu
GATLING_HOME=${GATLING_HOME:-/opt/gatling}
: "${GATLING_SIMULATION:?set GATLING_SIMULATION to the fully qualified simulation class}"
results=${GATLING_RESULTS_DIR:-$GATLING_HOME/results}
runner=${GATLING_RUNNER:-${HOSTNAME:-local}}

if [ ! -f "$GATLING_HOME/conf/gatling.conf" ]; then
  echo "run.sh: no $GATLING_HOME/conf/gatling.conf: mount the monitor's <name>-gatling ConfigMap there" >&2
  echo "run.sh: (or pass the java-system-properties flags in JAVA_OPTS); running without Graphite output" >&2
fi

# shellcheck disable=SC2086  # JAVA_OPTS is a list of flags, split on purpose
exec java ${JAVA_OPTS:-} \
  -cp "$GATLING_HOME/conf:$GATLING_HOME/classes:$GATLING_HOME/lib/*" \
  io.gatling.app.Gatling \
  --simulation "$GATLING_SIMULATION" \
  --results-folder "$results" \
  --run-description "runner $runner" \
  "$@"
