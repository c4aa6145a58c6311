"""One pass over one LoadtestRun: from what the cluster reports, the next step and the status.

    Pending     the monitor is missing or not Ready: wait, up to startTimeout (-> Error MonitorNotReady)
    Starting    the Job is created, its runner pods come up (each waits in its start gate)
    Running     every runner ran: one start time set on every pod (loadtest.dev/start-at)
    Evaluating  every runner ended: the results are read and judged (runs/evaluate.py)
    Passed | Failed | Error

A runner that ends or is stuck before the start, or that does not run within startTimeout,
fails the run (RunnerFailed) and stops the others (the Job's deadline is cut short: the pods of
runners that did run stay for their logs). An ended run is never touched again: its status, with
the results, outlives the Job's TTL. Each phase change posts one Event on the run.

Idempotent: the Job is created create-only and recognised by its ownerReference; a pass after a
crash finds it and goes on. Timestamps come from the status, never from memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from loadtest_monitor.controller import run_status as rs
from loadtest_monitor.controller.run_marks import NoMarks, RunMarks
from loadtest_monitor.controller.status import status_patch
from loadtest_monitor.identity import (
    ACTIVE_RUNS_FINALIZER,
    API_VERSION,
    GRAPHITE_PORT,
    KIND,
    RUN_KIND,
    START_AT_ANNOTATION,
    ChildNames,
)
from loadtest_monitor.kube.client import KubeError
from loadtest_monitor.render.run_job import RunJobContext, render_job
from loadtest_monitor.runs import pods as rp
from loadtest_monitor.runs.evaluate import Evaluator
from loadtest_monitor.runs.model import Outcome
from loadtest_monitor.runs.status_results import criteria_to_status, results_to_status
from loadtest_monitor.settings import Settings
from loadtest_monitor.spec.monitor import SpecError, parse_spec
from loadtest_monitor.spec.run import RunSpec, parse_run_spec

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: While a run runs, the age of each runner's last point is refreshed this often.
FRESHNESS_SECONDS = 15.0
EVALUATE_RETRY_SECONDS = 3.0


class Client(Protocol):
    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None: ...

    def apply(self, obj: Mapping[str, Any], *, uid: str | None = None) -> Obj: ...

    def delete(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> None: ...

    def merge_patch(self, api_version: str, kind: str, namespace: str, name: str, patch: Mapping[str, Any]) -> Obj: ...

    def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any], kind: str = KIND) -> Obj: ...

    def post_event(self, involved: Mapping[str, Any], event_type: str, reason: str, message: str) -> None: ...


class Reads(Protocol):
    """What the watches know (controller/run_handlers.py), read without a request."""

    def run(self, namespace: str, name: str) -> Obj | None: ...

    def monitor(self, namespace: str, name: str) -> Obj | None: ...

    def job(self, namespace: str, name: str) -> Obj | None: ...

    def pods(self, namespace: str, run: str) -> list[Obj]: ...

    def runs(self, namespace: str) -> list[Obj]: ...


@dataclass
class RunPass:
    phase: str = ""
    requeue_after: float | None = None
    gone: bool = False
    monitor: str = ""


def monitor_ready(monitor: Mapping[str, Any] | None, name: str) -> tuple[bool, str]:
    """(ready, why not): Ready=True for the monitor's current generation, and not being deleted."""
    if monitor is None:
        return False, f"LoadtestMonitor {name} does not exist in this namespace"
    meta = monitor.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False, f"LoadtestMonitor {name} is being deleted"
    status = monitor.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready is None or ready.get("status") != "True":
        why = f": {ready.get('reason')}: {ready.get('message')}" if ready else ""
        return False, f"LoadtestMonitor {name} is not Ready{why}"
    if status.get("observedGeneration") != meta.get("generation"):
        return False, f"LoadtestMonitor {name} has changes not yet applied"
    return True, ""


def is_active(run: Mapping[str, Any]) -> bool:
    return (run.get("status") or {}).get("phase") not in rs.ENDED


def monitor_of(run: Mapping[str, Any]) -> str:
    return str(((run.get("spec") or {}).get("monitorRef") or {}).get("name") or "")


