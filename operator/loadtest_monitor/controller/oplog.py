"""What the operator's log says at INFO: what a person reading it needs, and nothing per event.

kopf logs "Handler '<id>' succeeded." at INFO after every call of a watch-event handler. The
operator's event handlers only queue a reconcile, and every change of a child (a pod turning
Ready, a Deployment's status, our own status writes on the monitor) is an event: with a few
monitors that is thousands of INFO lines an hour that say nothing. Those lines are demoted to
DEBUG (shown with `run --verbose`); what stays at INFO or above is a reconcile that changed
something (children applied or pruned, the status written) and every error or conflict.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Protocol

#: The logger kopf's per-object messages (handler outcomes among them) are written to.
KOPF_OBJECTS_LOGGER = "kopf.objects"

# The exact text kopf 1.4x logs for a handler call that raised nothing (kopf/_core/actions/execution.py).
_SUCCEEDED = re.compile(r"Handler '(?P<id>[^']+)' succeeded\.")


class DemoteHandlerSuccess(logging.Filter):
    """Turns kopf's INFO "Handler '<id>' succeeded." of the given handlers into a DEBUG record.

    A logger's filters run after its level check, so the record was made at INFO: it is relabelled
    DEBUG and let through only when DEBUG is enabled for its logger (`run --verbose`), otherwise
    the handlers (which have no level of their own under kopf.configure) would still print it.
    Failures ("… failed with an exception …") are other texts at ERROR, and are never touched.
    """

    def __init__(self, handler_ids: Iterable[str]) -> None:
        super().__init__()
        self.handler_ids = frozenset(handler_ids)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        match = _SUCCEEDED.fullmatch(record.getMessage())
        if match is None or match["id"] not in self.handler_ids:
            return True
        record.levelno = logging.DEBUG
        record.levelname = logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_handler_successes(handler_ids: Iterable[str]) -> DemoteHandlerSuccess:
    """Installs the filter on kopf's object logger, replacing one installed before (idempotent:
    tests and a second `configure` never stack filters)."""
    logger = logging.getLogger(KOPF_OBJECTS_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, DemoteHandlerSuccess)]:
        logger.removeFilter(old)
    demote = DemoteHandlerSuccess(handler_ids)
    logger.addFilter(demote)
    return demote


class ReconcileResult(Protocol):
    """What the summary reads of reconcile.Outcome (kept structural so this module imports nothing
    of the controller)."""

    @property
    def applied(self) -> list[str]: ...
    @property
    def pruned(self) -> list[str]: ...
    @property
    def errors(self) -> list[str]: ...
    @property
    def conflicts(self) -> list[str]: ...

    status_written: bool
    invalid: str
    ready: bool


def reconcile_summary(namespace: str, name: str, outcome: ReconcileResult) -> tuple[int, str] | None:
    """The level and text of the one line a reconcile logs, or None when it changed nothing and
    nothing is wrong (the resync's passes over unchanged monitors and the coalesced child events
    must not log at all)."""
    parts: list[str] = []
    if outcome.applied:
        parts.append(f"applied {', '.join(outcome.applied)}")
    if outcome.pruned:
        parts.append(f"pruned {', '.join(outcome.pruned)}")
    if outcome.errors:
        parts.append(f"errors: {'; '.join(outcome.errors)}")
    if outcome.conflicts:
        parts.append(f"name conflicts: {'; '.join(outcome.conflicts)}")
    if outcome.status_written:
        parts.append(f"status written (Ready={outcome.ready})")
        if outcome.invalid:  # said once, when the status changes to it, not on every resync
            parts.append(f"invalid spec: {outcome.invalid}")
    if not parts:
        return None
    troubled = bool(outcome.errors or outcome.conflicts or (outcome.invalid and outcome.status_written))
    return (logging.WARNING if troubled else logging.INFO), f"reconciled {namespace}/{name}: {'; '.join(parts)}"
