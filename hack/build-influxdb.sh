#!/usr/bin/env bash
# Builds influxd (InfluxDB 1.x, the line with the Graphite listener) from the Go module proxy into a
# cache outside the repository, keyed by version. A second run with the binary present does nothing.
# The binary is built into a staging directory and moved into place only at the end, so an
# interrupted build never leaves a cache that looks complete.
#
# InfluxDB needs Flux's Rust library; the pkg-config wrapper that influxdb's go.mod requires builds
# it with cargo when cgo asks for it. Two things need help on a current toolchain:
#   - Flux pins an old Rust in rust-toolchain.toml that rustup may not be able to fetch:
#     RUSTUP_TOOLCHAIN=stable overrides the pin;
#   - flux-core denies warnings, and newer rustc versions add lints: a RUSTC_WRAPPER appends
#     --cap-lints=warn (RUSTFLAGS does not reach build-dependencies when cargo gets --target).
#
# Environment:
#   INFLUXDB_VERSION  release to build (default below)
#   LTM_CACHE_DIR     cache root (default: $XDG_CACHE_HOME or ~/.cache, then /loadtest-monitor)
# Prints the binary directory on its last line.
set -euo pipefail

INFLUXDB_VERSION=${INFLUXDB_VERSION:-1.13.2}
CACHE_ROOT=${LTM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/loadtest-monitor}
BIN_DIR="$CACHE_ROOT/influxdb-$INFLUXDB_VERSION"
MODULE=github.com/influxdata/influxdb

if [ -x "$BIN_DIR/influxd" ] && "$BIN_DIR/influxd" version | grep -q "^InfluxDB $INFLUXDB_VERSION "; then
  echo "influxd $INFLUXDB_VERSION already built" >&2
  echo "$BIN_DIR"
  exit 0
fi

# rustup installs into ~/.cargo/bin, which a non-login shell (CI) may not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  PATH="$HOME/.cargo/bin:$PATH"
fi
for tool in go cargo cc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build-influxdb: '$tool' is required (Go, a Rust toolchain with cargo, a C compiler); install Rust with rustup" >&2
    exit 1
  fi
done

started=$(date +%s)
mkdir -p "$CACHE_ROOT"
work=$(mktemp -d)
staging="$CACHE_ROOT/.influxdb-$INFLUXDB_VERSION.staging.$$"
trap 'rm -rf "$work" "$staging"' EXIT
mkdir -p "$staging"

# The RUSTC_WRAPPER: cargo calls it as `wrapper rustc ARGS...`.
cat > "$work/rustc-cap-lints" <<'SH'
#!/bin/sh
rustc=$1
shift
for arg in "$@"; do
  case "$arg" in --cap-lints|--cap-lints=*) exec "$rustc" "$@" ;; esac
done
exec "$rustc" "$@" --cap-lints=warn
SH
chmod +x "$work/rustc-cap-lints"

export GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOFLAGS=-mod=mod CGO_ENABLED=1
export RUSTUP_TOOLCHAIN=${RUSTUP_TOOLCHAIN:-stable} RUSTC_WRAPPER="$work/rustc-cap-lints"

# A wrapper module that requires exactly this release.
mkdir -p "$work/build" && cd "$work/build"
go mod init ltm.local/influxdb-build >/dev/null 2>&1
gomod=$(go mod download -json "$MODULE@v$INFLUXDB_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
go_line=$(awk '$1=="go"{print $2; exit}' "$gomod")
pkgconfig_version=$(awk '$1=="github.com/influxdata/pkg-config"{print $2; exit}' "$gomod")
go mod edit -go="$go_line" -require="$MODULE@v$INFLUXDB_VERSION"
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/influxdata/influxdb/cmd/influxd"
GO
go get "$MODULE@v$INFLUXDB_VERSION" >/dev/null

# The pkg-config that builds libflux, at the version influxdb itself pins.
echo "building pkg-config $pkgconfig_version ..." >&2
GOBIN="$work/bin" go install "github.com/influxdata/pkg-config@$pkgconfig_version"
export PKG_CONFIG="$work/bin/pkg-config"

echo "building influxd $INFLUXDB_VERSION (Flux's Rust library first; minutes on a cold cache) ..." >&2
go build -trimpath -ldflags "-s -w -X main.version=$INFLUXDB_VERSION" \
  -o "$staging/influxd" "$MODULE/cmd/influxd"
"$staging/influxd" version | grep -q "^InfluxDB $INFLUXDB_VERSION " || {
  echo "build-influxdb: the built influxd reports $("$staging/influxd" version)" >&2
  exit 1
}

rm -rf "$BIN_DIR"
mv "$staging" "$BIN_DIR"
echo "cold build took $(( $(date +%s) - started )) s" >&2
echo "$BIN_DIR"
