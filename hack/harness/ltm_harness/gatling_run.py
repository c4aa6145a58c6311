"""Runs the Maven Gatling project (hack/harness/gatling-project) and reads Gatling's own results.

The project is copied to a temporary folder and the operator's rendered gatling.conf is written,
unchanged, to src/test/resources/gatling.conf there (Gatling 3.11 loads it from the classpath).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltm_harness.repo import REPO_ROOT
from ltm_harness.tools import require_tool

#: The Gatling project every real run of the harness compiles (Java DSL, gatling-maven-plugin).
PROJECT = REPO_ROOT / "hack" / "harness" / "gatling-project"
SIMULATION = "loadtestmonitor.e2e.DataPathSimulation"
SIMULATION_ID = "datapathsimulation"  # Gatling's id: the class' simple name, lower-cased


def sanitize(segment: str) -> str:
    """What Gatling's Graphite writer does to every path segment it adds."""
    return segment.replace(" ", "_").replace(".", "-").replace("\\", "-")


def mvn_command(*args: str) -> list[str]:
    return [require_tool("mvn"), "-B", "-q", *args]


def prepare_project(dest: Path, gatling_conf: str) -> Path:
    """Copies the Gatling project to dest, puts the rendered gatling.conf on its test classpath and
    compiles it, so that several runs (runners) can start from it at once without recompiling."""
    require_tool("java")
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(PROJECT, dest, ignore=shutil.ignore_patterns("target"))
    resources = dest / "src" / "test" / "resources"
    resources.mkdir(parents=True, exist_ok=True)
    (resources / "gatling.conf").write_text(gatling_conf)
    proc = subprocess.run(mvn_command("test-compile"), cwd=dest, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"compiling the Gatling project failed:\n{proc.stdout}\n{proc.stderr}")
    return dest


@dataclass
class GatlingRun:
    """One Gatling process (one "runner"), started with GATLING_RUNNER=<runner>."""

    project: Path
    runner: str
    base_url: str
    properties: dict[str, str] = field(default_factory=dict)
    simulation: str = SIMULATION
    proc: subprocess.Popen[str] | None = None
    started: float = 0.0
    finished: float = 0.0

    @property
    def results_folder(self) -> Path:
        return self.project / "target" / f"gatling-{self.runner}"

    @property
    def log_path(self) -> Path:
        return self.project / "target" / f"gatling-{self.runner}.log"

    def start(self) -> GatlingRun:
        env = dict(os.environ)
        env["GATLING_RUNNER"] = self.runner
        props = {
            "gatling.simulationClass": self.simulation,
            "gatling.resultsFolder": str(self.results_folder),
            "target.baseUrl": self.base_url,
            **self.properties,
        }
        args = mvn_command("gatling:test", *(f"-D{k}={v}" for k, v in sorted(props.items())))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        self.started = time.time()
        self.proc = subprocess.Popen(args, cwd=self.project, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        log.close()
        return self

    def wait(self, timeout: float = 300) -> GatlingResults:
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"Gatling run {self.runner} did not finish in {timeout}s:\n{self.log_tail()}") from None
        self.finished = time.time()
        if rc != 0:
            raise RuntimeError(f"Gatling run {self.runner} failed with {rc}:\n{self.log_tail()}")
        return GatlingResults.load(self.results_folder, self.runner)

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


@dataclass(frozen=True)
class RequestStats:
    """Gatling's own numbers for one request (or for all requests)."""

    groups: tuple[str, ...]
    name: str
    total: int
    ok: int
    ko: int
    stats: dict[str, Any]

    @property
    def graphite_group(self) -> str | None:
        """The `group` tag InfluxDB should hold: groups joined with '.', None outside groups."""
        return ".".join(sanitize(g) for g in self.groups) if self.groups else None

    @property
    def graphite_request(self) -> str:
        return sanitize(self.name)


@dataclass
class GatlingResults:
    runner: str
    run_dir: Path
    all_requests: RequestStats
    requests: list[RequestStats]

    @classmethod
    def load(cls, results_folder: Path, runner: str) -> GatlingResults:
        runs = sorted(p for p in results_folder.iterdir() if (p / "js" / "stats.json").is_file())
        if len(runs) != 1:
            raise RuntimeError(f"expected one Gatling report in {results_folder}, found {runs}")
        data = json.loads((runs[0] / "js" / "stats.json").read_text())
        requests = list(_walk(data, ()))
        return cls(runner, runs[0], _stats((), "allRequests", data["stats"]), requests)

    def by_key(self) -> dict[tuple[str | None, str], RequestStats]:
        return {(r.graphite_group, r.graphite_request): r for r in self.requests}


def _stats(groups: tuple[str, ...], name: str, stats: dict[str, Any]) -> RequestStats:
    n = stats["numberOfRequests"]
    return RequestStats(groups, name, int(n["total"]), int(n["ok"]), int(n["ko"]), stats)


def _walk(node: dict[str, Any], groups: tuple[str, ...]) -> Iterator[RequestStats]:
    for child in (node.get("contents") or {}).values():
        if child["type"] == "REQUEST":
            yield _stats(groups, child["name"], child["stats"])
        elif child["type"] == "GROUP":
            yield from _walk(child, (*groups, child["name"]))


@dataclass
class EmittedWindow:
    """One Graphite payload as Gatling logged it (logback-test.xml of the project): when it was
    handed to the sender, the epoch second it is stamped with, and its lines."""

    logged_at: str
    epoch: int
    lines: list[tuple[str, int]]

    def value(self, path_suffix: str) -> int | None:
        for path, value in self.lines:
            if path.endswith(path_suffix):
                return value
        return None


def emitted_windows(project: Path, runner: str) -> list[EmittedWindow]:
    log = project / "target" / f"graphite-{runner}.log"
    windows: list[EmittedWindow] = []
    current: EmittedWindow | None = None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("@"):
            current = None
            stamp, _, rest = line.partition(" ")
            if "GraphiteMetrics=" in rest:
                current = EmittedWindow(stamp[1:], 0, [])
                windows.append(current)
                line = rest.split("GraphiteMetrics=", 1)[1]
            else:
                continue
        if current is not None and line.strip():
            path, value, epoch = line.split()
            current.lines.append((path, int(value)))
            current.epoch = int(epoch)
    return windows


def lossy_same_second_flushes(windows: list[EmittedWindow]) -> dict[int, list[int]]:
    """Epoch seconds stamped on more than one payload where an earlier payload carried responses.

    Gatling stamps each flush with the current epoch second. A flush delayed past a second boundary
    (CPU starvation, GC, the first flushes of a cold JVM) shares its second with the next on-time
    flush of the fixed-rate timer, and the final flush at stop often shares the second of the last
    periodic one. InfluxDB keeps one point per series and timestamp: the later payload overwrites the
    earlier one, and the earlier window's counts are lost. Returns {epoch: [allRequests counts]}.
    """
    by_epoch: dict[int, list[int]] = {}
    for w in windows:
        by_epoch.setdefault(w.epoch, []).append(w.value("allRequests.all.count") or 0)
    return {e: counts for e, counts in by_epoch.items() if len(counts) > 1 and any(counts[:-1])}
