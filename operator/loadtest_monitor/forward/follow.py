"""Finds the run's simulation.log under the results folder and reads it as Gatling writes it.

Gatling writes `<results>/<simulationId>-<yyyyMMddHHmmssSSS>/simulation.log` (the Maven plugin's
results folder is `target/gatling`); the folder may be mounted before Gatling creates anything, so
the follower waits for it. The newest log (by modification time) is followed.

When is the log complete? Neither format has an end marker: Gatling closes the file when the run
stops and then writes its HTML report from the finished log into the same folder. So the log is
complete once the run folder holds `index.html`, or once a newer run's log appears beside it.
Without reports (`-nr`), only SIGTERM ends the forwarder (a native sidecar receives it when the
Gatling container has exited).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from loadtest_monitor.forward.records import LogFormatError

LOG_NAME = "simulation.log"
REPORT_NAME = "index.html"
_SEARCH_DEPTH = 3  # <results>/<run>/simulation.log, or a Maven project's target/gatling/<run>/...
READ_CHUNK = 1 << 20


def find_logs(results: Path) -> list[Path]:
    """Every simulation.log up to three folders below `results`, oldest first."""
    found: list[tuple[float, str, Path]] = []
    if not results.is_dir():
        return []
    for root, dirs, files in os.walk(results):
        depth = len(Path(root).relative_to(results).parts)
        if depth >= _SEARCH_DEPTH:
            dirs[:] = []
        if LOG_NAME in files:
            path = Path(root) / LOG_NAME
            try:
                found.append((path.stat().st_mtime, str(path), path))
            except FileNotFoundError:
                continue
    return [p for _, _, p in sorted(found)]


@dataclass
class LogFollower:
    """Reads a growing file from where it left off."""

    path: Path
    offset: int = 0

    def read(self, limit: int = READ_CHUNK) -> bytes:
        """The next bytes Gatling appended, at most `limit` (a long log is taken in pieces)."""
        try:
            stream = self.path.open("rb")
        except OSError as err:
            reason = err.strerror or type(err).__name__
            raise LogFormatError(f"cannot read it any more ({reason}): was the run folder removed?") from None
        with stream:
            size = os.fstat(stream.fileno()).st_size
            if size < self.offset:
                raise LogFormatError(f"{self.path} shrank from {self.offset} to {size} bytes: it was rewritten")
            stream.seek(self.offset)
            chunk = stream.read(limit)
        self.offset += len(chunk)
        return chunk

    @property
    def run_folder(self) -> Path:
        return self.path.parent

    def complete(self, results: Path) -> bool:
        """True once Gatling wrote its report beside the log, or a newer run's log exists."""
        if (self.run_folder / REPORT_NAME).exists():
            return True
        logs = find_logs(results)
        return bool(logs) and logs[-1] != self.path and self.path in logs
