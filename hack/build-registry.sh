#!/usr/bin/env bash
# Builds the CNCF Distribution registry (the OCI registry `registry:3` runs) from the Go module
# proxy into a cache outside the repository, keyed by version. The runner-image push test runs
# it on 127.0.0.1 as a real registry to push to. A second run with the binary present does nothing.
#
# Environment:
#   REGISTRY_VERSION  github.com/distribution/distribution/v3 release (default below)
#   LTM_CACHE_DIR     cache root (default: $XDG_CACHE_HOME or ~/.cache, then /loadtest-monitor)
# Prints the binary's path on its last line.
set -euo pipefail

REGISTRY_VERSION=${REGISTRY_VERSION:-v3.1.2}
CACHE_ROOT=${LTM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/loadtest-monitor}
BIN_DIR="$CACHE_ROOT/registry-$REGISTRY_VERSION"

if [ -x "$BIN_DIR/registry" ]; then
  echo "registry $REGISTRY_VERSION already built" >&2
  echo "$BIN_DIR/registry"
  exit 0
fi

mkdir -p "$BIN_DIR"
export CGO_ENABLED=0 GOFLAGS="-trimpath -pgo=off" GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
started=$(date +%s)
echo "building registry $REGISTRY_VERSION ..." >&2
# The version ldflag is what `registry --version` prints (the release build sets it the same way).
GOBIN="$BIN_DIR.tmp" go install \
  -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION" \
  "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION"
mv -f "$BIN_DIR.tmp/registry" "$BIN_DIR/registry"
rmdir "$BIN_DIR.tmp"
echo "registry built in $(( $(date +%s) - started )) s" >&2
echo "$BIN_DIR/registry"
