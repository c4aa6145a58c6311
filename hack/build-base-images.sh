#!/usr/bin/env bash
# Local stand-ins for the base images that docker/*/Dockerfile start FROM, built from Debian
# packages with mmdebstrap and tagged with exactly the names the Dockerfiles use, so that the
# unchanged Dockerfiles build with `--pull=never` on a machine that cannot reach an image registry.
# Real users build against the real base images; these only stand in for them here.
#
# Each stand-in carries a label with a hash of its recipe; a stand-in whose label matches is kept
# (podman's storage in the cache is the cache), so a second run does nothing.
# Needs root (mmdebstrap --mode=root) and the podman environment of hack/podman-env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash hack/podman-env.sh)"

LABEL=org.loadtest-monitor.stand-in
SUITE=bookworm
# Leaves out documentation; update-alternatives needs the man1 folder to exist all the same.
SLIM=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
      --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
      --essential-hook='mkdir -p "$1"/usr/share/man/man1')

# stand_in NAME PACKAGES CHANGE...: builds NAME from Debian SUITE with PACKAGES unless up to date.
stand_in() {
  local name=$1 packages=$2 recipe tar started
  shift 2
  recipe=$(printf '%s\n' "$SUITE" "$packages" "${SLIM[@]}" "$@" | sha256sum | cut -c1-16)
  if [ "$(podman image inspect --format "{{index .Labels \"$LABEL\"}}" "$name" 2>/dev/null)" = "$recipe" ]; then
    echo "stand-in $name is up to date" >&2
    return
  fi
  started=$(date +%s)
  echo "building stand-in $name from Debian $SUITE ($packages) ..." >&2
  tar=$(mktemp --suffix=.tar)
  trap 'rm -f "$tar"' EXIT
  # One more try on failure: a mirror hiccup should not fail a CI run.
  mmdebstrap --quiet --variant=minbase --mode=root --include="$packages" "${SLIM[@]}" "$SUITE" "$tar" ||
    mmdebstrap --quiet --variant=minbase --mode=root --include="$packages" "${SLIM[@]}" "$SUITE" "$tar"
  local changes=(--change "LABEL $LABEL=$recipe")
  for c in "$@"; do changes+=(--change "$c"); done
  podman import --quiet "${changes[@]}" "$tar" "$name" >/dev/null
  rm -f "$tar"
  echo "stand-in $name built in $(( $(date +%s) - started )) s" >&2
}

# The recipe follows the image's repository; the tag comes from the Dockerfiles themselves, so a
# tag bump there needs no edit here. An unknown base image is an error that names it.
stand_in_for() {
  case "$1" in
    python:*) # Debian bookworm's Python is 3.11, like the operator's base image.
      stand_in "$1" python3,python3-venv,python-is-python3,ca-certificates 'CMD ["python3"]' ;;
    maven:*) # a JDK 17 and Maven, for the runner's build stage.
      stand_in "$1" openjdk-17-jdk-headless,maven,ca-certificates 'CMD ["mvn"]' ;;
    eclipse-temurin:*) # a JDK 17, for the runner's runtime stage.
      stand_in "$1" openjdk-17-jdk-headless,ca-certificates 'CMD ["jshell"]' ;;
    *)
      echo "build-base-images: no Debian stand-in recipe for base image '$1' (add one here)" >&2
      exit 1 ;;
  esac
}

# Every FROM of every Dockerfile, except references to an earlier stage (FROM <stage>).
for dockerfile in docker/*/Dockerfile; do
  awk 'toupper($1)=="FROM" { img=$2; for (i=3;i<=NF;i++) if (toupper($i)=="AS") stage[$(i+1)]=1;
       if (!(img in stage)) print img }' "$dockerfile"
done | sort -u | while read -r image; do
  stand_in_for "$image"
done
