"""The operator's log: no INFO line per watch event, one line per reconcile that changed something
or went wrong (issue 17: "Handler '_child_event' succeeded." thousands of times an hour).

The events go through kopf's own watch-event processing (the code that writes "Handler … succeeded.")
with the operator's registered handlers, inside `loadtest-monitor run` with only `kopf.run` replaced.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.structs import bodies, ephemera, patches, references
from kopf._core.actions import lifecycles, loggers
from kopf._core.intents import causes
from kopf._core.reactor import processing

from loadtest_monitor.cli.main import main
from loadtest_monitor.controller import handlers
from loadtest_monitor.controller.oplog import KOPF_OBJECTS_LOGGER, reconcile_summary
from loadtest_monitor.controller.reconcile import Outcome
from loadtest_monitor.identity import API_VERSION, GROUP, KIND, LABEL_INSTANCE, LABEL_MANAGED_BY, PLURAL, VERSION
from loadtest_monitor.settings import Settings

CHILD_EVENTS = 50
LABELS = {LABEL_MANAGED_BY: "loadtest-monitor", LABEL_INSTANCE: "checkout"}


@pytest.fixture
def restored_logging(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """kopf.configure changes the root logger; the filter lives on kopf's logger: undo both."""
    root, objects, aio = logging.getLogger(), logging.getLogger(KOPF_OBJECTS_LOGGER), logging.getLogger("asyncio")
    saved = (root.handlers[:], root.level, objects.filters[:], aio.handlers[:], aio.propagate)
    monkeypatch.setattr(handlers, "RUNTIME", None)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # cmd_run makes a scratch folder
    yield
    root.handlers[:], objects.filters[:], aio.handlers[:] = saved[0], saved[2], saved[3]
    root.setLevel(saved[1])
    aio.propagate = saved[4]


def _object(api_version: str, kind: str, name: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "perf", "uid": f"uid-{name}", "labels": LABELS}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


async def _deliver(raw: Any, group: str, version: str, plural: str) -> None:
    """One watch event through kopf's processing of @kopf.on.event handlers."""
    settings = kopf.OperatorSettings()
    body = bodies.Body(raw)
    resource = references.Resource(group=group, version=version, plural=plural, kind=raw["kind"], namespaced=True)
    cause = causes.WatchingCause(
        logger=loggers.LocalObjectLogger(body=body, settings=settings),
        indices={},
        memo=cast(Any, ephemera.Memo()),
        resource=resource,
        patch=patches.Patch(),
        body=body,
        type="MODIFIED",
        event={"type": "MODIFIED", "object": raw},
    )
    await processing.process_watching_cause(
        lifecycle=lifecycles.all_at_once, registry=kopf.get_default_registry(), settings=settings, cause=cause
    )


def _run_with_events(monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    """`loadtest-monitor run`, whose kopf.run delivers child and monitor events instead of watching."""

    async def events() -> None:
        for i in range(CHILD_EVENTS):
            await _deliver(_object("apps/v1", "Deployment", f"checkout-grafana-{i}"), "apps", "v1", "deployments")
            await _deliver(_object("v1", "Pod", f"checkout-grafana-{i}-x"), "", "v1", "pods")
        await _deliver(_object(API_VERSION, KIND, "checkout"), GROUP, VERSION, PLURAL)

    monkeypatch.setattr(kopf, "run", lambda **_: asyncio.run(events()))
    assert main(["run", *argv]) == 0


def _succeeded_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "succeeded." in line]


def test_child_and_monitor_events_log_nothing_at_info(
    restored_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_with_events(monkeypatch)
    err = capsys.readouterr().err
    assert _succeeded_lines(err) == [], f"{len(_succeeded_lines(err))} lines for {2 * CHILD_EVENTS + 1} events"


def test_verbose_still_shows_every_handler_call_at_debug(
    restored_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _run_with_events(monkeypatch, "--verbose")
    lines = _succeeded_lines(capsys.readouterr().err)
    # The monitor's event has two handlers: its own reconcile and its runs' (controller/run_handlers.py).
    assert len(lines) == 2 * CHILD_EVENTS + 2
    assert all("[DEBUG" in line for line in lines), lines[:3]
    assert {line.split("Handler ")[1] for line in lines} == {
        "'_child_event' succeeded.",
        "'monitor_event' succeeded.",
        "'monitor_event_for_runs' succeeded.",
    }


def test_a_failing_handler_is_still_an_error(
    restored_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(**_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(handlers, "_runtime", broken)
    _run_with_events(monkeypatch)
    err = capsys.readouterr().err
    assert "[ERROR" in err and "'_child_event' failed with an exception" in err and "boom" in err


# --- the reconcile's own line ---------------------------------------------------------------------


@dataclass
class _Result:
    applied: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    status_written: bool = False
    invalid: str = ""
    ready: bool = False


class _Reconciler:
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def reconcile(self, namespace: str, name: str) -> Outcome:
        return self.outcome


def _work_logs(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, outcome: Outcome) -> list[str]:
    runtime = handlers.Runtime(Settings.from_env({}))
    runtime.reconciler = _Reconciler(outcome)  # type: ignore[assignment]
    monkeypatch.setattr(handlers, "RUNTIME", runtime)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=handlers.log.name):
        handlers._work(("perf", "checkout"))
    return [f"{r.levelname} {r.getMessage()}" for r in caplog.records if r.name == handlers.log.name]


def test_a_reconcile_that_only_changed_the_status_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A monitor turning Ready changes only its status: a person wants that line."""
    lines = _work_logs(monkeypatch, caplog, Outcome(status_written=True, ready=True))
    assert lines == ["INFO reconciled perf/checkout: status written (Ready=True)"]


def test_a_reconcile_that_changed_nothing_logs_nothing_at_info(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert _work_logs(monkeypatch, caplog, Outcome(ready=True)) == []


def test_errors_conflicts_and_an_invalid_spec_are_warnings() -> None:
    level, text = reconcile_summary("perf", "checkout", _Result(errors=["Service checkout-grafana: 500"])) or (0, "")
    assert level == logging.WARNING and "errors: Service checkout-grafana: 500" in text
    level, _ = reconcile_summary("perf", "checkout", _Result(conflicts=["ConfigMap x is not ours"])) or (0, "")
    assert level == logging.WARNING
    invalid = _Result(status_written=True, invalid="influxdb.image: not 1.x")
    level, text = reconcile_summary("perf", "checkout", invalid) or (0, "")
    assert level == logging.WARNING and "invalid spec: influxdb.image: not 1.x" in text
    # The same invalid spec on the next resync wrote nothing: said once, not every two minutes.
    assert reconcile_summary("perf", "checkout", _Result(invalid="influxdb.image: not 1.x")) is None
    level, text = reconcile_summary("perf", "checkout", _Result(applied=["Deployment checkout-grafana"])) or (0, "")
    assert (level, text) == (logging.INFO, "reconciled perf/checkout: applied Deployment checkout-grafana")
