#!/usr/bin/env bash
# Prints the kustomize base (CRD, namespace, RBAC, operator Deployment) with the operator image of
# a release: the `install.yaml` the release workflow attaches to the GitHub release, so that
#   kubectl apply --server-side -f <release>/install.yaml
# installs the released image. The base itself names no registry (kustomize `images:` keeps only
# the pinned tag); an overlay made here, outside the repository, adds the registry path.
#
#   bash hack/render-install.sh REGISTRY_PATH VERSION > install.yaml
#
# REGISTRY_PATH  host[:port]/owner, where the release pushed loadtest-monitor:VERSION
# Environment: KUSTOMIZE (default: kustomize on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ]; then
  echo "usage: $0 REGISTRY_PATH VERSION   (e.g. $0 registry.example/acme 0.2.0)" >&2
  exit 2
fi
registry_path=${1%/}
version=${2#v}
if ! [[ $registry_path =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)+$ ]]; then
  echo "REGISTRY_PATH '$registry_path': give host[:port]/owner in lowercase, without a scheme" >&2
  exit 2
fi
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
  echo "VERSION '$2': give a SemVer release such as 0.2.0 (a tag v0.2.0 is accepted)" >&2
  exit 2
fi

# A throw-away overlay outside the checkout. kustomize takes a base folder from anywhere, but only
# by a relative path.
overlay=$(mktemp -d "${TMPDIR:-/tmp}/ltm-install.XXXXXX")
trap 'rm -rf "$overlay"' EXIT
base=$(realpath --relative-to="$overlay" manifests/base)
cat > "$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $base
images:
  - name: loadtest-monitor
    newName: $registry_path/loadtest-monitor
    newTag: "$version"
YAML
"${KUSTOMIZE:-kustomize}" build "$overlay"
