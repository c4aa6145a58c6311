"""The CLI as a newcomer installs it (issue 17): the wheel built from this repository, installed
with its dependencies into a fresh virtual environment (what `pipx install` does), run from a
folder that is not the repository. `--help` lists every command, `examples` prints the shipped
manifests and `runner-image` finds its build context in the package.

The dependencies come from the package index through pip, as they would for a user (pip's cache
makes a repeat take about 45 s here). The source is copied first so that the build writes nothing
into the worktree.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest_monitor.cli.install import crd_objects
from loadtest_monitor.cli.main import build_parser
from tests.packaging.packaging_support import ROOT

# What the wheel is built from: pyproject's package, and the folders its install_manifests links reach.
SOURCES = ("pyproject.toml", "README.md", "operator", "crds", "manifests", "docker")


def _run(argv: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding the wheel and its dependencies."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():  # the package's links into crds/, manifests/, docker/ stay links
            shutil.copytree(ROOT / name, source / name, symlinks=True)
        else:
            shutil.copy2(ROOT / name, source / name)
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(source)],
                 root)
    assert built.returncode == 0, f"pip wheel failed:\n{built.stderr[-3000:]}"
    (wheel,) = (root / "dist").glob("loadtest_monitor-*.whl")
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], root)
    assert made.returncode == 0, made.stderr
    install = _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], root)
    assert install.returncode == 0, f"pip install of the wheel failed:\n{install.stderr[-3000:]}"
    check = _run([str(venv / "bin" / "pip"), "check"], root)
    assert check.returncode == 0, f"the installed dependencies conflict:\n{check.stdout}"
    return venv / "bin"


def test_help_lists_every_command(installed, tmp_path) -> None:
    result = _run([str(installed / "loadtest-monitor"), "--help"], tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert commands
    assert [c for c in commands if f"    {c} " not in result.stdout and f"    {c}\n" not in result.stdout] == []


def test_the_package_is_the_installed_one_not_the_repository(installed, tmp_path) -> None:
    where = _run([str(installed / "python"), "-c", "import loadtest_monitor; print(loadtest_monitor.__file__)"],
                 tmp_path)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout
    assert not Path(where.stdout.strip()).is_relative_to(ROOT)


def test_examples_are_listed_and_printed_from_the_package(installed, tmp_path) -> None:
    listed = _run([str(installed / "loadtest-monitor"), "examples"], tmp_path, timeout=120)
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.split("\n\n")[0].splitlines()]
    assert names == sorted(p.stem for p in (ROOT / "manifests" / "examples").glob("*.yaml"))
    for name in names:
        shown = _run([str(installed / "loadtest-monitor"), "examples", name], tmp_path, timeout=120)
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == (ROOT / "manifests" / "examples" / f"{name}.yaml").read_text()


def test_the_runner_build_context_and_install_manifests_are_in_the_package(installed, tmp_path) -> None:
    probe = (
        "from loadtest_monitor.cli.runner_image import packaged_runner_dir\n"
        "from loadtest_monitor.cli.install import crd_objects, operator_objects\n"
        "d = packaged_runner_dir()\n"
        "print(sorted(p.relative_to(d).as_posix() for p in d.rglob('*') if p.is_file()))\n"
        "print(len(crd_objects()), len(operator_objects()))\n"
    )
    result = _run([str(installed / "python"), "-c", probe], tmp_path)
    assert result.returncode == 0, result.stderr
    files_line, counts = result.stdout.strip().splitlines()
    runner = ROOT / "docker" / "gatling-runner"
    expected = sorted(
        p.relative_to(runner).as_posix() for p in runner.rglob("*")
        if p.is_file() and "target" not in p.relative_to(runner).parts
    )
    assert files_line == str(expected)
    # every CRD of the checkout (LoadtestMonitor, LoadtestRun) is in the wheel
    assert counts.split()[0] == str(len(crd_objects())) and int(counts.split()[1]) > 0
