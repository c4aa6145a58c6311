#!/bin/sh
# Prints (one line) the JVM flags the runner image needs for a Gatling version:
#   jvm-flags.sh GATLING_VERSION [AGENT_JAR]
# The image build writes them to /opt/gatling/jvm-flags; run.sh puts them before JAVA_OPTS, so a
# Job that sets its own JAVA_OPTS keeps them.
#   3.11.x   none: realtime metrics come from Gatling's own Graphite writer.
#   3.12+    -javaagent:AGENT_JAR (when given): the log-flush agent, so the forwarder sidecar that
#            follows simulation.log sees records within about a second (Gatling's log writer
#            otherwise writes in 8 KiB bursts).
#   3.13+    --add-opens java.base/java.lang=ALL-UNNAMED: Gatling 3.13+ needs it on Java 17+.
# Older than 3.11, or not 3.x: refused (the image uses the Maven layout of 3.11+).
# 3.12+ versions other than the ones the e2e tests prove still build, with a warning.
set -eu
version=${1:?usage: jvm-flags.sh GATLING_VERSION [AGENT_JAR]}
agent=${2:-}
tested="3.11.5 3.12.0 3.13.5 3.14.9 3.15.1"

if ! printf '%s' "$version" | grep -Eq '^3\.[0-9]+\.[0-9]+$'; then
  echo "jvm-flags.sh: GATLING_VERSION '$version' is not a 3.x.y release (e.g. 3.15.1)" >&2
  exit 2
fi
minor=$(printf '%s' "$version" | cut -d. -f2)
if [ "$minor" -lt 11 ]; then
  echo "jvm-flags.sh: GATLING_VERSION $version is older than 3.11, whose Maven layout this image needs; use 3.11.5" >&2
  exit 2
fi
case " $tested " in
  *" $version "*) ;;
  *) echo "jvm-flags.sh: WARNING: Gatling $version is not among the tested versions ($tested);" \
          "the forwarder refuses a simulation.log format it does not know, with a clear error" >&2 ;;
esac

flags=""
if [ "$minor" -ge 12 ] && [ -n "$agent" ]; then
  flags="-javaagent:$agent"
fi
if [ "$minor" -ge 13 ]; then
  flags="${flags:+$flags }--add-opens java.base/java.lang=ALL-UNNAMED"
fi
printf '%s\n' "$flags"
