#!/usr/bin/env bash
# The project's images, stated once: `make images` (hack/build-images.sh) and the release workflow
# (.github/workflows/release.yml) both build from this list, so a new image, Dockerfile or build
# argument is added here and reaches both.
#
#   bash hack/images.sh list     one image a line, tab-separated:
#                                NAME  DOCKERFILE  CONTEXT  TOOLCHAIN  BUILD_ARGS (space-separated K=V, or -)
#   bash hack/images.sh matrix   the same as a JSON list for a GitHub Actions matrix (`include:`)
#
# TOOLCHAIN (python|java) says which package registry the build's RUN steps reach; build-images.sh
# mounts this machine's matching trust configuration for it. BUILD_ARGS override a Dockerfile's
# ARG defaults; without them the defaults are the released versions (GATLING_VERSION in the
# runner's: 3.15.1, whose realtime metrics come from the forwarder sidecar).
# gatling-runner-legacy is the same Dockerfile at Gatling 3.11.5, the last version with Gatling's
# own Graphite writer (manifests/examples/gatling-job.yaml): teams that cannot move yet get a
# released, tested image for it instead of building their own.
set -euo pipefail

images() {
  printf '%s\t%s\t%s\t%s\t%s\n' \
    loadtest-monitor docker/operator/Dockerfile . python - \
    gatling-runner docker/gatling-runner/Dockerfile docker/gatling-runner java - \
    gatling-runner-legacy docker/gatling-runner/Dockerfile docker/gatling-runner java GATLING_VERSION=3.11.5
}

case "${1:-list}" in
  list) images ;;
  matrix)
    images | python3 -c '
import json, sys
rows = [line.rstrip("\n").split("\t") for line in sys.stdin if line.strip()]
print(json.dumps([
    {"image": n, "dockerfile": d, "context": c, "build-args": "" if a == "-" else "\n".join(a.split())}
    for n, d, c, _, a in rows
], separators=(",", ":")))'
    ;;
  *) echo "usage: $0 list|matrix" >&2; exit 2 ;;
esac
