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
# mounts this machine's matching trust configuration for it. BUILD_ARGS are empty today: each
# Dockerfile's ARG defaults are the released versions (GATLING_VERSION in the runner's).
set -euo pipefail

images() {
  printf '%s\t%s\t%s\t%s\t%s\n' \
    loadtest-monitor docker/operator/Dockerfile . python - \
    gatling-runner docker/gatling-runner/Dockerfile docker/gatling-runner java -
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
