"""What one reconcile did (Outcome), and the Events it posts about it: pure, for the reconciler,
the operator's log and metrics, tests and benchmarks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtest_monitor.controller import status as st
from loadtest_monitor.controller.apply import CONFLICT, FAILED, PRUNED, WRITES, ChildResult
from loadtest_monitor.obj import Obj


@dataclass
class Outcome:
    """What one reconcile did; handlers log it, tests and benchmarks read it."""

    results: list[ChildResult] = field(default_factory=list)
    status_written: bool = False
    invalid: str = ""
    gone: bool = False  # the monitor no longer exists (or is being deleted)
    ready: bool = False  # the Ready condition this pass computed (for the operator's metrics)

    def _labels(self, *actions: str) -> list[str]:
        return [r.label for r in self.results if r.action in actions]

    @property
    def applied(self) -> list[str]:
        return self._labels(*(a for a in WRITES if a != PRUNED))

    @property
    def pruned(self) -> list[str]:
        return self._labels(PRUNED)

    @property
    def errors(self) -> list[str]:
        return [r.message for r in self.results if r.action == FAILED]

    @property
    def conflicts(self) -> list[str]:
        return [r.message for r in self.results if r.action == CONFLICT]

    @property
    def metric_label(self) -> str:
        """The outcome as the operator's metrics name it (metrics.OUTCOMES)."""
        if self.invalid:
            return "invalid"
        if self.errors:
            return "error"
        return "conflict" if self.conflicts else "ok"

    @property
    def ok(self) -> bool:
        """False asks for a retry in seconds (a conflict waits for the resync: a human must act)."""
        return not self.errors


def event_notes(monitor: Mapping[str, Any], merged: list[Obj], outcome: Outcome) -> list[tuple[str, str, str]]:
    """The Events one pass posts on the monitor, (type, reason, message): a change of Ready, what was
    applied or removed, and a state the user must act on."""
    before = {c.get("type"): c for c in (monitor.get("status") or {}).get("conditions") or []}.get(st.READY) or {}
    ready = merged[0]
    changed = any(before.get(k) != ready[k] for k in ("status", "reason", "message"))
    notes: list[tuple[str, str, str]] = []
    if outcome.invalid and changed:
        notes.append(("Warning", st.REASON_INVALID_SPEC, outcome.invalid))
    parts = []
    first = not (monitor.get("status") or {}).get("conditions")
    if outcome.applied and not first:  # the first pass creates everything: its Ready Event says so
        parts.append("applied " + ", ".join(outcome.applied))
    if outcome.pruned:
        parts.append("removed " + ", ".join(outcome.pruned))
    if parts:
        notes.append(("Normal", "Reconciled", "; ".join(parts)))
    # A state the user must act on (a missing admin Secret, a crash loop, a retention InfluxDB
    # refused ...) is a Warning once it starts; a conflict or a failed apply again whenever
    # its message names something else. Progressing is not a problem, InvalidSpec is above.
    started = any(before.get(k) != ready[k] for k in ("status", "reason"))
    again = changed and ready["reason"] in (st.REASON_NAME_CONFLICT, st.REASON_APPLY_FAILED)
    if (
        ready["status"] == "False"
        and ready["reason"] not in (st.REASON_PROGRESSING, st.REASON_INVALID_SPEC)
        and (started or again)
    ):
        notes.append(("Warning", ready["reason"], ready["message"]))
    elif changed and ready["status"] == "True":
        notes.append(("Normal", "Ready", ready["message"]))
    return notes
