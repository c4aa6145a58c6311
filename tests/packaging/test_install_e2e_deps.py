"""hack/install-e2e-deps.sh checks every program the e2e tests need on its own (issue 17: with
influxd present it skipped the `influx` client, and every e2e test then failed).

The script runs for real with PATH holding only stand-ins: `id` says a non-root user, so every
privileged step (apt-get, the service stop, the policy file) goes through a `sudo` that records it
and "installs" a package by putting its stand-in program on PATH. Nothing on the machine changes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaging.packaging_support import ROOT

SCRIPT = ROOT / "hack" / "install-e2e-deps.sh"
# The Typesafe Config jar the script fetches is made present, so its Maven step is skipped.
TYPESAFE_CONFIG_VERSION = re.search(r"^TYPESAFE_CONFIG_VERSION=(\S+)$", SCRIPT.read_text(), re.MULTILINE)[1]  # type: ignore[index]

STUBS = {
    "id": "echo 1000",
    "influxd": 'echo "InfluxDB v1.6.7~rc0 (git: unknown unknown)"',
    "influx": 'echo "InfluxDB shell version: 1.6.7~rc0"',
    "java": """echo 'openjdk version "17.0.15" 2025-04-15' >&2""",
    "java11": """echo 'openjdk version "11.0.25" 2024-10-15' >&2""",
    "javac": "exit 0",
    "mvn": 'echo "mvn $*" >> "$LOG"',
    # What each Debian package puts on PATH, unless INSTALL_FAILS names it.
    "sudo": """echo "sudo $*" >> "$LOG"
if [ "$1" = tee ]; then cat >/dev/null; fi
if [ "$1 $2" = "apt-get install" ]; then
  for package in "$@"; do
    case " $INSTALL_FAILS " in *" $package "*) continue ;; esac
    case "$package" in
      influxdb) cp "$STUBS/influxd" "$BIN/influxd" ;;
      influxdb-client) cp "$STUBS/influx" "$BIN/influx" ;;
      openjdk-17-jdk-headless) cp "$STUBS/java" "$BIN/java"; cp "$STUBS/javac" "$BIN/javac" ;;
      maven) cp "$STUBS/mvn" "$BIN/mvn" ;;
    esac
  done
fi""",
}
# Real programs the script uses itself.
REAL = ("dirname", "mktemp", "cp", "rm", "sed", "cat", "chmod")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    log: list[str]

    @property
    def installs(self) -> list[str]:
        return [line.removeprefix("sudo ") for line in self.log if line.startswith("sudo apt-get install")]


def run_script(tmp_path: Path, present: dict[str, str], install_fails: str = "") -> Run:
    """`present`: program name on PATH -> the stand-in it is."""
    stubs, bin_dir, log = tmp_path / "stubs", tmp_path / "bin", tmp_path / "log"
    for folder in (stubs, bin_dir, tmp_path / "tmp", tmp_path / "home"):
        folder.mkdir()
    for name, body in STUBS.items():
        (stubs / name).write_text(f"#!{shutil.which('bash')}\n{body}\n")
        (stubs / name).chmod(0o755)
    for name in REAL:
        real = shutil.which(name)
        assert real, name
        (bin_dir / name).symlink_to(real)
    for name, stub in {"id": "id", "sudo": "sudo", **present}.items():
        shutil.copy(stubs / stub, bin_dir / name)
    maven_repo = tmp_path / "m2"
    jar = maven_repo / "com/typesafe/config" / TYPESAFE_CONFIG_VERSION / f"config-{TYPESAFE_CONFIG_VERSION}.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"")
    log.write_text("")
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmp"),
        "LTM_MAVEN_REPO": str(maven_repo),
        "LOG": str(log),
        "STUBS": str(stubs),
        "BIN": str(bin_dir),
        "INSTALL_FAILS": install_fails,
    }
    proc = subprocess.run(
        [shutil.which("bash") or "bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, log.read_text().splitlines())


EVERYTHING = {"influxd": "influxd", "influx": "influx", "java": "java", "javac": "javac", "mvn": "mvn"}


def _without(*names: str) -> dict[str, str]:
    return {k: v for k, v in EVERYTHING.items() if k not in names}


def test_influxd_without_the_influx_client_installs_the_client(tmp_path: Path) -> None:
    run = run_script(tmp_path, _without("influx"))
    assert run.returncode == 0, run.stderr
    assert run.installs == ["apt-get install -y -q --no-install-recommends influxdb-client"]


def test_with_everything_present_nothing_is_installed_and_every_maven_step_runs(tmp_path: Path) -> None:
    run = run_script(tmp_path, EVERYTHING)
    assert run.returncode == 0, run.stderr
    assert not [line for line in run.log if "apt-get" in line]
    mvn = [line for line in run.log if line.startswith("mvn ")]
    assert len(mvn) == 6, mvn  # five Gatling versions and the flush agent (the jar of Typesafe Config is there)
    assert "ready" in run.stdout


@pytest.mark.parametrize(
    ("missing", "packages"),
    [
        (("influxd",), "influxdb"),
        (("javac",), "openjdk-17-jdk-headless"),  # a JRE alone cannot compile the Gatling project
        (("java", "javac", "mvn"), "openjdk-17-jdk-headless maven"),
        (tuple(EVERYTHING), "influxdb influxdb-client openjdk-17-jdk-headless maven"),
    ],
)
def test_each_missing_program_installs_its_package(tmp_path: Path, missing: tuple[str, ...], packages: str) -> None:
    run = run_script(tmp_path, _without(*missing))
    assert run.returncode == 0, run.stderr
    assert run.installs == [f"apt-get install -y -q --no-install-recommends {packages}"]


def test_a_java_older_than_17_gets_a_jdk_17(tmp_path: Path) -> None:
    run = run_script(tmp_path, {**EVERYTHING, "java": "java11"})
    assert run.returncode == 0, run.stderr
    assert run.installs == ["apt-get install -y -q --no-install-recommends openjdk-17-jdk-headless"]


def test_a_program_still_missing_after_the_install_fails_the_script_naming_it(tmp_path: Path) -> None:
    run = run_script(tmp_path, _without("influx"), install_fails="influxdb-client")
    assert run.returncode == 1
    assert "still missing after the install: influxdb-client" in run.stderr
    assert not [line for line in run.log if line.startswith("mvn ")]
