"""The runner image's layout for any Gatling version, built on this machine without an image.

docker/gatling-runner/Dockerfile compiles the Gatling project and lays it out as
GATLING_HOME/{conf,classes,lib,agent}; its run.sh starts Java on that classpath. The tests build the
same layout from the harness's gatling-project (compiled against the Gatling version under test, every
jar linked from the local Maven repository) and start the very same run.sh, so what they prove is
what the image runs: the runner identity reduction, the JVM flags per version and the flush agent.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ltm_harness.gatling_run import PROJECT, SIMULATION, mvn_command
from ltm_harness.repo import REPO_ROOT as ROOT
from ltm_harness.tools import require_tool

RUNNER_DIR = ROOT / "docker" / "gatling-runner"
RUN_SH = RUNNER_DIR / "run.sh"
AGENT_PROJECT = RUNNER_DIR / "agent"
JVM_FLAGS = RUNNER_DIR / "jvm-flags.sh"

# The versions the forwarder path is proven with (latest of each line; 3.12 has one release).
FORWARDER_VERSIONS = ("3.12.0", "3.13.5", "3.14.9", "3.15.1")
GRAPHITE_VERSION = "3.11.5"


def _run(args: list[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def build_agent(workdir: Path) -> Path:
    """Builds the log-flush agent from its sources (a copy, so the repository gets no target/)."""
    src = workdir / "agent-src"
    if not (src / "target" / "log-flush-agent.jar").is_file():
        if src.exists():
            shutil.rmtree(src)
        shutil.copytree(AGENT_PROJECT, src, ignore=shutil.ignore_patterns("target"))
        _run(mvn_command("-o", "package"), src, "building the log-flush agent")
    return src / "target" / "log-flush-agent.jar"


def image_jvm_flags(version: str, agent_jar: str) -> str:
    """The JVM flags the image bakes for this Gatling version (docker/gatling-runner/jvm-flags.sh)."""
    return _run(["sh", str(JVM_FLAGS), version, agent_jar], ROOT, "jvm-flags.sh").strip()


@dataclass(frozen=True)
class RunnerHome:
    """GATLING_HOME as the image lays it out, for one Gatling version."""

    version: str
    home: Path

    @property
    def conf(self) -> Path:
        return self.home / "conf" / "gatling.conf"


def build_runner_home(
    dest: Path, version: str, gatling_conf: str, agent_jar: Path | None, jvm_flags: bool = True
) -> RunnerHome:
    """Compiles the harness's gatling-project against `version` (offline: `make e2e-deps` fetched it)
    and lays it out like the image. agent_jar None: the image without the flush agent."""
    require_tool("java")
    if dest.exists():
        shutil.rmtree(dest)
    project = dest / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target"))
    cp_file = dest / "classpath.txt"
    _run(
        mvn_command(
            "-o", f"-Dgatling.version={version}", "test-compile", "dependency:build-classpath",
            "-Dmdep.includeScope=test", f"-Dmdep.outputFile={cp_file}",
        ),
        project,
        f"compiling the Gatling project against {version}",
    )
    home = dest / "home"
    (home / "conf").mkdir(parents=True)
    (home / "lib").mkdir()
    (home / "results").mkdir()
    shutil.copytree(project / "target" / "test-classes", home / "classes")
    for jar in cp_file.read_text().strip().split(os.pathsep):
        (home / "lib" / Path(jar).name).symlink_to(jar)
    (home / "conf" / "gatling.conf").write_text(gatling_conf)
    if agent_jar is not None:
        (home / "agent").mkdir()
        shutil.copy(agent_jar, home / "agent" / "log-flush-agent.jar")
    if jvm_flags:
        agent_path = str(home / "agent" / "log-flush-agent.jar") if agent_jar is not None else ""
        (home / "jvm-flags").write_text(image_jvm_flags(version, agent_path) + "\n")
    return RunnerHome(version, home)


@dataclass
class RunnerProcess:
    """One run of docker/gatling-runner/run.sh (one runner pod) on a RunnerHome."""

    runner_home: RunnerHome
    runner: str
    properties: dict[str, str]
    results: Path
    simulation: str = SIMULATION
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[str] | None = None
    started: float = 0.0
    finished: float = 0.0

    @property
    def console_log(self) -> Path:
        return self.results.parent / f"{self.results.name}.console.log"

    def start(self) -> RunnerProcess:
        self.results.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "GATLING_HOME": str(self.runner_home.home),
            "GATLING_SIMULATION": self.simulation,
            "GATLING_RESULTS_DIR": str(self.results),
            "GATLING_RUNNER": self.runner,
            "GATLING_VERSION": self.runner_home.version,
            "JAVA_OPTS": " ".join(
                ["-Xmx512m", "-Dgatling.data.enableAnalytics=false"]
                + [f"-D{k}={v}" for k, v in sorted(self.properties.items())]
            ),
            **self.extra_env,
        }
        log = self.console_log.open("w")
        self.started = time.time()
        self.proc = subprocess.Popen(
            ["sh", str(RUN_SH)],
            cwd=self.results.parent,  # logback-test.xml writes target/graphite-<runner>.log here
            env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        log.close()
        return self

    def wait(self, timeout: float = 300) -> Path:
        """Waits for the run to end; returns its run folder (simulation.log and the report)."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise RuntimeError(f"Gatling {self.runner} did not finish in {timeout}s:\n{self.log_tail()}") from None
        self.finished = time.time()
        if rc != 0:
            raise RuntimeError(f"Gatling {self.runner} exited {rc}:\n{self.log_tail()}")
        runs = sorted(p for p in self.results.iterdir() if (p / "simulation.log").is_file())
        if len(runs) != 1:
            raise RuntimeError(f"expected one Gatling run in {self.results}, found {runs}")
        return runs[0]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.console_log.read_text(errors="replace").splitlines()[-n:])

    def simulation_log(self) -> Path | None:
        logs = sorted(self.results.glob("*/simulation.log"))
        return logs[-1] if logs else None
