"""The programs the ``hack/build-*.sh`` scripts build into the cache outside the repository."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ltm_harness.errors import ClusterError
from ltm_harness.repo import REPO_ROOT

BUILD_SCRIPT = REPO_ROOT / "hack" / "build-control-plane.sh"
FLOOR_BUILD_SCRIPT = REPO_ROOT / "hack" / "build-apiserver.sh"
PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """The cache every build script fills: LTM_CACHE_DIR, else $XDG_CACHE_HOME (or ~/.cache)/loadtest-monitor."""
    env = os.environ if env is None else env
    if env.get("LTM_CACHE_DIR"):
        return Path(env["LTM_CACHE_DIR"])
    xdg = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".cache")
    return Path(xdg) / "loadtest-monitor"


@dataclass(frozen=True)
class Binaries:
    """The programs of one control-plane build (see ``hack/build-control-plane.sh``)."""

    bin_dir: Path

    def path(self, program: str) -> Path:
        return self.bin_dir / program

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def kwok_stages(self) -> Path:
        return self.bin_dir / "kwok-stages"

    def missing(self) -> list[str]:
        """Names of the programs (or the stage directory) that are not there."""
        missing = [p for p in PROGRAMS if not os.access(self.path(p), os.X_OK)]
        if not self.kwok_stages.is_dir() or not any(self.kwok_stages.glob("*.yaml")):
            missing.append("kwok-stages/")
        return missing


def _script_default(name: str) -> str:
    """The default value the build script gives ``name`` (one source of truth for versions)."""
    text = BUILD_SCRIPT.read_text()
    match = re.search(rf"^{name}=\$\{{{name}:-([^}}]+)\}}", text, re.MULTILINE)
    if not match:
        raise ClusterError(f"cannot read the default {name} from {BUILD_SCRIPT}")
    return match.group(1)


def kubernetes_version(env: Mapping[str, str] | None = None) -> str:
    """The Kubernetes release the binaries are built at (K8S_VERSION or the build script's default)."""
    env = os.environ if env is None else env
    return env.get("K8S_VERSION") or _script_default("K8S_VERSION")


def default_bin_dir(env: Mapping[str, str] | None = None) -> Path:
    """The directory the build script writes to, computed exactly the way the script does."""
    env = os.environ if env is None else env
    k8s = kubernetes_version(env)
    kwok = env.get("KWOK_VERSION") or _script_default("KWOK_VERSION")
    return cache_root(env) / "control-plane" / f"k8s-{k8s}-kwok-{kwok}"


def run_build_script(script: Path) -> Path:
    """Runs a build script (quick when its output is cached) and returns the directory it printed last."""
    proc = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise ClusterError(f"{script.name} failed with exit code {proc.returncode}")
    return Path(lines[-1])


def find_binaries() -> Binaries:
    """Locate the control-plane programs ``make control-plane`` built.

    Raises ClusterError naming what is missing (and how to build it) when they are not there.
    """
    binaries = Binaries(default_bin_dir())
    missing = binaries.missing()
    if missing:
        raise ClusterError(
            f"control-plane binaries missing in {binaries.bin_dir}: {', '.join(missing)}; "
            "build them with `make control-plane` (hack/build-control-plane.sh)"
        )
    return binaries


def floor_apiserver_dir() -> Path:
    """etcd and kube-apiserver of the oldest Kubernetes the docs state (``make floor-apiserver``)."""
    return run_build_script(FLOOR_BUILD_SCRIPT)
