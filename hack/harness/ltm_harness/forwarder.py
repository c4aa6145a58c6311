"""`loadtest-monitor forward` as the runner pod's forwarder sidecar runs it, as a local process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: The console script installed beside this interpreter (the venv's), the sidecar's entry point.
FORWARD = str(Path(sys.executable).parent / "loadtest-monitor")


@dataclass
class Forwarder:
    """`loadtest-monitor forward` as the sidecar runs it: same gatling.conf, same GATLING_RUNNER."""

    gatling_conf: Path
    results: Path
    runner: str
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[str] | None = None

    @property
    def log(self) -> Path:
        return self.results.parent / f"forward-{self.runner}.log"

    def start(self) -> Forwarder:
        env = {k: v for k, v in os.environ.items() if k not in ("GATLING_RUNNER", "HOSTNAME")}
        env["GATLING_RUNNER"] = self.runner
        args = [FORWARD, "forward", "--gatling-conf", str(self.gatling_conf), "--results", str(self.results),
                *self.extra_args]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                                         start_new_session=True)
        return self

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError(f"forwarder {self.runner} did not end within {timeout}s:\n{self.tail()}") from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def terminate(self) -> bool:
        """SIGTERM, as the kubelet stops a sidecar; True if it was still running then."""
        assert self.proc is not None
        alive = self.proc.poll() is None
        if alive:
            self.proc.send_signal(signal.SIGTERM)
        return alive

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
