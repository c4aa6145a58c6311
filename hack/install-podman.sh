#!/usr/bin/env bash
# Installs Debian's podman (with buildah and skopeo) when missing: `runner-image build|push` and its
# test need a container engine, and no Docker engine runs here. Idempotent; needs root or sudo.
set -euo pipefail
PACKAGES=(podman buildah skopeo uidmap)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "podman present: $(podman --version)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >&2
podman --version >&2
