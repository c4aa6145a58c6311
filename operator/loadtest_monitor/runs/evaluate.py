"""The one seam between the LoadtestRun controller and the data path: given the run, its pods and
its monitor, the verdict and the results (and, while it runs, the age of each runner's last point).

The controller calls nothing else of runs/: unit tests put a fake Evaluator here; the operator
uses InfluxEvaluator, which reads the monitor's InfluxDB with the read-only credentials the
operator generated for it (the Secret <monitor>-influxdb-auth), collects every runner's whole-run
summary (runs/results.py), merges them (runs/stats.py) and judges (runs/verdict.py).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from loadtest_monitor.identity import (
    ADMIN_PASSWORD_KEY,
    ADMIN_USER_KEY,
    READER_PASSWORD_KEY,
    READER_USER_KEY,
    ChildNames,
)
from loadtest_monitor.runs import pods as runner_pods
from loadtest_monitor.runs import results as influx_results
from loadtest_monitor.runs import stats, verdict
from loadtest_monitor.runs.influx import InfluxClient, InfluxError, endpoint
from loadtest_monitor.runs.model import Outcome, RunnerData, RunResults, Verdict
from loadtest_monitor.runs.status_results import results_from_status
from loadtest_monitor.settings import Settings
from loadtest_monitor.spec.monitor import parse_spec
from loadtest_monitor.spec.run import RunSpec

Obj = dict[str, Any]


@dataclass(frozen=True)
class Evaluation:
    verdict: Verdict
    results: RunResults | None = None
    #: Latest minus earliest start of the runners' Gatling runs (from their summaries): how
    #: together the synchronised start really was. None with fewer than two runners' spans.
    start_spread_s: float | None = None


def start_spread_s(data: Sequence[RunnerData]) -> float | None:
    starts = [d.start_ms for d in data if d.found and d.start_ms is not None]
    return (max(starts) - min(starts)) / 1000.0 if len(starts) > 1 else None


class Evaluator(Protocol):
    def evaluate(self, run: Obj, spec: RunSpec, pods: Sequence[Obj], monitor: Obj) -> Evaluation: ...

    def freshness(self, run: Obj, spec: RunSpec, pods: Sequence[Obj], monitor: Obj) -> dict[str, float | None]: ...


def since_ms(run: Mapping[str, Any]) -> int:
    """Summaries stamped from the run's start on count (the Job's creation, in status.startTime)."""
    raw = (run.get("status") or {}).get("startTime") or (run.get("metadata") or {}).get("creationTimestamp")
    when = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return int(when.timestamp() * 1000)


class InfluxEvaluator:
    """The real evaluation. `read` reads one object by (apiVersion, kind, namespace, name): the
    monitor's credentials Secret and the baseline runs."""

    def __init__(self, settings: Settings, read: Callable[[str, str, str, str], Obj | None]) -> None:
        self.settings = settings
        self.read = read

    def writer(self, monitor: Obj) -> tuple[InfluxClient, str]:
        """The monitor's InfluxDB as its admin (run annotations are written, not read) and its database."""
        return self._client(monitor, ADMIN_USER_KEY, ADMIN_PASSWORD_KEY)

    def _client(
        self, monitor: Obj, user_key: str = READER_USER_KEY, password_key: str = READER_PASSWORD_KEY
    ) -> tuple[InfluxClient, str]:
        meta = monitor["metadata"]
        names = ChildNames(meta["name"], meta["namespace"])
        secret = self.read("v1", "Secret", names.namespace, names.influxdb_auth_secret) or {}
        data = secret.get("data") or {}
        try:
            user = base64.b64decode(data[user_key]).decode()
            password = base64.b64decode(data[password_key]).decode()
        except (KeyError, ValueError) as err:
            raise InfluxError(f"Secret {names.influxdb_auth_secret} has no readable {err}") from None
        database = parse_spec(monitor.get("spec")).influxdb.database
        return InfluxClient(endpoint(names, self.settings), user, password, self.settings.request_timeout), database

    def _baselines(self, run: Obj, spec: RunSpec) -> dict[str, RunResults]:
        namespace = run["metadata"]["namespace"]
        out: dict[str, RunResults] = {}
        for name in sorted({c.baseline_run for c in spec.criteria if c.baseline_run}):
            other = self.read("loadtest.dev/v1alpha1", "LoadtestRun", namespace, name)
            found = results_from_status((other or {}).get("status") or {})
            if found is not None:
                out[name] = found
        return out

    def evaluate(self, run: Obj, spec: RunSpec, pods: Sequence[Obj], monitor: Obj) -> Evaluation:
        job = run["metadata"]["name"]
        by_index = runner_pods.runners(pods, spec.runners)
        expected = runner_pods.expected_names(job, by_index, spec.runners)
        outcomes = runner_pods.outcomes(job, by_index, spec.runners)
        try:
            client, database = self._client(monitor)
            data = influx_results.collect(client, database, expected, since_ms(run))
        except InfluxError as err:
            return Evaluation(Verdict(Outcome.ERROR, "ResultsUnreadable", f"cannot read the results: {err}"))
        found = [d for d in data if d.found]
        results = stats.compute(found) if found else None
        judged = verdict.judge(expected, data, outcomes, results, spec.criteria, self._baselines(run, spec))
        return Evaluation(judged, results, start_spread_s(data))

    def freshness(self, run: Obj, spec: RunSpec, pods: Sequence[Obj], monitor: Obj) -> dict[str, float | None]:
        by_index = runner_pods.runners(pods, spec.runners)
        names = [r.pod for r in by_index.values() if r.running]
        if not names:
            return {}
        try:
            client, database = self._client(monitor)
            return influx_results.freshness(client, database, names)
        except InfluxError:
            return {}  # freshness is a hint while the run goes on; the verdict reports errors
