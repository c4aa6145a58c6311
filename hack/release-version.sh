#!/usr/bin/env bash
# Checks that a release tag names the version every versioned file of the repository says, and prints
# that version: the release workflow's first step (a tag must never publish a chart, package or image
# whose versions disagree), and what to run before tagging.
#
#   bash hack/release-version.sh v0.2.0      # prints 0.2.0, or names each file that says otherwise
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 1 ] || ! [[ $1 =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
  echo "usage: $0 vX.Y.Z   (a tag such as v0.2.0)" >&2
  exit 2
fi
version=${1#v}

python3 - "$version" <<'PY'
import re
import sys
import tomllib
from pathlib import Path

import_version = re.search(r'^__version__ = "([^"]+)"', Path("operator/loadtest_monitor/__init__.py").read_text(), re.M)
chart = Path("charts/loadtest-monitor/Chart.yaml").read_text()
kustomization = Path("manifests/base/kustomization.yaml").read_text()


def field(text: str, key: str) -> str | None:
    match = re.search(rf'^\s*{key}:\s*"?([^"\s]+)"?\s*$', text, re.M)
    return match.group(1) if match else None


found = {
    "pyproject.toml project.version": tomllib.loads(Path("pyproject.toml").read_text())["project"]["version"],
    "operator/loadtest_monitor/__init__.py __version__": import_version.group(1) if import_version else None,
    "charts/loadtest-monitor/Chart.yaml version": field(chart, "version"),
    "charts/loadtest-monitor/Chart.yaml appVersion": field(chart, "appVersion"),
    "manifests/base/kustomization.yaml images newTag": field(kustomization, "newTag"),
}
wanted = sys.argv[1]
wrong = [f"{where} says {value}" for where, value in found.items() if value != wanted]
if wrong:
    sys.exit(f"tag v{wanted}, but " + "; ".join(wrong) + ": bump them together, then tag")
PY
echo "$version"
