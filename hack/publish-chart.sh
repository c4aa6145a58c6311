#!/usr/bin/env bash
# Packages the Helm chart of a release and pushes it as an OCI artifact, the release workflow's
# chart step (.github/workflows/release.yml); the packaging tests run it against a local registry.
#
#   bash hack/publish-chart.sh REGISTRY_PATH VERSION
#
# REGISTRY_PATH  host[:port]/owner: where the release pushed its images
#                (REGISTRY_PATH/loadtest-monitor:VERSION); the chart goes to
#                oci://REGISTRY_PATH/charts/loadtest-monitor, tag VERSION.
# VERSION        the release (0.2.0): the chart's version and appVersion, so the chart installs the
#                image of the same release.
#
# The packaged copy's values.yaml gets `image.registry: REGISTRY_PATH`: the published chart pulls the
# published image without --set, while the chart in the repository names no registry host.
# Log in first (`helm registry login`). Environment: HELM (default: helm on PATH), HELM_PUSH_ARGS
# (extra `helm push` flags, e.g. --plain-http for a local registry without TLS).
# Prints the chart's reference (oci://…/loadtest-monitor:VERSION) on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 2 ]; then
  echo "usage: $0 REGISTRY_PATH VERSION   (e.g. $0 registry.example/acme 0.2.0)" >&2
  exit 2
fi
registry_path=${1%/}
version=${2#v}
helm=${HELM:-helm}
if ! [[ $registry_path =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)+$ ]]; then
  echo "REGISTRY_PATH '$registry_path': give host[:port]/owner in lowercase, without a scheme" >&2
  exit 2
fi
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
  echo "VERSION '$2': give a SemVer release such as 0.2.0 (a tag v0.2.0 is accepted)" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# -L: the chart's crds/ is a link to the repository's one CRD source; the package carries its content.
cp -RL charts/loadtest-monitor "$work/loadtest-monitor"
values="$work/loadtest-monitor/values.yaml"
python3 - "$values" "$registry_path" <<'PY'
import sys
from pathlib import Path

path, registry = Path(sys.argv[1]), sys.argv[2]
text = path.read_text()
line = '\n  registry: ""\n'
# Exactly one such line (under image:): a changed values.yaml must fail here, not ship unstamped.
if text.count(line) != 1:
    raise SystemExit(f"{path}: expected exactly one `  registry: \"\"` line under image:")
path.write_text(text.replace(line, f'\n  registry: "{registry}"\n'))
PY

"$helm" package "$work/loadtest-monitor" --version "$version" --app-version "$version" -d "$work" >&2
# shellcheck disable=SC2086  # HELM_PUSH_ARGS holds separate flags on purpose
"$helm" push "$work/loadtest-monitor-$version.tgz" "oci://$registry_path/charts" ${HELM_PUSH_ARGS:-} >&2
echo "oci://$registry_path/charts/loadtest-monitor:$version"