class RunReconciler:
    def __init__(
        self,
        client: Client,
        reads: Reads,
        evaluator: Evaluator,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        marks: RunMarks | None = None,
    ) -> None:
        self.client = client
        self.reads = reads
        self.evaluator = evaluator
        self.settings = settings
        self.clock = clock
        self.marks: RunMarks = marks or NoMarks()  # dashboard annotations and run metrics
        # Per-run state (_freshness_at, _blocked_told, _written) is keyed by the run, and the work queue
        # never hands one run to two workers at once: each entry has one owner, the worker holding that
        # run; the dicts only see single-key operations. State shared across runs takes _hold_lock.
        self._freshness_at: dict[tuple[str, str], float] = {}
        self._blocked_told: dict[tuple[str, str], tuple[str, ...]] = {}
        # The answer to our last status write per run, until the watch delivers that version:
        # a pass right after a write must not act on the status from before it (a second start time).
        self._written: dict[tuple[str, str], Obj] = {}
        # Two workers reconcile two runs at once; runs of one monitor share its finalizer and its
        # "deletion waits" notice: one hold check at a time (it reads the store, writes rarely).
        self._hold_lock = threading.Lock()

    # --- one pass ------------------------------------------------------------------------------

    def reconcile(self, namespace: str, name: str) -> RunPass:
        outcome = self._reconcile(namespace, name)
        self._tell(self.marks.seen, namespace, name, outcome.monitor, None if outcome.gone else outcome.phase)
        return outcome

    def _reconcile(self, namespace: str, name: str) -> RunPass:
        run = self.reads.run(namespace, name)
        if run is None:
            self._freshness_at.pop((namespace, name), None)
            self._written.pop((namespace, name), None)
            return RunPass(gone=True)
        run = self._newest(run)
        status = dict(run.get("status") or {})
        monitor_name = monitor_of(run)
        phase = str(status.get("phase") or "")
        if phase in rs.ENDED:
            self.hold_monitor(namespace, monitor_name)
            return RunPass(phase=phase, monitor=monitor_name)
        try:
            spec = parse_run_spec(run.get("spec"), name)
        except SpecError as err:
            return self._finish(run, status, rs.ERROR, "InvalidSpec", str(err))
        step = self._step(run, status, spec)
        self.hold_monitor(namespace, spec.monitor)
        return step

    def _newest(self, watched: Obj) -> Obj:
        key = (watched["metadata"]["namespace"], watched["metadata"]["name"])
        written = self._written.get(key)
        if written is None:
            return dict(watched)
        if written["metadata"].get("uid") != watched["metadata"].get("uid") or _rv(watched) >= _rv(written):
            del self._written[key]  # the watch caught up (or the run was replaced)
            return dict(watched)
        return dict(written)

    def _step(self, run: Obj, status: Obj, spec: RunSpec) -> RunPass:
        meta = run["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        now = self.clock()
        monitor = self.reads.monitor(namespace, spec.monitor)
        job = self.reads.job(namespace, name)
        if job is None and status.get("job"):
            job = self.client.get("batch/v1", "Job", namespace, name)  # the watch may lag behind
        if job is not None and not _owned_by(job, meta.get("uid", "")):
            return self._finish(
                run, status, rs.ERROR, "NameConflict", f"a Job named {name} exists and is not this run's: delete it"
            )
        if job is None and status.get("job"):
            return self._finish(
                run,
                status,
                rs.ERROR,
                "JobDeleted",
                f"the Job {name} was deleted before the run ended; create a new LoadtestRun to run again",
            )
        if job is None:
            return self._pending_or_create(run, status, spec, monitor, now)
        pods = self.reads.pods(namespace, name)
        by_index = rp.runners(pods, spec.runners)
        if not status.get("startAt"):
            return self._starting(run, status, spec, job, by_index, now)
        return self._running(run, status, spec, job, pods, by_index, monitor, now)

    def _pending_or_create(self, run: Obj, status: Obj, spec: RunSpec, monitor: Obj | None, now: float) -> RunPass:
        created = rs.epoch_of(run["metadata"].get("creationTimestamp")) or now
        if monitor is not None and (monitor.get("metadata") or {}).get("deletionTimestamp"):
            # A run not started yet does not hold its monitor's deletion: it ends here.
            return self._finish(
                run,
                status,
                rs.ERROR,
                "MonitorDeleted",
                f"LoadtestMonitor {spec.monitor} is being deleted: the run did not start",
            )
        ready, why = monitor_ready(monitor, spec.monitor)
        if not ready or monitor is None:
            deadline = created + spec.start_timeout_seconds
            if now >= deadline:
                return self._finish(
                    run,
                    status,
                    rs.ERROR,
                    "MonitorNotReady",
                    f"{why}; gave up after startTimeout ({spec.start_timeout_seconds}s): make the monitor Ready "
                    "(kubectl describe ltm) and create a new LoadtestRun",
                )
            # A message that does not change from pass to pass: the status is written once.
            message = f"waiting: {why}; gives up at {rs.rfc3339(deadline)} (startTimeout)"
            self._write(run, status, {"phase": rs.PENDING, "reason": "MonitorNotReady", "message": message})
            return RunPass(rs.PENDING, requeue_after=max(1.0, deadline - now), monitor=spec.monitor)
        try:
            ctx = self._job_context(run, spec, monitor)
        except SpecError as err:
            return self._finish(run, status, rs.ERROR, "MonitorInvalid", f"LoadtestMonitor {spec.monitor}: {err}")
        # The monitor's deletion waits for this run from before its Job exists.
        self.hold_monitor(run["metadata"]["namespace"], spec.monitor, extra_active=run["metadata"]["name"])
        try:
            made = self.client.apply(render_job(ctx))
        except KubeError as err:
            if err.status == 409:  # ours, made by a pass the watch has not caught up with
                return RunPass(rs.STARTING, requeue_after=1.0, monitor=spec.monitor)
            # Refused as it is, retrying cannot help. Kubernetes before 1.29 does not know the
            # Job's backoffLimitPerIndex (nor native sidecars): 1.27 answers a server-side apply
            # with such fields 500 "field not declared in schema" (tests/integration/test_validation_floor.py).
            too_old = "backoffLimitPerIndex" in str(err)
            if too_old or err.status in (400, 422):
                return self._finish(
                    run,
                    status,
                    rs.ERROR,
                    "KubernetesTooOld" if too_old else "JobRefused",
                    f"the API server refused the run's Job: {err}"
                    + ("; LoadtestRun needs Kubernetes 1.29 or later (Job backoffLimitPerIndex)" if too_old else ""),
                )
            raise
        if made.get("spec", {}).get("backoffLimitPerIndex") is None:
            # An API server without per-index backoff dropped the field: one runner's exit 2 would
            # fail the Job and kill the others, and failed runners would be retried. Refuse.
            self.client.delete("batch/v1", "Job", ctx.namespace, ctx.run, made["metadata"]["uid"])
            return self._finish(
                run,
                status,
                rs.ERROR,
                "KubernetesTooOld",
                "LoadtestRun needs Kubernetes 1.29 or later (Job backoffLimitPerIndex): this API server dropped it",
            )
        self._write(
            run,
            status,
            {
                "phase": rs.STARTING,
                "reason": "RunnersStarting",
                "message": f"Job {ctx.run} created; waiting for {spec.runners} runner(s) to run",
                "job": ctx.run,
                "startTime": rs.rfc3339(now),
                "runners": rp.Counts(spec.runners, 0, 0, 0, 0).as_status(),
                "runnersSummary": f"0/{spec.runners}",
            },
        )
        return RunPass(rs.STARTING, requeue_after=float(spec.start_timeout_seconds), monitor=spec.monitor)

    def _job_context(self, run: Obj, spec: RunSpec, monitor: Obj) -> RunJobContext:
        mon_spec = parse_spec(monitor.get("spec"))
        meta = run["metadata"]
        names = ChildNames(spec.monitor, meta["namespace"])
        return RunJobContext(
            run=meta["name"],
            namespace=meta["namespace"],
            uid=meta.get("uid", ""),
            spec=spec,
            graphite_host=names.service_fqdn(names.graphite_service, self.settings.cluster_domain),
            graphite_port=GRAPHITE_PORT,
            graphite_tcp=mon_spec.graphite.protocol == "tcp",
            gatling_config_map=names.gatling_config,
            forwarder_image=self.settings.forwarder_image,
            wait_image=self.settings.wait_image,
            runner_labels=dict(mon_spec.graphite.runner_pod_selector),
        )

    def _starting(
        self, run: Obj, status: Obj, spec: RunSpec, job: Obj, by_index: Mapping[int, rp.Runner], now: float
    ) -> RunPass:
        started = rs.epoch_of(status.get("startTime")) or rs.epoch_of(job["metadata"].get("creationTimestamp")) or now
        counted = rp.counts(by_index, spec.runners)
        broken = [r for r in by_index.values() if r.ended or r.stuck]
        if broken:
            self._stop(job, now)
            what = ", ".join(f"{r.pod} ({_why(r)})" for r in broken)
            return self._finish(
                run,
                status,
                rs.FAILED,
                "RunnerFailed",
                f"runner failed before the start: {what}",
                counted=counted,
                by_index=by_index,
            )
        if rp.all_running(by_index, spec.runners):
            # A start time already on a pod (a pass whose status write failed) is kept: every
            # runner must get the same one.
            given = sorted({r.start_at for r in by_index.values() if rs.start_epoch(r.start_at) is not None})
            start_at = rs.start_epoch(given[-1]) if given else None
            if start_at is None:
                start_at = now + self.settings.run_start_delay_seconds
            value = f"{start_at:.3f}"
            start_text = rs.rfc3339(start_at, millis=True)
            for runner in by_index.values():
                if runner.start_at != value:
                    self.client.merge_patch(
                        "v1",
                        "Pod",
                        run["metadata"]["namespace"],
                        runner.pod,
                        {"metadata": {"annotations": {START_AT_ANNOTATION: value}}},
                    )
            self._write(
                run,
                status,
                {
                    "phase": rs.RUNNING,
                    "reason": "RunnersStarted",
                    "message": f"all {spec.runners} runner(s) up; injection starts at {start_text}",
                    "startAt": start_text,
                    "runners": counted.as_status(),
                    "runnersSummary": rp.summary(by_index, spec.runners, ended=False),
                },
            )
            return RunPass(rs.RUNNING, requeue_after=FRESHNESS_SECONDS, monitor=spec.monitor)
        deadline = started + spec.start_timeout_seconds
        if now >= deadline:
            self._stop(job, now)
            waiting = ", ".join(rp.not_running(by_index, spec.runners))
            return self._finish(
                run,
                status,
                rs.FAILED,
                "RunnerFailed",
                f"not every runner ran within startTimeout ({spec.start_timeout_seconds}s): {waiting}",
                counted=counted,
                by_index=by_index,
            )
        self._write(
            run,
            status,
            {
                "phase": rs.STARTING,
                "reason": "RunnersStarting",
                "message": f"{counted.running} of {spec.runners} runner(s) up; waiting for all before the start",
                "runners": counted.as_status(),
                "runnersSummary": rp.summary(by_index, spec.runners, ended=False),
            },
        )
        return RunPass(rs.STARTING, requeue_after=max(1.0, deadline - now), monitor=spec.monitor)

    def _running(
        self,
        run: Obj,
        status: Obj,
        spec: RunSpec,
        job: Obj,
        pods: Sequence[Obj],
        by_index: Mapping[int, rp.Runner],
        monitor: Obj | None,
        now: float,
    ) -> RunPass:
        namespace, name = run["metadata"]["namespace"], run["metadata"]["name"]
        counted = rp.counts(by_index, spec.runners)
        if not (rp.all_ended(by_index, spec.runners) or _job_finished(job)):
            update: Obj = {
                "phase": rs.RUNNING,
                "reason": "Running",
                "message": f"{counted.running} of {spec.runners} runner(s) running",
                "runners": counted.as_status(),
                "runnersSummary": rp.summary(by_index, spec.runners, ended=False),
            }
            key = (namespace, name)
            if monitor is not None and now >= self._freshness_at.get(key, 0.0):
                self._freshness_at[key] = now + FRESHNESS_SECONDS
                ages = self.evaluator.freshness(run, spec, pods, monitor)
                update["runnerData"] = [
                    {"runner": runner, **({"lastPointAgeSeconds": round(age, 1)} if age is not None else {})}
                    for runner, age in sorted(ages.items())
                ]
            self._write(run, status, update)
            return RunPass(rs.RUNNING, requeue_after=FRESHNESS_SECONDS, monitor=spec.monitor)
        if _deadline_exceeded(job) and not rp.all_ended(by_index, spec.runners):
            left = ", ".join(r.pod for r in by_index.values() if not r.ended)
            return self._finish(
                run,
                status,
                rs.FAILED,
                "TimeLimitExceeded",
                f"the runners did not end within timeLimit ({spec.time_limit_seconds}s) and were stopped: {left}",
                counted=counted,
                by_index=by_index,
            )
        ended_at = rs.epoch_of(status.get("endTime")) or now
        if status.get("phase") != rs.EVALUATING:
            self._write(
                run,
                status,
                {
                    "phase": rs.EVALUATING,
                    "reason": "Evaluating",
                    "message": "every runner ended; reading and judging the results",
                    "endTime": rs.rfc3339(ended_at),
                    "runners": counted.as_status(),
                    "runnersSummary": rp.summary(by_index, spec.runners, ended=True),
                    "runnerData": None,
                },
            )
            status = run["status"]  # as _write left it
        if monitor is None:
            return self._finish(
                run,
                status,
                rs.ERROR,
                "MonitorMissing",
                f"LoadtestMonitor {spec.monitor} is gone: no results to read",
                counted=counted,
                by_index=by_index,
            )
        evaluation = self.evaluator.evaluate(run, spec, pods, monitor)
        verdict = evaluation.verdict
        if verdict.reason in ("NoData", "ResultsUnreadable") and now - ended_at < self.settings.run_data_grace_seconds:
            return RunPass(rs.EVALUATING, requeue_after=EVALUATE_RETRY_SECONDS, monitor=spec.monitor)
        phase = {Outcome.PASSED: rs.PASSED, Outcome.FAILED: rs.FAILED, Outcome.ERROR: rs.ERROR}[verdict.outcome]
        extra: Obj = {"criteria": criteria_to_status(verdict.criteria)}
        if evaluation.results is not None:
            extra["results"] = results_to_status(evaluation.results)
        if evaluation.start_spread_s is not None:
            extra["startSpreadSeconds"] = round(evaluation.start_spread_s, 3)
        return self._finish(
            run, status, phase, verdict.reason, verdict.message, counted=counted, by_index=by_index, extra=extra
        )

    # --- writes --------------------------------------------------------------------------------

    def _stop(self, job: Obj, now: float) -> None:
        """Ends the Job now (its deadline cut to the time it has run): the runners still waiting
        in their gates are stopped; ended pods stay for their logs until the Job's TTL."""
        meta = job["metadata"]
        created = rs.epoch_of(meta.get("creationTimestamp")) or now
        elapsed = max(1, int(now - created))
        current = int((job.get("spec") or {}).get("activeDeadlineSeconds") or 0)
        if current and current <= elapsed:
            return
        self.client.merge_patch(
            "batch/v1", "Job", meta["namespace"], meta["name"], {"spec": {"activeDeadlineSeconds": elapsed}}
        )

    def _finish(
        self,
        run: Obj,
        status: Obj,
        phase: str,
        reason: str,
        message: str,
        *,
        counted: rp.Counts | None = None,
        by_index: Mapping[int, rp.Runner] | None = None,
        extra: Obj | None = None,
    ) -> RunPass:
        update: Obj = {
            "phase": phase,
            "verdict": phase,
            "reason": reason,
            "message": message,
            "endTime": status.get("endTime") or rs.rfc3339(self.clock()),
            "runnerData": None,
            **(extra or {}),
        }
        if counted is not None and by_index is not None:
            update["runners"] = counted.as_status()
            update["runnersSummary"] = rp.summary(by_index, counted.desired, ended=True)
        self._write(run, status, update)
        self._freshness_at.pop((run["metadata"]["namespace"], run["metadata"]["name"]), None)
        return RunPass(phase, monitor=monitor_of(run))

    def _write(self, run: Obj, status: Mapping[str, Any], update: Mapping[str, Any]) -> None:
        """Writes the changed keys of the status (none: no request); one Event per phase change."""
        new = {k: v for k, v in {**status, **update}.items() if v is not None}
        generation = int(run["metadata"].get("generation") or 1)
        new = rs.with_conditions(new, status.get("conditions") or [], generation, self.clock())
        patch = status_patch(status, new)
        if not patch:
            return
        meta = run["metadata"]
        answer = self.client.patch_status(meta["namespace"], meta["name"], patch, kind=RUN_KIND)
        run["status"] = new  # later steps of this pass see what was written
        if answer.get("metadata"):
            self._written[(meta["namespace"], meta["name"])] = answer
        if new.get("phase") != status.get("phase"):
            runners = sorted(str(p["metadata"]["name"]) for p in self.reads.pods(meta["namespace"], meta["name"]))
            self._tell(self.marks.phase_changed, run, status, new, runners)
            event_type = "Warning" if new["phase"] in (rs.FAILED, rs.ERROR) else "Normal"
            involved = {"kind": RUN_KIND, "metadata": meta}
            try:
                self.client.post_event(involved, event_type, str(new["phase"]), str(new.get("message") or ""))
            except KubeError as err:  # an Event is a courtesy: the status already says it
                log.warning("could not post an Event on LoadtestRun %s/%s: %s", meta["namespace"], meta["name"], err)

    # --- the monitor's deletion waits for its runs -----------------------------------------------

    def hold_monitor(self, namespace: str, monitor: str, extra_active: str = "") -> None:
        """Keeps ACTIVE_RUNS_FINALIZER on the monitor exactly while runs of it have not ended, and
        while it is being deleted says which runs it waits for (status and one Event)."""
        if not monitor:
            return
        with self._hold_lock:
            self._hold(namespace, monitor, extra_active)

    def _hold(self, namespace: str, monitor: str, extra_active: str) -> None:
        live = self.reads.monitor(namespace, monitor)
        if live is None:
            return
        active = sorted(
            {
                str(r["metadata"]["name"])
                for r in self.reads.runs(namespace)
                if monitor_of(r) == monitor and is_active(r)
            }
            | ({extra_active} if extra_active else set())
        )
        meta = live["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        has = ACTIVE_RUNS_FINALIZER in finalizers
        if active and not has and not meta.get("deletionTimestamp"):
            finalizers.append(ACTIVE_RUNS_FINALIZER)
        elif not active and has:
            finalizers.remove(ACTIVE_RUNS_FINALIZER)
        if (ACTIVE_RUNS_FINALIZER in finalizers) != has:
            # resourceVersion: the patch applies to the list we read, or fails (409) and is retried.
            patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}}
            self.client.merge_patch(API_VERSION, KIND, namespace, monitor, patch)
        key = (namespace, monitor)
        if meta.get("deletionTimestamp") and active and has:
            told = tuple(active)
            if self._blocked_told.get(key) != told:
                message = f"deletion waits until these LoadtestRuns end: {', '.join(active)}"
                self.client.patch_status(namespace, monitor, {"deletionWaitsFor": {"runs": active, "message": message}})
                self.client.post_event({"kind": KIND, "metadata": meta}, "Normal", "DeletionWaitsForRuns", message)
                self._blocked_told[key] = told
        elif not active:
            self._blocked_told.pop(key, None)


    def _tell(self, call: Callable[..., None], *args: Any) -> None:
        """Marks and metrics are for people watching: a failure there never fails the pass."""
        try:
            call(*args)
        except Exception:
            log.exception("run marks/metrics failed (the run goes on)")


def _rv(obj: Mapping[str, Any]) -> int:
    raw = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
    return int(raw) if raw.isdigit() else 0


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("kind") == RUN_KIND for ref in refs)


def _job_finished(job: Mapping[str, Any]) -> bool:
    """The Job ended (every index done, or its deadline passed): its pods are final or going."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return True
    return False


def _deadline_exceeded(job: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Failed" and c.get("status") == "True" and c.get("reason") == "DeadlineExceeded"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def _why(runner: rp.Runner) -> str:
    if runner.exit_code is not None:
        return f"exit code {runner.exit_code}" + (f", {runner.reason}" if runner.reason else "")
    return runner.reason or runner.phase
