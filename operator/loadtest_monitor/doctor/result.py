"""One check's result, and how results are printed (one line each) or dumped as JSON."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"  # worth knowing, blocks nothing
    FAIL = "fail"  # blocks: the exit code is 1


@dataclass(frozen=True)
class Check:
    status: Status
    title: str
    detail: str = ""
    fix: str = ""


def ok(title: str, detail: str = "") -> Check:
    return Check(Status.OK, title, detail)


def warn(title: str, detail: str, fix: str = "") -> Check:
    return Check(Status.WARN, title, detail, fix)


def fail(title: str, detail: str, fix: str) -> Check:
    return Check(Status.FAIL, title, detail, fix)


MARKS = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗"}
# For terminals and logs that are not UTF-8 (a CI log, LANG=C): the same lines in plain ASCII.
ASCII_MARKS = {Status.OK: "+", Status.WARN: "!", Status.FAIL: "x"}


def line(check: Check, ascii_only: bool = False) -> str:
    mark = (ASCII_MARKS if ascii_only else MARKS)[check.status]
    dash = "--" if ascii_only else "—"
    text = f"{mark} {check.title}"
    if check.detail:
        text += f": {check.detail}"
    if check.fix and check.status is not Status.OK:
        text += f" {dash} fix: {check.fix}"
    return text


def blocking(checks: Sequence[Check]) -> bool:
    return any(c.status is Status.FAIL for c in checks)


def as_json(checks: Sequence[Check]) -> str:
    """For pipelines: every check with its status, and whether something blocks."""
    items = [{"status": c.status.value, "title": c.title, "detail": c.detail, "fix": c.fix} for c in checks]
    return json.dumps({"ok": not blocking(checks), "checks": items}, indent=2)
