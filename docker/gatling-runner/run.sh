#!/bin/sh
# Entry point of the Gatling runner image: one Gatling run (3.11+) of GATLING_SIMULATION.
#
# Classpath, first match wins:
#   $GATLING_HOME/conf     gatling.conf, mounted from the monitor's ConfigMap (<monitor>-gatling)
#   $GATLING_HOME/classes  the compiled simulations and src/test/resources (logback, feeders)
#   $GATLING_HOME/lib/*    Gatling (the image's GATLING_VERSION) and its dependencies
# Gatling loads gatling.conf from the classpath and resolves it, so its ${?GATLING_RUNNER} and
# ${?HOSTNAME} substitutions see this container's environment.
#
# JVM flags: first the image's own ($GATLING_HOME/jvm-flags, written at build time for its Gatling
# version: the log-flush agent for 3.12+, --add-opens for 3.13+), then JAVA_OPTS (split on spaces:
# heap settings, or -Dgatling.* system properties, which override gatling.conf).
# Extra arguments are passed to Gatling (e.g. --no-reports).
set -eu
GATLING_HOME=${GATLING_HOME:-/opt/gatling}
: "${GATLING_SIMULATION:?set GATLING_SIMULATION to the fully qualified simulation class}"
results=${GATLING_RESULTS_DIR:-$GATLING_HOME/results}

# The runner identity is ONE Graphite path segment (the InfluxDB templates expect exactly one):
# GATLING_RUNNER, else HOSTNAME, else "local"; every byte outside [A-Za-z0-9_-] becomes "-", at
# most 63 characters, empty gives "local". The forwarder sidecar applies the same rule to the same
# name, so both end up with the same segment. Exported before Java starts: gatling.conf reads it.
runner_segment() {
  segment=$(printf '%s' "$1" | LC_ALL=C tr -c 'A-Za-z0-9_-' '-' | LC_ALL=C cut -c1-63)
  printf '%s' "${segment:-local}"
}
GATLING_RUNNER=$(runner_segment "${GATLING_RUNNER:-${HOSTNAME:-local}}")
export GATLING_RUNNER

if [ ! -f "$GATLING_HOME/conf/gatling.conf" ]; then
  echo "run.sh: no $GATLING_HOME/conf/gatling.conf: mount the monitor's <name>-gatling ConfigMap there" >&2
  echo "run.sh: (or pass the java-system-properties flags in JAVA_OPTS); running without realtime output" >&2
fi

image_flags=""
if [ -f "$GATLING_HOME/jvm-flags" ]; then
  image_flags=$(cat "$GATLING_HOME/jvm-flags")
fi

echo "run.sh: runner $GATLING_RUNNER, Gatling ${GATLING_VERSION:-?}, image JVM flags: ${image_flags:-none}"
# shellcheck disable=SC2086  # the flag lists are split on purpose
exec java $image_flags ${JAVA_OPTS:-} \
  -cp "$GATLING_HOME/conf:$GATLING_HOME/classes:$GATLING_HOME/lib/*" \
  io.gatling.app.Gatling \
  --simulation "$GATLING_SIMULATION" \
  --results-folder "$results" \
  --run-description "runner $GATLING_RUNNER" \
  "$@"
