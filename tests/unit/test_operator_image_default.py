"""Which operator image `up` installs when it is not told: the published package's, else the base's.

The release workflow writes `<registry>/<owner>` into the package it publishes to PyPI; a checkout has
no such file. The workflow's step and the code must name the same file, or a pipx-installed CLI would
quietly install `loadtest-monitor:<version>`, which no registry holds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loadtest_monitor import __version__
from loadtest_monitor.cli import install
from loadtest_monitor.cli.operator_image import choose as choose_operator_image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_recorded_push(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LTM_CONFIG_DIR", str(tmp_path / "config"))


def test_a_checkout_installs_the_bases_image(no_recorded_push) -> None:
    assert install.published_registry() is None
    assert choose_operator_image(None, None) == (f"loadtest-monitor:{__version__}", "")


def test_a_published_package_installs_the_released_image(no_recorded_push, monkeypatch, tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / install.PUBLISHED_REGISTRY_FILE).write_text("registry.example/acme\n")
    monkeypatch.setattr(install, "_package_data", lambda: data)
    assert choose_operator_image(None, "perf") == (f"registry.example/acme/loadtest-monitor:{__version__}", "")
    deployment = next(o for o in install.operator_objects() if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"registry.example/acme/loadtest-monitor:{__version__}")


def test_the_release_writes_the_file_the_package_reads_and_ships() -> None:
    release = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    build = next(s for s in release["jobs"]["pypi"]["steps"] if "python -m build" in s.get("run", ""))
    target = f"operator/loadtest_monitor/data/{install.PUBLISHED_REGISTRY_FILE}"
    assert f'"$REGISTRY_PATH" > {target}' in build["run"]
    assert "data/*" in (ROOT / "pyproject.toml").read_text(), "package data must include data/"
    assert target in (ROOT / ".gitignore").read_text().splitlines(), "never committed from a local try"
