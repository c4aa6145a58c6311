"""`loadtest-monitor run` as a background process: shared by the demo, the tests and the benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path


def spawn_operator(env: Mapping[str, str], log_path: Path, *extra_args: str) -> subprocess.Popen[bytes]:
    """Starts the operator (all namespaces) in its own process group, output appended to log_path."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "loadtest-monitor"), "run", "--all-namespaces", *extra_args],
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def stop_process_group(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM to the group (kopf stops its watches cleanly), SIGKILL if it lingers."""
    if not alive(pid):
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:  # not our child (the demo's operator from an earlier run)
            if not alive(pid):
                return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
