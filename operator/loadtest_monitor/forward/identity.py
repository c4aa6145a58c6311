"""The runner's one Graphite path segment (the rule agreed with the runner image's run.sh)."""

from __future__ import annotations

import re

DEFAULT_RUNNER = "local"
MAX_RUNNER_CHARS = 63
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def runner_segment(name: str) -> str:
    """Every character outside `[A-Za-z0-9_-]` becomes `-`, at most 63 characters, empty -> `local`.

    InfluxDB's templates expect exactly one segment for the runner: a `.` in a pod name would
    otherwise shift every later segment (simulation, groups, request) by one.
    """
    reduced = _UNSAFE.sub("-", name)[:MAX_RUNNER_CHARS]
    return reduced or DEFAULT_RUNNER
