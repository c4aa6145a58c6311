#!/usr/bin/env bash
# Builds the project's images from the unchanged Dockerfiles with podman (no Docker engine):
#   docker/operator        -> $LTM_OPERATOR_IMAGE (default loadtest-monitor:dev), context: the repository
#   docker/gatling-runner  -> $LTM_RUNNER_IMAGE   (default gatling-runner:dev),   context: its folder
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
  podman build --pull=never --network=host --layers "$@" -f "$dockerfile" -t "$image" "$context" >&2
  echo "built $image in $(( $(date +%s) - started )) s" >&2
}

build "$OPERATOR_IMAGE" docker/operator/Dockerfile . "${python_mounts[@]}"
build "$RUNNER_IMAGE" docker/gatling-runner/Dockerfile docker/gatling-runner "${java_mounts[@]}"

for image in "$OPERATOR_IMAGE" "$RUNNER_IMAGE"; do
  size=$(podman image inspect --format '{{.Size}}' "$image")
  echo "$image $(( size / 1000000 )) MB"
done
