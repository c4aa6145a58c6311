"""The GitHub workflows: linted by a real actionlint, and what the release promises is in them.

actionlint is built from the Go module proxy at the version hack/build-tools.sh pins (`make tools`);
with shellcheck on PATH it also checks every `run:` script. A workflow GitHub would refuse, or a
`run:` block with a shell bug, fails here before a tag is pushed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.packaging_support import ROOT, actionlint_binary

WORKFLOWS = ROOT / ".github" / "workflows"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# Hosts of public registries: the project names its registry by repository variable, never in a file.
REGISTRY_HOSTS = re.compile(r"\b(ghcr\.io|docker\.io|quay\.io|gcr\.io|public\.ecr\.aws|registry\.k8s\.io)\b")


def load(name: str) -> dict[Any, Any]:
    return dict(yaml.safe_load((WORKFLOWS / name).read_text()))


def actionlint(folder: Path) -> subprocess.CompletedProcess[str]:
    files = sorted(str(p) for p in folder.glob("*.yml"))
    assert files, f"no workflows in {folder}"
    return subprocess.run([str(actionlint_binary()), "-no-color", *files], capture_output=True, text=True,
                          timeout=120, check=False)


def test_actionlint_passes_on_the_workflows() -> None:
    result = actionlint(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path) -> None:
    """The lint above is real: the same run flags an undefined job output and a shell bug."""
    broken = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, broken)
    text = (broken / "release.yml").read_text()
    text = text.replace("needs.plan.outputs.version }}/", "needs.plan.outputs.verison }}/", 1)
    (broken / "release.yml").write_text(text)
    result = actionlint(broken)
    assert result.returncode != 0
    assert "verison" in result.stdout


def test_every_action_is_pinned_by_commit_sha() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_name, job in load(path.name)["jobs"].items():
            for step in job.get("steps", []):
                if "uses" in step:
                    assert SHA_PIN.match(step["uses"]), f"{path.name} job {job_name}: {step['uses']} is not SHA-pinned"


def test_release_permissions_are_least_privilege() -> None:
    release = load("release.yml")
    assert release["permissions"] == {}, "the workflow's default grants nothing"
    grants = {name: job["permissions"] for name, job in release["jobs"].items()}
    assert grants == {
        "plan": {"contents": "read"},
        "images": {"contents": "read", "packages": "write"},
        "chart": {"contents": "read", "packages": "write"},
        "pypi": {"contents": "read", "id-token": "write"},  # trusted publishing: an OIDC token, no secret
        "github-release": {"contents": "write"},  # creates the release and attaches install.yaml
    }
    assert load("ci.yml")["permissions"] == {"contents": "read"}


def test_release_runs_on_version_tags_and_publishes_both_architectures() -> None:
    release = load("release.yml")
    assert release[True]["push"] == {"tags": ["v*"]}  # YAML 1.1 reads the key `on` as True
    build = next(s for s in release["jobs"]["images"]["steps"] if s.get("uses", "").startswith("docker/build-push"))
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["push"] is True
    assert build["with"]["file"] == "${{ matrix.dockerfile }}"
    assert build["with"]["context"] == "${{ matrix.context }}"
    assert build["with"]["build-args"] == "${{ matrix.build-args }}"
    pypi_steps = release["jobs"]["pypi"]["steps"]
    assert pypi_steps[-1]["uses"].startswith("pypa/gh-action-pypi-publish@")
    assert "with" not in pypi_steps[-1], "trusted publishing: no password input"


def test_release_and_make_images_build_the_same_images() -> None:
    """Both read hack/images.sh: every Dockerfile of docker/ is in it, with its context."""
    matrix = json.loads(subprocess.run(["bash", str(ROOT / "hack" / "images.sh"), "matrix"], capture_output=True,
                                       text=True, check=True).stdout)
    dockerfiles = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("docker/*/Dockerfile")}
    assert {m["dockerfile"] for m in matrix} == dockerfiles
    for entry in matrix:
        assert (ROOT / entry["context"]).is_dir()
    assert {m["image"] for m in matrix} == {"loadtest-monitor", "gatling-runner"}
    plan = load("release.yml")["jobs"]["plan"]
    assert any("bash hack/images.sh matrix" in s.get("run", "") for s in plan["steps"])
    assert "hack/images.sh list" in (ROOT / "hack" / "build-images.sh").read_text()


def test_ci_runs_the_projects_entry_point() -> None:
    steps = load("ci.yml")["jobs"]["test"]["steps"]
    assert any(".ci/run" in s.get("run", "") for s in steps)


@pytest.mark.parametrize("folder", [".github", "charts", "manifests", "docs", "hack", "operator/loadtest_monitor"])
def test_no_registry_host_is_written_in_the_repository(folder: str) -> None:
    offenders = []
    for path in sorted((ROOT / folder).rglob("*")):
        if path.is_file() and not path.is_symlink() and path.suffix not in {".pyc"}:
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if REGISTRY_HOSTS.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "registry host names in the repository (use a variable or input):\n" + "\n".join(offenders)
