"""The log-flush agent of the runner image (docker/gatling-runner/agent), built from its sources
and attached to a JVM with -javaagent, exactly as run.sh does.

Against stand-in classes with the shape of Gatling's log writer (the real Gatling 3.12-3.15 are
run with the agent in test_forward_versions.py, which checks that it installed and flushed):
the flush policy step by step; and against a writer of an unknown shape: untouched, one line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ltm_harness.runner_home import build_agent
from ltm_harness.tools import MissingTool, require_tool

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parent / "flush-agent-fixtures"
MAIN = "io.gatling.core.stats.writer.LogFileDataWriter"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build_agent(tmp_path_factory.mktemp("agent"))
    except (RuntimeError, MissingTool) as exc:
        pytest.fail(str(exc), pytrace=False)


def run_with_agent(agent: Path, fixture: str, tmp_path: Path, agent_args: str = "") -> subprocess.CompletedProcess[str]:
    classes = tmp_path / "classes"
    sources = sorted(str(p) for p in (FIXTURES / fixture).rglob("*.java"))
    javac = shutil.which("javac") or str(Path(require_tool("java")).resolve().parent / "javac")
    subprocess.run([javac, "-d", str(classes), *sources], check=True, capture_output=True, timeout=120)
    flag = f"-javaagent:{agent}" + (f"={agent_args}" if agent_args else "")
    return subprocess.run(
        [require_tool("java"), flag, "-cp", str(classes), MAIN], capture_output=True, text=True, timeout=60, check=False
    )


def steps(stdout: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in stdout.splitlines())


def test_flushes_on_the_writer_thread_after_a_second_then_when_idle_never_after_stop(agent, tmp_path):
    proc = run_with_agent(agent, "known", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[log-flush-agent] installed (flushes simulation.log at most 1000 ms after a record)" in proc.stderr
    seen = steps(proc.stdout)
    # A burst right after the first record: nothing flushed yet (the first second has not passed).
    assert seen["burst"] == "[]"
    # Steady traffic: flushed by the writer's own thread once the last flush is a second old, never
    # by the idle flusher (it only acts in silence). 1.5 s of records: exactly one such flush.
    steady = seen["steady"].strip("[]").split(", ")
    assert len(steady) == 1 and steady[0].startswith("writer:"), seen["steady"]
    # One more record, then silence: the idle flusher (its own thread, only while the writer thread
    # is outside the writer) flushes what waits, once.
    assert re.fullmatch(r"\[loadtest-monitor-log-flush:\d+\]", seen["idle"]), seen["idle"]
    # Gatling's own close flushes nothing left over, and nothing is flushed after the close.
    assert seen["stop"] == seen["after-stop"] == "[writer:0]"
    assert seen["records"] == str(5 + 75 + 1)  # every record reached the "file" exactly once
    assert "writer closed after 2 timed flushes" in proc.stderr


def test_unknown_writer_shape_is_left_untouched_with_one_line(agent, tmp_path):
    proc = run_with_agent(agent, "unknown", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "records 3"
    lines = [line for line in proc.stderr.splitlines() if "unknown shape" in line]
    assert len(lines) == 1, proc.stderr
    assert "not instrumented" in lines[0]


def test_bad_agent_argument_disables_the_agent_not_the_run(agent, tmp_path):
    proc = run_with_agent(agent, "known", tmp_path, agent_args="maxAgeMillis=5")
    assert proc.returncode == 0, proc.stderr
    assert "disabled, Gatling runs unchanged" in proc.stderr and "outside 100..60000" in proc.stderr
    # Uninstrumented: Gatling's own behaviour, only the close flushes.
    seen = steps(proc.stdout)
    assert seen["burst"] == seen["steady"] == "[]"
    assert seen["stop"] == "[writer:81]"
