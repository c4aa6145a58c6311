"""``loadtest-monitor run`` as a background process: shared by the demo, the tests and the benchmarks."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from ltm_harness.processes import Process, kill, spawn, terminate

#: SIGTERM lets kopf stop its watches cleanly; this long before SIGKILL.
STOP_GRACE = 20.0


class OperatorProcess:
    """``loadtest-monitor run --all-namespaces`` (the venv's, beside this interpreter) in its own
    process group, output appended to ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *extra_args: str) -> None:
        argv = [str(Path(sys.executable).parent / "loadtest-monitor"), "run", "--all-namespaces", *extra_args]
        self.popen = spawn(argv, log_path, env=env)
        self.log_path = log_path
        self.process = Process("loadtest-monitor", self.popen.pid, log=log_path, popen=self.popen)

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        """Its exit code once it has exited, else None."""
        return self.popen.poll()

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL if it lingers; reaped."""
        terminate([self.process], STOP_GRACE)

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a node failure would: no clean shutdown."""
        kill(self.process)


def stop_operator_pid(pid: int) -> None:
    """Stops an operator started by an earlier interpreter (the demo's, by its pid file)."""
    terminate([Process("loadtest-monitor", pid)], STOP_GRACE)
