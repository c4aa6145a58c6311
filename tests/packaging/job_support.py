"""What the runner Job example tests share: a container's env, the init container's wait script run
here against a real port, and where the runner image wants gatling.conf."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.packaging.packaging_support import ROOT, stages

RUNNER_DIR = ROOT / "docker" / "gatling-runner"


def env_of(container: dict) -> list[dict]:
    return container.get("env") or []


def env_value(container: dict, name: str) -> dict:
    (entry,) = [e for e in env_of(container) if e["name"] == name]
    return entry


def run_wait_script(wait_container: dict, tmp_path: Path, port: int, timeout_s: int) -> subprocess.CompletedProcess:
    """Runs the init container's shell script here, with a stand-in `nc -z` that really connects."""
    stub = tmp_path / "nc"
    stub.write_text(
        f"#!{sys.executable}\n"
        "import socket, sys\n"
        "args = sys.argv[1:]\n"
        "assert '-z' in args, args\n"
        "host, port = args[-2], int(args[-1])\n"
        "try:\n"
        "    socket.create_connection((host, port), timeout=2).close()\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    stub.chmod(0o755)
    env = {
        "PATH": f"{tmp_path}:{os.environ['PATH']}",
        "GRAPHITE_HOST": "127.0.0.1",
        "GRAPHITE_PORT": str(port),
        "WAIT_TIMEOUT_SECONDS": str(timeout_s),
    }
    (shell, flag, script) = wait_container["command"]
    assert (shell, flag) == ("sh", "-c")
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)


def runner_conf_dir() -> str:
    """The first classpath entry of the runner image: where gatling.conf must appear."""
    env = " ".join(rest for ins, rest in stages(RUNNER_DIR / "Dockerfile")[-1] if ins == "ENV")
    home = re.search(r"GATLING_HOME=(\S+)", env)
    assert home
    classpath = re.search(r'-cp "([^"]+)"', (RUNNER_DIR / "run.sh").read_text())
    assert classpath
    return classpath.group(1).split(":")[0].replace("$GATLING_HOME", home.group(1))
