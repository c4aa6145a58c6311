"""The GitHub workflows: linted by a real actionlint, and what the release promises is in them.

actionlint is built from the Go module proxy at the version hack/build-tools.sh pins (`make tools`);
with shellcheck on PATH it also checks every `run:` script. A workflow GitHub would refuse, or a
`run:` block with a shell bug, fails here before a tag is pushed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.packaging_support import ROOT, actionlint_binary

WORKFLOWS = ROOT / ".github" / "workflows"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# Public registries' hosts (container images, Python, Maven, Go, npm), by the first 16 hex digits of
# their sha256: the project rule forbids writing those host names in its files, this test included.
# The project names its registry by repository variable (IMAGE_REGISTRY) and by name in the docs.
REGISTRY_HOST_HASHES = {
    "0fd460f0568e29c1", "3530c4415dd857fb", "dcb6cc3991f9799e", "5e9dacd3577946a2", "271dacc9f4d0caf8",
    "70cca582c4895337", "be2f919014d7cedb", "bd048f6f965d0e9c", "24f81de5fc499525", "a4aa2ac280bb8d1a",
    "9ab2ad663f3d2a5e", "c899567ee9068517", "317d2d52829b7812", "43c04ed1dabe979b", "00a7dc5a0cc38858",
    "0dc11026ac75c015",
}
DOMAIN = re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)+\b")


def registry_hosts_in(text: str) -> set[str]:
    found = set()
    for match in DOMAIN.finditer(text.lower()):
        parts = match.group(0).split(".")
        # Every dotted suffix: `x.ghcr-like.io/...` and `ghcr-like.io` alike.
        for start in range(len(parts) - 1):
            host = ".".join(parts[start:])
            if hashlib.sha256(host.encode()).hexdigest()[:16] in REGISTRY_HOST_HASHES:
                found.add(host)
    return found


def load(name: str) -> dict[Any, Any]:
    return dict(yaml.safe_load((WORKFLOWS / name).read_text()))


def actionlint(folder: Path) -> subprocess.CompletedProcess[str]:
    # Without shellcheck actionlint skips the `run:` scripts silently: a lint that checks less is a failure.
    assert shutil.which("shellcheck"), "shellcheck is missing: `make tools` (hack/build-tools.sh) installs it"
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
    typo = text.replace("tags: ${{ needs.plan.outputs.registry-path }}", "tags: ${{ needs.plan.outputs.registry-pth }}")
    assert typo != text
    (broken / "release.yml").write_text(typo)
    (broken / "ci.yml").write_text((broken / "ci.yml").read_text().replace("run: sudo env", "run: cd $UNSET; sudo env"))
    result = actionlint(broken)
    assert result.returncode != 0
    assert "registry-pth" in result.stdout
    assert "SC2086" in result.stdout  # shellcheck on the run: script: the unquoted variable


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
    assert {m["image"] for m in matrix} == {"loadtest-monitor", "gatling-runner", "gatling-runner-legacy"}
    # The runner is built twice: at the Dockerfile's default Gatling (3.15.1, the forwarder path)
    # and at 3.11.5 for the 3.11 example Job (Gatling's own Graphite writer).
    args = {m["image"]: m["build-args"] for m in matrix}
    assert args["gatling-runner"] == "" and args["gatling-runner-legacy"] == "GATLING_VERSION=3.11.5"
    plan = load("release.yml")["jobs"]["plan"]
    assert any("bash hack/images.sh matrix" in s.get("run", "") for s in plan["steps"])
    assert "hack/images.sh list" in (ROOT / "hack" / "build-images.sh").read_text()


def test_ci_runs_the_projects_entry_point() -> None:
    steps = load("ci.yml")["jobs"]["test"]["steps"]
    assert any(".ci/run" in s.get("run", "") for s in steps)


def test_the_host_check_finds_a_listed_host_in_a_reference() -> None:
    """The check below is real: with the hash of a made-up host (`.invalid` is reserved, RFC 2606) in
    the list, a reference under it or under a subdomain of it is found, and other hosts are not."""
    sentinel = "9ff14253640bc987"  # sha256("sentinel.registry.invalid")[:16]
    assert sentinel not in REGISTRY_HOST_HASHES
    REGISTRY_HOST_HASHES.add(sentinel)
    try:
        assert registry_hosts_in("image: sentinel.registry.invalid/acme/op:1") == {"sentinel.registry.invalid"}
        assert registry_hosts_in("mirror.sentinel.registry.invalid:5000/op") == {"sentinel.registry.invalid"}
        assert registry_hosts_in("image: example.org/x:1 and registry.invalid/x") == set()
    finally:
        REGISTRY_HOST_HASHES.discard(sentinel)


SCANNED = [".github", "charts", "manifests", "docs", "hack", "docker", "crds", "operator/loadtest_monitor",
           "tests", "bench", "README.md", "Makefile", "pyproject.toml", ".ci"]


@pytest.mark.parametrize("where", SCANNED)
def test_no_registry_host_is_written_in_the_repository(where: str) -> None:
    top = ROOT / where
    paths = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file() and not p.is_symlink())
    offenders = []
    for path in paths:
        if path.suffix in {".pyc", ".png", ".jar", ".class"}:
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            hosts = registry_hosts_in(line)
            if hosts:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {sorted(hosts)}")
    assert not offenders, "registry host names in the repository (use a variable or input):\n" + "\n".join(offenders)


def release_version(tag: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "hack" / "release-version.sh"), tag], capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_release_refuses_a_tag_that_the_versioned_files_do_not_say() -> None:
    """The workflow's first step: a tag of the current version passes, any other names every file."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert release_version(f"v{version}").stdout == f"{version}\n"
    wrong = release_version("v99.0.0")
    assert wrong.returncode == 1
    for where in ("pyproject.toml project.version", "operator/loadtest_monitor/__init__.py __version__",
                  "charts/loadtest-monitor/Chart.yaml version", "charts/loadtest-monitor/Chart.yaml appVersion",
                  "manifests/base/kustomization.yaml images newTag"):
        assert f"{where} says {version}" in wrong.stderr
    assert release_version("latest").returncode == 2
    plan = load("release.yml")["jobs"]["plan"]
    assert any('bash hack/release-version.sh "$TAG"' in s.get("run", "") for s in plan["steps"])
