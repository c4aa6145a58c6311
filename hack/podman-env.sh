#!/usr/bin/env bash
# Sets up podman for building and running the project's images without a Docker engine, and prints
# the environment that points podman at it (`eval "$(bash hack/podman-env.sh)"`). Idempotent.
#
#   - installs Debian's podman + runc (and mmdebstrap for the base-image stand-ins) if missing;
#   - writes containers.conf and storage.conf into the cache (outside the repository):
#       runtime runc (crun cannot run in cgroup hybrid mode), cgroupfs and a file events logger
#       (no systemd), host networking by default (the bridge would add interfaces and iptables
#       chains to the machine), and ulimits within this machine's hard limits (podman's defaults
#       ask for more, which a sandbox may refuse with "error setting rlimit");
#   - keeps image storage in the cache, so built images survive between runs.
#
# Environment: LTM_CACHE_DIR cache root (default: $XDG_CACHE_HOME or ~/.cache, then /loadtest-monitor).
set -euo pipefail

CACHE_ROOT=${LTM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/loadtest-monitor}
CONF_DIR="$CACHE_ROOT/containers"
# Runtime state on the runtime filesystem (gone at reboot, as podman expects), one per cache root.
RUN_ROOT="${XDG_RUNTIME_DIR:-/run}/loadtest-monitor/containers-$(printf '%s' "$CONF_DIR" | sha256sum | cut -c1-12)"
PACKAGES=(mmdebstrap podman buildah skopeo umoci runc uidmap)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "podman-env: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# Within the hard limits of this process: a container may not get more than the machine allows.
limit() { # limit HARD_VALUE WANTED
  if [ "$1" = unlimited ] || [ "$1" -ge "$2" ]; then echo "$2"; else echo "$1"; fi
}
nofile=$(limit "$(ulimit -Hn)" 65536)
nproc=$(limit "$(ulimit -Hu)" 8192)

mkdir -p "$CONF_DIR/storage" "$RUN_ROOT"
write_if_changed() { # write_if_changed FILE (content on stdin)
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat > "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}
write_if_changed "$CONF_DIR/containers.conf" <<EOF
# Written by hack/podman-env.sh; rewritten on every run.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "host"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$RUN_ROOT/libpod"
EOF
write_if_changed "$CONF_DIR/storage.conf" <<EOF
# Written by hack/podman-env.sh; rewritten on every run.
[storage]
driver = "overlay"
graphroot = "$CONF_DIR/storage"
runroot = "$RUN_ROOT/storage"
EOF

echo "export CONTAINERS_CONF='$CONF_DIR/containers.conf'"
echo "export CONTAINERS_STORAGE_CONF='$CONF_DIR/storage.conf'"
