"""The runner's one Graphite path segment (the rule agreed with the runner image's run.sh)."""

from __future__ import annotations

DEFAULT_RUNNER = "local"
MAX_RUNNER_CHARS = 63
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def runner_segment(name: str) -> str:
    """Every byte outside `[A-Za-z0-9_-]` becomes `-`, at most 63 of them, empty -> `local`.

    Byte by byte, as run.sh does with `tr`/`cut` in the C locale (a non-ASCII character of N UTF-8
    bytes becomes N dashes), so the runner image and the forwarder always agree. InfluxDB's
    templates expect exactly one segment here: a `.` in a pod name would shift every later one.
    """
    raw = name.encode("utf-8", "surrogateescape")  # environment values are bytes on Linux
    reduced = "".join(chr(b) if b in _SAFE else "-" for b in raw[:MAX_RUNNER_CHARS])
    return reduced or DEFAULT_RUNNER
