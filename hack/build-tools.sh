#!/usr/bin/env bash
# Builds the tools that the packaging tests use (Helm v3, kustomize, and actionlint for the
# GitHub workflows) from the Go module proxy into a cache outside the repository, keyed by version.
# No module has `replace` lines, so a plain `go install pkg@version` reproduces the same binaries
# anywhere. A second run with the binaries present does nothing.
#
# Environment:
#   HELM_VERSION        Helm v3 release (default below)
#   KUSTOMIZE_VERSION   kustomize v5 release (default below)
#   ACTIONLINT_VERSION  actionlint release (default below), built into a folder of its own
#                       (tools/actionlint-<version>) so that its version is its own key
#   LTM_CACHE_DIR       cache root (default: $XDG_CACHE_HOME or ~/.cache, then /loadtest-monitor)
# actionlint checks the workflows' `run:` scripts with shellcheck when it is on PATH, so Debian's
# package of it is installed here if missing (apt; sudo when not root): that check always runs.
# Prints the binary directory on its last line.
set -euo pipefail

if ! command -v shellcheck >/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "build-tools: installing shellcheck (for actionlint)" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
    shellcheck >&2 || { $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2 &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
    shellcheck >&2; }
fi

HELM_VERSION=${HELM_VERSION:-v3.22.0}
KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-v5.8.2}
ACTIONLINT_VERSION=${ACTIONLINT_VERSION:-v1.7.12}
CACHE_ROOT=${LTM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/loadtest-monitor}
BIN_DIR="$CACHE_ROOT/tools/helm-$HELM_VERSION-kustomize-$KUSTOMIZE_VERSION"
ACTIONLINT_DIR="$CACHE_ROOT/tools/actionlint-$ACTIONLINT_VERSION"

if [ -x "$BIN_DIR/helm" ] && [ -x "$BIN_DIR/kustomize" ] && [ -x "$ACTIONLINT_DIR/actionlint" ]; then
  echo "manifest tools already built"
  echo "$BIN_DIR"
  exit 0
fi

mkdir -p "$BIN_DIR" "$ACTIONLINT_DIR"
export CGO_ENABLED=0 GOFLAGS="-trimpath -pgo=off" GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

started=$(date +%s)
if [ ! -x "$ACTIONLINT_DIR/actionlint" ]; then
  echo "building actionlint $ACTIONLINT_VERSION ..." >&2
  # Its release build sets the version the same way; without it `actionlint -version` says "(devel)".
  GOBIN="$ACTIONLINT_DIR" go install \
    -ldflags "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
    "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  echo "actionlint built in $(( $(date +%s) - started )) s" >&2
fi

if [ ! -x "$BIN_DIR/kustomize" ]; then
  echo "building kustomize $KUSTOMIZE_VERSION ..." >&2
  GOBIN="$BIN_DIR" go install \
    -ldflags "-s -w -X sigs.k8s.io/kustomize/api/provenance.version=kustomize/$KUSTOMIZE_VERSION" \
    "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  echo "kustomize built in $(( $(date +%s) - started )) s" >&2
fi

if [ ! -x "$BIN_DIR/helm" ]; then
  t=$(date +%s)
  echo "building helm $HELM_VERSION ..." >&2
  # The ldflags of Helm's own release build: its version, and the default Kubernetes version
  # of .Capabilities taken from the client-go it requires (v0.N.M -> 1.N). Without them it says
  # v3.x-dev and assumes Kubernetes 1.20. The chart tests pass --kube-version anyway.
  gomod=$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  client_go=$(awk '$1=="k8s.io/client-go"{print $2; exit}' "$gomod")
  k8s_minor=${client_go#v0.}; k8s_minor=${k8s_minor%%.*}
  pkg=helm.sh/helm/v3
  GOBIN="$BIN_DIR" go install \
    -ldflags "-s -w -X $pkg/internal/version.version=$HELM_VERSION \
      -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$k8s_minor \
      -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$k8s_minor" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "helm built in $(( $(date +%s) - t )) s" >&2
fi

echo "cold build took $(( $(date +%s) - started )) s" >&2
echo "$BIN_DIR"
