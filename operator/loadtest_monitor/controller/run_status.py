"""PURE: the pieces of a LoadtestRun's status: phases, conditions, timestamps.

Complete and Passed follow the API conventions (type, status, reason, message,
lastTransitionTime, observedGeneration) so `kubectl wait --for=condition=Complete ltr/NAME`,
Argo CD and CI read them like any other condition. Complete is True once the run ended, whatever
the outcome (so a wait returns on an error too); Passed says which outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_monitor.controller.status import Condition, merge_conditions

Obj = dict[str, Any]

PENDING = "Pending"
STARTING = "Starting"
RUNNING = "Running"
EVALUATING = "Evaluating"
PASSED = "Passed"
FAILED = "Failed"
ERROR = "Error"
ENDED = frozenset({PASSED, FAILED, ERROR})

COMPLETE = "Complete"
PASSED_CONDITION = "Passed"


def rfc3339(epoch: float, *, millis: bool = False) -> str:
    when = dt.datetime.fromtimestamp(epoch, dt.UTC)
    if millis:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_of(text: Any) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def start_epoch(text: str) -> float | None:
    """The start-at annotation's epoch seconds, None when it is not one."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value > 0 else None


def conditions(phase: str, reason: str, message: str) -> list[Condition]:
    if phase in ENDED:
        complete = Condition(COMPLETE, "True", phase, message)
        passed = Condition(PASSED_CONDITION, "True" if phase == PASSED else "False", reason, message)
    else:
        complete = Condition(COMPLETE, "False", phase, message)
        passed = Condition(PASSED_CONDITION, "Unknown", phase, "the run has not ended")
    return [complete, passed]


def with_conditions(
    status: Mapping[str, Any], previous: Sequence[Mapping[str, Any]], generation: int, now: float
) -> Obj:
    """`status` (phase, reason, message set) with its conditions and observedGeneration."""
    out = dict(status)
    phase, reason, message = str(out["phase"]), str(out.get("reason") or ""), str(out.get("message") or "")
    out["conditions"] = merge_conditions(previous, conditions(phase, reason, message), generation, rfc3339(now))
    out["observedGeneration"] = generation
    return out
