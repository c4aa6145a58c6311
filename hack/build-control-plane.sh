#!/usr/bin/env bash
# Builds a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) and KWOK from the Go module proxy into a cache outside the
# repository, keyed by version. A second run with the binaries present does nothing.
# Everything is built into a staging directory and moved into place only at the end, so an
# interrupted build never leaves a cache that looks complete.
#
# Environment:
#   K8S_VERSION   Kubernetes release to build (default below)
#   KWOK_VERSION  KWOK release to build (default below)
#   LTM_CACHE_DIR cache root (default: $XDG_CACHE_HOME or ~/.cache, then /loadtest-monitor)
# Prints the binary directory on its last line.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
CACHE_ROOT=${LTM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/loadtest-monitor}
BIN_DIR="$CACHE_ROOT/control-plane/k8s-$K8S_VERSION-kwok-$KWOK_VERSION"
PROGRAMS=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)

# KWOK's own "fast" Stage objects: nodes Ready at once, pods Ready (Job pods Succeeded), pods
# deleted at once, PersistentVolumeClaims of StorageClass kwok-volume provisioned and bound.
STAGE_SETS=(node/fast pod/fast volume/fast)
EXPECTED_STAGES=(node-initialize pod-ready pod-complete pod-delete pvc-provision pv-bind pvc-delete pv-delete)

binaries_present() {
  for p in "${PROGRAMS[@]}"; do [ -x "$BIN_DIR/$p" ] || return 1; done
}

stages_present() {
  for s in "${EXPECTED_STAGES[@]}"; do [ -f "$BIN_DIR/kwok-stages/$s.yaml" ] || return 1; done
}

# copy_stages DEST: the Stage YAMLs of the KWOK module (only kind: Stage documents) into DEST.
copy_stages() {
  local dest=$1 kwok_dir group f
  kwok_dir=$(cd / && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$dest"
  for group in "${STAGE_SETS[@]}"; do
    for f in "$kwok_dir/kustomize/stage/$group"/*.yaml; do
      grep -q '^kind: Stage$' "$f" || continue # skips kustomization.yaml and the StorageClass
      cp "$f" "$dest/$(basename "$f")"
    done
  done
  chmod -R u+w "$dest"
}

if binaries_present; then
  if ! stages_present; then # a cache from before the stage set grew: refresh only the stages
    fresh=$(mktemp -d)
    copy_stages "$fresh/kwok-stages"
    rm -rf "$BIN_DIR/kwok-stages" && mv "$fresh/kwok-stages" "$BIN_DIR/kwok-stages" && rm -rf "$fresh"
    echo "refreshed KWOK stages in $BIN_DIR/kwok-stages" >&2
  fi
  echo "control plane binaries already built"
  echo "$BIN_DIR"
  exit 0
fi

started=$(date +%s)
mkdir -p "$(dirname "$BIN_DIR")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/out"
mkdir -p "$out"
export CGO_ENABLED=0 GOFLAGS="-trimpath -pgo=off" GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
staging_version="v0.${K8S_VERSION#v1.}"

# --- Kubernetes: a wrapper module that replaces every staging module with its published tag.
mkdir -p "$work/k8s" && cd "$work/k8s"
go mod init ltm.local/k8s-build >/dev/null 2>&1
gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
go_line=$(awk '$1=="go"{print $2; exit}' "$gomod")
go mod edit -go="$go_line" -require="k8s.io/kubernetes@$K8S_VERSION"
# Staging modules are exactly those the upstream go.mod maps to ./staging/...
grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u | while read -r mod; do
  go mod edit -replace="$mod=$mod@$staging_version"
done
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubectl"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
go mod tidy -e >/dev/null 2>&1 || true
go get "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
pkg=k8s.io/component-base/version
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor \
 -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
for p in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  echo "building $p $K8S_VERSION ..." >&2
  go build -tags tools -ldflags "$ldflags" -o "$out/$p" "k8s.io/kubernetes/cmd/$p"
done

# --- etcd: the server version that this Kubernetes release itself requires.
etcd_version=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$gomod")
etcd_version=${etcd_version:-v3.6.8}
mkdir -p "$work/etcd" && cd "$work/etcd"
go mod init ltm.local/etcd-build >/dev/null 2>&1
go mod edit -go="$go_line"
go get "go.etcd.io/etcd/server/v3@$etcd_version" >/dev/null 2>&1
echo "building etcd $etcd_version ..." >&2
go build -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3

# --- KWOK: no replace lines, so a plain install in its own module, plus its stage configs.
echo "building kwok $KWOK_VERSION ..." >&2
GOBIN="$out" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
copy_stages "$out/kwok-stages"
chmod -R u+w "$out"

# --- Move into place: the binaries first, the stage directory (checked by stages_present) last.
mkdir -p "$BIN_DIR"
for p in "${PROGRAMS[@]}"; do mv -f "$out/$p" "$BIN_DIR/$p"; done
rm -rf "$BIN_DIR/kwok-stages"
mv "$out/kwok-stages" "$BIN_DIR/kwok-stages"

echo "cold build took $(( $(date +%s) - started )) s" >&2
echo "$BIN_DIR"
