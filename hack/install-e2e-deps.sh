#!/usr/bin/env bash
# Installs what the end-to-end data-path tests and the ingest benchmark need, idempotently:
#   - a real InfluxDB 1.x (Debian's `influxdb` package, 1.6.x) WITHOUT its system service running:
#     tests and the benchmark start their own influxd on free loopback ports with their own data dir;
#   - the Maven artifacts of the Gatling project in hack/harness/gatling-project for every Gatling
#     version the tests run (3.11.5 with its Graphite writer; the latest 3.12.x, 3.13.x, 3.14.x and
#     3.15.1 with the forwarder), and of the runner image's log-flush agent
#     (docker/gatling-runner/agent), so that test runs work offline and start fast;
#   - Typesafe Config (com.typesafe:config, the library Gatling reads gatling.conf with), which the
#     gatling.conf printer's test reads every rendered file with (tests/e2e/test_gatling_conf_typesafe.py).
# The Maven artifacts land in the local Maven repository (~/.m2), which is the cache: a second run
# resolves everything from there (add -o to the mvn calls to prove it works offline).
# Each program is checked on its own and only what is missing is installed from Debian: influxd
# (`influxdb`), the `influx` client (`influxdb-client`), a JDK of Java 17 or later with javac
# (`openjdk-17-jdk-headless`) and Maven (`maven`). One present program says nothing about another:
# an influxd built from source, or the server package alone, leaves the client missing, and every
# e2e test needs it. Runs as root in CI (`make e2e-deps`).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

has() { command -v "$1" >/dev/null 2>&1; }

# The major version of `java` on PATH (8 for "1.8.0_392", 17 for "17.0.15"), 0 if it does not say.
java_major() {
  local version
  version=$(java -version 2>&1 | sed -n '1s/.*version "\([^"]*\)".*/\1/p')
  case "$version" in
    1.*) version=${version#1.} ;;
  esac
  version=${version%%[!0-9]*}
  echo "${version:-0}"
}

java_ok() { has java && has javac && [ "$(java_major)" -ge 17 ]; }

missing_packages() {
  local packages=()
  has influxd || packages+=(influxdb)
  has influx || packages+=(influxdb-client)
  java_ok || packages+=(openjdk-17-jdk-headless)
  has mvn || packages+=(maven)
  echo "${packages[*]}"
}

created_policy=0
packages=$(missing_packages)
if [ -n "$packages" ]; then
  echo "install-e2e-deps: installing $packages"
  export DEBIAN_FRONTEND=noninteractive
  # Forbid the package's maintainer scripts from starting the service (invoke-rc.d honours
  # policy-rc.d exit code 101). Only remove the policy file if this script created it.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  $SUDO apt-get update -q
  # shellcheck disable=SC2086 # one word per package
  $SUDO apt-get install -y -q --no-install-recommends $packages
fi
# Whatever was installed, or found: every program must be there now (an older java first on PATH
# stays first after a JDK 17 is installed, for one).
still_missing=$(missing_packages)
if [ -n "$still_missing" ]; then
  echo "install-e2e-deps: still missing after the install: $still_missing" \
    "(needed on PATH: influxd, influx, java and javac of Java 17 or later, mvn)" >&2
  exit 1
fi

# Whatever happened before (an older install, a reboot with systemd), make sure the system
# service is neither running nor enabled: it would hold ports 8086/8088/2003 and its own data dir.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now influxdb >/dev/null 2>&1 || true
elif [ -x /etc/init.d/influxdb ]; then
  $SUDO /etc/init.d/influxdb stop >/dev/null 2>&1 || true
  $SUDO update-rc.d influxdb disable >/dev/null 2>&1 || true
fi

influxd version
influx -version

# Pre-fetch the Gatling project's dependencies and plugins: resolving and compiling once puts every
# artifact the tests need (Gatling, its plugin, the compiler) into the local Maven repository.
# Keep this list equal to hack/harness/ltm_harness/runner_home.py (GRAPHITE_VERSION, FORWARDER_VERSIONS).
GATLING_VERSIONS="3.11.5 3.12.0 3.13.5 3.14.9 3.15.1"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"; [ "${created_policy:-0}" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
cp -r hack/harness/gatling-project "$scratch/project"
rm -rf "$scratch/project/target"
for version in $GATLING_VERSIONS; do
  echo "install-e2e-deps: Gatling $version"
  ( cd "$scratch/project" && mvn -q -B -Dgatling.version="$version" -DskipTests \
      dependency:go-offline test-compile dependency:build-classpath -Dmdep.outputFile=/dev/null )
done
# The flush agent: ByteBuddy and the shade plugin (built by the tests and by the image).
cp -r docker/gatling-runner/agent "$scratch/agent"
rm -rf "$scratch/agent/target"
( cd "$scratch/agent" && mvn -q -B package )
# Typesafe Config: checked by the jar itself, not by another tool. Keep the version equal to
# hack/harness/ltm_harness/maven.py (TYPESAFE_CONFIG). The jar has no runtime dependencies; without
# -Dtransitive=false, dependency:get also asks for com.typesafe:config-test-lib_2.12, which Maven
# Central does not serve, and fails.
TYPESAFE_CONFIG_VERSION=1.4.3
maven_repo="${LTM_MAVEN_REPO:-$HOME/.m2/repository}"
typesafe_jar="$maven_repo/com/typesafe/config/$TYPESAFE_CONFIG_VERSION/config-$TYPESAFE_CONFIG_VERSION.jar"
if [ ! -f "$typesafe_jar" ]; then
  echo "install-e2e-deps: Typesafe Config $TYPESAFE_CONFIG_VERSION"
  mvn -q -B dependency:get -Dartifact="com.typesafe:config:$TYPESAFE_CONFIG_VERSION" -Dtransitive=false \
    ${LTM_MAVEN_REPO:+-Dmaven.repo.local="$LTM_MAVEN_REPO"}
fi
test -f "$typesafe_jar"
echo "install-e2e-deps: influxd, influx, Java $(java_major), Maven, Gatling $GATLING_VERSIONS, the log-flush agent and Typesafe Config are ready"
