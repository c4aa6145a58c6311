#!/usr/bin/env bash
# Builds the project's images from the unchanged Dockerfiles with podman (no Docker engine), from
# the list the release workflow builds from too (hack/images.sh: Dockerfile, context, build args):
#   loadtest-monitor -> $LTM_OPERATOR_IMAGE (default loadtest-monitor:dev)
#   gatling-runner        -> $LTM_RUNNER_IMAGE        (default gatling-runner:dev, Gatling 3.15.1)
#   gatling-runner-legacy -> $LTM_RUNNER_LEGACY_IMAGE (default gatling-runner-legacy:dev, 3.11.5)
# on the local stand-ins of their base images (hack/build-base-images.sh), with --pull=never.
#
# RUN steps that reach the package registries (pip, Maven) get this machine's trust store and pip
# configuration mounted read-only for the build only; nothing of it is baked into an image.
# podman keeps its layer cache in the cache directory, so an unchanged rebuild takes seconds.
# Prints each image with its size at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

OPERATOR_IMAGE=${LTM_OPERATOR_IMAGE:-loadtest-monitor:dev}
RUNNER_IMAGE=${LTM_RUNNER_IMAGE:-gatling-runner:dev}
RUNNER_LEGACY_IMAGE=${LTM_RUNNER_LEGACY_IMAGE:-gatling-runner-legacy:dev}

bash hack/build-base-images.sh
eval "$(bash hack/podman-env.sh)"

# Read-only build-time mounts of the host's trust and registry configuration, when present.
ca_bundle=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
python_mounts=() java_mounts=()
if [ -f "$ca_bundle" ]; then
  python_mounts+=(-v "$ca_bundle:/etc/ssl/certs/ca-certificates.crt:ro")
fi
if [ -f /etc/pip.conf ]; then
  python_mounts+=(-v /etc/pip.conf:/etc/pip.conf:ro)
fi
if [ -f /etc/ssl/certs/java/cacerts ]; then
  java_mounts+=(-v /etc/ssl/certs/java/cacerts:/etc/ssl/certs/java/cacerts:ro)
fi

build() { # build IMAGE DOCKERFILE CONTEXT MOUNTS...
  local image=$1 dockerfile=$2 context=$3 started
  shift 3
  started=$(date +%s)
  echo "building $image from $dockerfile ..." >&2
  podman build --pull=never --network=host --layers "$@" -f "$dockerfile" -t "$image" "$context" >&2 </dev/null
  echo "built $image in $(( $(date +%s) - started )) s" >&2
}

while IFS=$'\t' read -r name dockerfile context toolchain build_args; do
  case "$name" in
    loadtest-monitor) image=$OPERATOR_IMAGE ;;
    gatling-runner) image=$RUNNER_IMAGE ;;
    gatling-runner-legacy) image=$RUNNER_LEGACY_IMAGE ;;
    *) echo "hack/images.sh lists $name, which this script has no local name for" >&2; exit 1 ;;
  esac
  args=()
  if [ "$build_args" != - ]; then
    for arg in $build_args; do args+=(--build-arg "$arg"); done
  fi
  if [ "$toolchain" = python ]; then args+=("${python_mounts[@]}"); else args+=("${java_mounts[@]}"); fi
  build "$image" "$dockerfile" "$context" "${args[@]}"
done < <(bash hack/images.sh list)

for image in "$OPERATOR_IMAGE" "$RUNNER_IMAGE" "$RUNNER_LEGACY_IMAGE"; do
  size=$(podman image inspect --format '{{.Size}}' "$image")
  echo "$image $(( size / 1000000 )) MB"
done
