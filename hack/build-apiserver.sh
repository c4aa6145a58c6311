#!/usr/bin/env bash
# Builds only kube-apiserver and the etcd it requires, for an older Kubernetes release, from the
# Go module proxy into a cache outside the repository, keyed by version. The CRD is installed on
# this API server to prove the Kubernetes floor the docs state (tests/integration/test_validation_floor.py).
# The approach is the one of build-control-plane.sh: a wrapper module that replaces every
# staging module with its published v0.N.M tag, version ldflags so /version is real, and a
# staging directory moved into place only when complete. A second run with the binaries present
# does nothing.
#
# Environment:
#   FLOOR_K8S_VERSION  Kubernetes release to build (default below: the oldest one the docs state)
#   LTM_CACHE_DIR      cache root (default: $XDG_CACHE_HOME or ~/.cache, then /loadtest-monitor)
# Prints the binary directory on its last line.
set -euo pipefail

K8S_VERSION=${FLOOR_K8S_VERSION:-v1.27.16}
CACHE_ROOT=${LTM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/loadtest-monitor}
BIN_DIR="$CACHE_ROOT/control-plane/apiserver-$K8S_VERSION"
PROGRAMS=(kube-apiserver etcd)

present() {
  for p in "${PROGRAMS[@]}"; do [ -x "$BIN_DIR/$p" ] || return 1; done
}

if present; then
  echo "kube-apiserver $K8S_VERSION already built"
  echo "$BIN_DIR"
  exit 0
fi

started=$(date +%s)
mkdir -p "$(dirname "$BIN_DIR")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/out"
mkdir -p "$out"
# Old releases link against runtime internals that newer Go toolchains lock down by default.
export CGO_ENABLED=0 GOFLAGS="-trimpath -pgo=off" GOTOOLCHAIN=${GOTOOLCHAIN:-auto}

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
staging_version="v0.${K8S_VERSION#v1.}"

mkdir -p "$work/k8s" && cd "$work/k8s"
go mod init ltm.local/apiserver-build >/dev/null 2>&1
gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
go_line=$(awk '$1=="go"{print $2; exit}' "$gomod")
go mod edit -go="$go_line" -require="k8s.io/kubernetes@$K8S_VERSION"
grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u | while read -r mod; do
  go mod edit -replace="$mod=$mod@$staging_version"
done
# k8s.io/legacy-cloud-providers was a staging module until 1.30, and the checksum database has no
# entry for its tags before v0.30, so the build cannot verify them. kube-apiserver only blank-imports
# its in-tree cloud providers to register them (never used here: no --cloud-provider), so a local
# module of empty provider packages stands in; the gce one defines the two legacy flags that
# kube-apiserver re-registers. The API server's own code (CRD schemas, CEL) is untouched.
if grep -q 'k8s.io/legacy-cloud-providers => ' "$gomod" && ! go list -m -versions k8s.io/legacy-cloud-providers 2>/dev/null | grep -qw "$staging_version"; then
  stub="$work/legacy-cloud-providers"
  for provider in aws azure gce vsphere; do
    mkdir -p "$stub/$provider"
    printf '// Package %s is empty: the in-tree cloud provider is not built.\npackage %s\n' "$provider" "$provider" \
      > "$stub/$provider/doc.go"
  done
  cat > "$stub/gce/flags.go" <<'GO'
package gce

import "flag"

// Registered by kube-apiserver as deprecated global flags; unused without the GCE provider.
var (
	_ = flag.String("cloud-provider-gce-lb-src-cidrs", "", "unused: the GCE cloud provider is not built")
	_ = flag.String("cloud-provider-gce-l7lb-src-cidrs", "", "unused: the GCE cloud provider is not built")
)
GO
  printf 'module k8s.io/legacy-cloud-providers\n\ngo 1.20\n' > "$stub/go.mod"
  go mod edit -replace="k8s.io/legacy-cloud-providers=$stub"
fi
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
go mod tidy -e >/dev/null 2>&1 || true
go get "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
pkg=k8s.io/component-base/version
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w -checklinkname=0 -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor \
 -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
echo "building kube-apiserver $K8S_VERSION ..." >&2
go build -mod=mod -tags tools -ldflags "$ldflags" -o "$out/kube-apiserver" "k8s.io/kubernetes/cmd/kube-apiserver"

etcd_version=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$gomod")
etcd_version=${etcd_version:-v3.5.9}
mkdir -p "$work/etcd" && cd "$work/etcd"
go mod init ltm.local/etcd-build >/dev/null 2>&1
go mod edit -go="$go_line"
go get "go.etcd.io/etcd/server/v3@$etcd_version" >/dev/null 2>&1
echo "building etcd $etcd_version ..." >&2
go build -ldflags "-s -w -checklinkname=0" -o "$out/etcd" go.etcd.io/etcd/server/v3

mkdir -p "$BIN_DIR"
for p in "${PROGRAMS[@]}"; do mv -f "$out/$p" "$BIN_DIR/$p"; done
echo "cold build took $(( $(date +%s) - started )) s" >&2
echo "$BIN_DIR"
