"""Where the repository is: the harness is installed editable from it (``make install``), so the
build scripts, the CRDs and ``.cluster/`` are found next to this package."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
#: ``make cluster`` keeps the kubeconfig, state.json and the demo operator's pid and log here.
STATE_DIR = REPO_ROOT / ".cluster"
PROJECT_CRDS_DIR = REPO_ROOT / "crds"
#: The LoadtestMonitor CRD, the one file every layer applies or reads (the operator packages the same file).
MONITOR_CRD = PROJECT_CRDS_DIR / "loadtest.dev_loadtestmonitors.yaml"


def project_crds() -> list[Path]:
    """The project's CRD manifests (``crds/*.yaml``)."""
    return sorted(PROJECT_CRDS_DIR.glob("*.yaml"))
