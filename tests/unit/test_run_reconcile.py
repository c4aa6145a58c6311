"""The LoadtestRun state machine, pass by pass, with a fake of the evaluation seam (runs/evaluate.py)
and an in-memory cluster. The real API server, Job controller and pods are in
tests/integration/test_runs.py; these cover the decisions and every status field they write."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from loadtest_monitor.controller.run_reconcile import RunReconciler
from loadtest_monitor.identity import ACTIVE_RUNS_FINALIZER, KIND, START_AT_ANNOTATION
from loadtest_monitor.kube.client import KubeError
from loadtest_monitor.runs.evaluate import Evaluation
from loadtest_monitor.runs.model import (
    ALL_REQUESTS,
    Criterion,
    CriterionResult,
    Metric,
    Outcome,
    RequestStats,
    RunResults,
    Verdict,
)
from loadtest_monitor.settings import Settings
from loadtest_monitor.spec.run import RunSpec

Obj = dict[str, Any]
NS = "shop"


def _stats(name: str, count: int, ko: int, p95: int) -> RequestStats:
    return RequestStats(name, count, count - ko, ko, ko / count, count / 60.0, 80.0, 5, 50, 70, p95, p95 + 50, 900)


RESULTS = RunResults(
    total=_stats(ALL_REQUESTS, 3000, 30, 400),
    requests=(_stats("checkout", 1000, 20, 700), _stats("home", 2000, 10, 200)),
    runners=("r-0-a", "r-1-b"),
    duration_s=60.0,
)


class FakeEvaluator:
    def __init__(self) -> None:
        self.verdicts: list[Evaluation] = []
        self.calls = 0

    def evaluate(self, run: Obj, spec: RunSpec, pods: Sequence[Obj], monitor: Obj) -> Evaluation:
        self.calls += 1
        return self.verdicts.pop(0) if len(self.verdicts) > 1 else self.verdicts[0]

    def freshness(self, run: Obj, spec: RunSpec, pods: Sequence[Obj], monitor: Obj) -> dict[str, float | None]:
        return {p["metadata"]["name"]: 2.0 for p in pods}


class World:
    """The cluster as the watches would show it, and every write the reconciler made."""

    def __init__(self) -> None:
        self.now = 0.0
        self.objects: dict[tuple[str, str], Obj] = {}
        self.pod_list: list[Obj] = []
        self.writes: list[tuple[str, ...]] = []
        self.events: list[tuple[str, str, str]] = []
        self.rv = 100

    # Reads
    def run(self, namespace: str, name: str) -> Obj | None:
        return copy.deepcopy(self.objects.get(("LoadtestRun", name)))

    def monitor(self, namespace: str, name: str) -> Obj | None:
        return copy.deepcopy(self.objects.get((KIND, name)))

    def job(self, namespace: str, name: str) -> Obj | None:
        return copy.deepcopy(self.objects.get(("Job", name)))

    def pods(self, namespace: str, run: str) -> list[Obj]:
        return copy.deepcopy(self.pod_list)

    def runs(self, namespace: str) -> list[Obj]:
        return [copy.deepcopy(o) for (k, _), o in self.objects.items() if k == "LoadtestRun"]

    # Client
    def _bump(self, obj: Obj) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        return copy.deepcopy(self.objects.get((kind, name)))

    def apply(self, obj: Mapping[str, Any], *, uid: str | None = None) -> Obj:
        key = (obj["kind"], obj["metadata"]["name"])
        if key in self.objects:
            raise KubeError(409, "exists")
        made = copy.deepcopy(dict(obj))
        made["metadata"].update(uid="job-uid", creationTimestamp="2027-01-15T08:00:00Z")
        self._bump(made)
        self.objects[key] = made
        self.writes.append(("create", obj["kind"], obj["metadata"]["name"]))
        return copy.deepcopy(made)

    def delete(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> None:
        self.objects.pop((kind, name), None)
        self.writes.append(("delete", kind, name))

    def merge_patch(self, api_version: str, kind: str, namespace: str, name: str, patch: Mapping[str, Any]) -> Obj:
        self.writes.append(("patch", kind, name))
        if kind == "Pod":
            pod = next(p for p in self.pod_list if p["metadata"]["name"] == name)
            pod["metadata"].setdefault("annotations", {}).update(patch["metadata"]["annotations"])
            return pod
        obj = self.objects[(kind, name)]
        meta = patch.get("metadata") or {}
        if "finalizers" in meta:
            obj["metadata"]["finalizers"] = list(meta["finalizers"])
        for key, value in (patch.get("spec") or {}).items():
            obj["spec"][key] = value
        self._bump(obj)
        return copy.deepcopy(obj)

    def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any], kind: str = KIND) -> Obj:
        self.writes.append(("status", kind, name))
        obj = self.objects[(kind, name)]
        status = obj.setdefault("status", {})
        _merge(status, patch)
        self._bump(obj)
        return copy.deepcopy(obj)

    def post_event(self, involved: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        self.events.append((involved["metadata"]["name"], event_type, reason))

    # The test's hands
    def add_monitor(self, ready: bool = True) -> None:
        self.objects[(KIND, "checkout")] = {
            "kind": KIND,
            "metadata": {"name": "checkout", "namespace": NS, "generation": 1, "resourceVersion": "1"},
            "spec": {},
            "status": {
                "observedGeneration": 1,
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }

    def add_run(self, runners: int = 2, **spec: Any) -> None:
        self.objects[("LoadtestRun", "r")] = {
            "kind": "LoadtestRun",
            "metadata": {
                "name": "r",
                "namespace": NS,
                "uid": "run-uid",
                "generation": 1,
                "resourceVersion": "2",
                "creationTimestamp": "2027-01-15T08:00:00Z",
            },
            "spec": {
                "monitorRef": {"name": "checkout"},
                "image": "gatling-runner:3.15.1",
                "simulation": "loadtest.Checkout",
                "runners": runners,
                "startTimeout": "2m",
                **spec,
            },
        }

    def add_pod(self, index: int, state: Obj | None = None, phase: str = "Pending") -> None:
        self.pod_list.append(
            {
                "metadata": {
                    "name": f"r-{index}-x",
                    "creationTimestamp": "2027-01-15T08:00:01Z",
                    "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                },
                "status": {
                    "phase": phase,
                    "containerStatuses": [{"name": "gatling", "state": state or {"waiting": {}}}],
                },
            }
        )

    def set_pod(self, index: int, state: Obj, phase: str) -> None:
        pod = self.pod_list[index]
        pod["status"] = {
            "phase": phase,
            "containerStatuses": [{"name": "gatling", "state": state, "ready": "running" in state}],
        }

    @property
    def status(self) -> Obj:
        return dict(self.objects[("LoadtestRun", "r")].get("status") or {})


def _merge(into: Obj, patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            into.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


RUNNING = {"running": {"startedAt": "2027-01-15T08:00:05Z"}}


def _ended(code: int) -> Obj:
    return {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def evaluator() -> FakeEvaluator:
    fake = FakeEvaluator()
    fake.verdicts = [Evaluation(Verdict(Outcome.PASSED, "CriteriaMet", "1 criteria met"), RESULTS)]
    return fake


@pytest.fixture
def rec(world: World, evaluator: FakeEvaluator) -> RunReconciler:
    return RunReconciler(world, world, evaluator, Settings(run_start_delay_seconds=5.0), clock=lambda: world.now)


def _created_epoch() -> float:
    """The run's creationTimestamp, 2027-01-15T08:00:00Z."""
    return dt.datetime(2027, 1, 15, 8, 0, 0, tzinfo=dt.UTC).timestamp()


def _start(world: World, rec: RunReconciler, runners: int = 2) -> None:
    world.now = _created_epoch() + 1
    world.add_monitor()
    world.add_run(runners)
    rec.reconcile(NS, "r")


def test_waits_for_a_monitor_that_is_not_ready_then_gives_up(world: World, rec: RunReconciler) -> None:
    world.now = _created_epoch() + 1
    world.add_monitor(ready=False)
    world.add_run()
    step = rec.reconcile(NS, "r")
    assert world.status["phase"] == "Pending"
    assert world.status["reason"] == "MonitorNotReady"
    assert "LoadtestMonitor checkout is not Ready" in world.status["message"]
    assert "gives up at 2027-01-15T08:02:00Z" in world.status["message"]
    assert step.requeue_after == pytest.approx(119)
    assert not any(w[1] == "Job" for w in world.writes)
    writes = len(world.writes)
    world.now += 30
    rec.reconcile(NS, "r")  # still waiting: nothing new to say, nothing written
    assert len(world.writes) == writes
    world.now = _created_epoch() + 121
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Error"
    assert world.status["reason"] == "MonitorNotReady"
    assert "startTimeout (120s)" in world.status["message"]
    complete = {c["type"]: c for c in world.status["conditions"]}
    assert complete["Complete"]["status"] == "True"
    assert complete["Passed"]["status"] == "False"
    assert [e[2] for e in world.events] == ["Pending", "Error"]


def test_missing_monitor_is_named(world: World, rec: RunReconciler) -> None:
    world.now = _created_epoch() + 1
    world.add_run()
    rec.reconcile(NS, "r")
    assert "LoadtestMonitor checkout does not exist" in world.status["message"]


def test_creates_the_job_and_holds_the_monitor(world: World, rec: RunReconciler) -> None:
    _start(world, rec)
    assert ("create", "Job", "r") in world.writes
    job = world.objects[("Job", "r")]
    assert job["spec"]["completions"] == 2
    assert job["metadata"]["ownerReferences"][0]["uid"] == "run-uid"
    status = world.status
    assert status["phase"] == "Starting"
    assert status["job"] == "r"
    assert status["runnersSummary"] == "0/2"
    assert status["startTime"] == "2027-01-15T08:00:01Z"
    assert ACTIVE_RUNS_FINALIZER in world.objects[(KIND, "checkout")]["metadata"]["finalizers"]


def test_an_api_server_without_per_index_backoff_is_refused(world: World, rec: RunReconciler) -> None:
    real_apply = world.apply

    def dropping(obj: Mapping[str, Any], *, uid: str | None = None) -> Obj:
        made = real_apply(obj, uid=uid)
        made["spec"].pop("backoffLimitPerIndex")
        return made

    world.apply = dropping  # type: ignore[method-assign]
    _start(world, rec)
    assert world.status["phase"] == "Error"
    assert world.status["reason"] == "KubernetesTooOld"
    assert ("delete", "Job", "r") in world.writes


def test_start_at_is_set_on_every_pod_only_when_all_run(world: World, rec: RunReconciler) -> None:
    _start(world, rec, runners=3)
    world.add_pod(0, RUNNING, "Running")
    world.add_pod(1, RUNNING, "Running")
    world.add_pod(2)
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Starting"
    assert world.status["runnersSummary"] == "2/3"
    assert world.status["runners"] == {"desired": 3, "ready": 0, "running": 2, "succeeded": 0, "failed": 0}
    assert not any(w[1] == "Pod" for w in world.writes)
    world.set_pod(2, RUNNING, "Running")
    world.now += 10
    rec.reconcile(NS, "r")
    values = {p["metadata"]["annotations"][START_AT_ANNOTATION] for p in world.pod_list}
    assert values == {f"{world.now + 5:.3f}"}
    assert world.status["phase"] == "Running"
    assert world.status["startAt"].endswith("Z")
    # A second pass (a pod event) neither moves the start time nor writes the pods again.
    patches = len([w for w in world.writes if w[1] == "Pod"])
    world.now += 1
    rec.reconcile(NS, "r")
    assert {p["metadata"]["annotations"][START_AT_ANNOTATION] for p in world.pod_list} == values
    assert len([w for w in world.writes if w[1] == "Pod"]) == patches


def test_a_runner_crashing_before_the_start_fails_the_run_and_stops_the_job(world: World, rec: RunReconciler) -> None:
    _start(world, rec)
    world.add_pod(0, RUNNING, "Running")
    world.add_pod(1, _ended(1), "Failed")
    world.now += 20
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Failed"
    assert world.status["reason"] == "RunnerFailed"
    assert "r-1-x (exit code 1, Error)" in world.status["message"]
    assert world.objects[("Job", "r")]["spec"]["activeDeadlineSeconds"] == 21
    assert ACTIVE_RUNS_FINALIZER not in world.objects[(KIND, "checkout")]["metadata"]["finalizers"]


def test_runners_that_never_run_fail_the_run_after_start_timeout(world: World, rec: RunReconciler) -> None:
    _start(world, rec)
    world.add_pod(0, RUNNING, "Running")
    world.add_pod(1, {"waiting": {"reason": "ContainerCreating"}})
    world.now += 121
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Failed"
    assert world.status["reason"] == "RunnerFailed"
    assert "r-1-x (ContainerCreating)" in world.status["message"]


def test_an_image_that_cannot_be_pulled_fails_at_once(world: World, rec: RunReconciler) -> None:
    _start(world, rec)
    world.add_pod(0, {"waiting": {"reason": "ImagePullBackOff"}})
    world.add_pod(1, RUNNING, "Running")
    rec.reconcile(NS, "r")
    assert world.status["reason"] == "RunnerFailed"
    assert "ImagePullBackOff" in world.status["message"]


def _to_running(world: World, rec: RunReconciler) -> None:
    _start(world, rec)
    world.add_pod(0, RUNNING, "Running")
    world.add_pod(1, RUNNING, "Running")
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Running"


def test_running_shows_each_runners_last_point_age(world: World, rec: RunReconciler) -> None:
    _to_running(world, rec)
    world.now += 20
    rec.reconcile(NS, "r")
    assert world.status["runnerData"] == [
        {"runner": "r-0-x", "lastPointAgeSeconds": 2.0},
        {"runner": "r-1-x", "lastPointAgeSeconds": 2.0},
    ]


def test_one_runner_ended_keeps_the_run_running(world: World, rec: RunReconciler) -> None:
    _to_running(world, rec)
    world.set_pod(0, _ended(2), "Failed")
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Running"
    assert world.status["runners"]["failed"] == 1


def test_all_ended_is_evaluated_and_the_results_land_in_status(
    world: World, rec: RunReconciler, evaluator: FakeEvaluator
) -> None:
    _to_running(world, rec)
    criterion = Criterion(Metric.P95, max_value=500.0)
    evaluator.verdicts = [
        Evaluation(
            Verdict(
                Outcome.PASSED,
                "CriteriaMet",
                "1 criteria met",
                (CriterionResult(criterion, "p95 <= 500 ms", 500.0, 400.0, True),),
            ),
            RESULTS,
            start_spread_s=0.0421,
        )
    ]
    world.set_pod(0, _ended(0), "Succeeded")
    world.set_pod(1, _ended(2), "Failed")
    world.now += 60
    rec.reconcile(NS, "r")
    status = world.status
    assert status["phase"] == status["verdict"] == "Passed"
    assert status["reason"] == "CriteriaMet"
    assert status["runnersSummary"] == "2/2"
    assert status["results"]["requests"] == 3000
    assert status["results"]["ko"] == 30
    assert status["results"]["errorPercent"] == 1.0
    assert status["results"]["p95Ms"] == 400
    assert [r["name"] for r in status["results"]["worstRequests"]] == ["checkout", "home"]
    assert status["criteria"] == [
        {"description": "p95 <= 500 ms", "threshold": 500.0, "measured": 400.0, "passed": True}
    ]
    assert "runnerData" not in status
    assert status["startSpreadSeconds"] == 0.042
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Complete"]["status"] == "True"
    assert conditions["Passed"]["status"] == "True"
    assert conditions["Passed"]["observedGeneration"] == 1
    assert [e[2] for e in world.events] == ["Starting", "Running", "Evaluating", "Passed"]
    assert ACTIVE_RUNS_FINALIZER not in world.objects[(KIND, "checkout")]["metadata"]["finalizers"]
    # Ended: nothing more is written, even with the Job and its pods gone.
    del world.objects[("Job", "r")]
    world.pod_list.clear()
    before = len(world.writes)
    rec.reconcile(NS, "r")
    assert len(world.writes) == before
    assert world.status["results"]["requests"] == 3000


def test_no_data_waits_for_late_summaries_then_fails(
    world: World, rec: RunReconciler, evaluator: FakeEvaluator
) -> None:
    _to_running(world, rec)
    evaluator.verdicts = [Evaluation(Verdict(Outcome.FAILED, "NoData", "no whole-run summary from r-1-x"))]
    world.set_pod(0, _ended(0), "Succeeded")
    world.set_pod(1, _ended(0), "Succeeded")
    step = rec.reconcile(NS, "r")
    assert world.status["phase"] == "Evaluating"
    assert step.requeue_after is not None
    world.now += Settings().run_data_grace_seconds + 1
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Failed"
    assert world.status["reason"] == "NoData"
    assert world.status["verdict"] == "Failed"


def test_a_job_deleted_before_the_end_is_an_error(world: World, rec: RunReconciler) -> None:
    _to_running(world, rec)
    del world.objects[("Job", "r")]
    world.pod_list.clear()
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Error"
    assert world.status["reason"] == "JobDeleted"


def test_a_job_of_that_name_not_ours_is_never_used(world: World, rec: RunReconciler) -> None:
    world.now = _created_epoch() + 1
    world.add_monitor()
    world.add_run()
    world.objects[("Job", "r")] = {"kind": "Job", "metadata": {"name": "r", "ownerReferences": []}, "spec": {}}
    rec.reconcile(NS, "r")
    assert world.status["reason"] == "NameConflict"


def test_monitor_deletion_waits_for_active_runs_and_says_which(world: World, rec: RunReconciler) -> None:
    _to_running(world, rec)
    world.objects[(KIND, "checkout")]["metadata"]["deletionTimestamp"] = "2027-01-15T08:01:00Z"
    rec.hold_monitor(NS, "checkout")
    monitor = world.objects[(KIND, "checkout")]
    assert ACTIVE_RUNS_FINALIZER in monitor["metadata"]["finalizers"]
    assert monitor["status"]["deletionWaitsFor"]["runs"] == ["r"]
    assert ("checkout", "Normal", "DeletionWaitsForRuns") in world.events
    told = len(world.events)
    rec.hold_monitor(NS, "checkout")
    assert len(world.events) == told  # said once
    world.set_pod(0, _ended(0), "Succeeded")
    world.set_pod(1, _ended(0), "Succeeded")
    rec.reconcile(NS, "r")
    assert ACTIVE_RUNS_FINALIZER not in world.objects[(KIND, "checkout")]["metadata"]["finalizers"]


def test_an_invalid_spec_is_an_error_naming_the_field(world: World, rec: RunReconciler) -> None:
    world.now = _created_epoch() + 1
    world.add_monitor()
    world.add_run(systemProperties={"users": "1 2"})
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Error"
    assert world.status["reason"] == "InvalidSpec"
    assert "spec.systemProperties.users" in world.status["message"]


def test_runners_stopped_by_the_time_limit_fail_the_run(world: World, rec: RunReconciler) -> None:
    _to_running(world, rec)
    world.set_pod(0, _ended(0), "Succeeded")
    world.objects[("Job", "r")]["status"] = {
        "conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]
    }
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Failed"
    assert world.status["reason"] == "TimeLimitExceeded"
    assert "r-1-x" in world.status["message"] and "r-0-x" not in world.status["message"]


def test_a_job_the_api_server_refuses_ends_the_run_with_its_message(world: World, rec: RunReconciler) -> None:
    def refusing(obj: Mapping[str, Any], *, uid: str | None = None) -> Obj:
        raise KubeError(400, ".spec.backoffLimitPerIndex: field not declared in schema")

    world.apply = refusing  # type: ignore[method-assign]
    _start(world, rec)
    assert world.status["phase"] == "Error"
    assert world.status["reason"] == "KubernetesTooOld"
    assert "field not declared in schema" in world.status["message"]
    assert "Kubernetes 1.29" in world.status["message"]


def test_a_run_not_started_does_not_hold_a_monitor_being_deleted(world: World, rec: RunReconciler) -> None:
    world.now = _created_epoch() + 1
    world.add_monitor(ready=False)
    world.add_run()
    rec.reconcile(NS, "r")
    assert ACTIVE_RUNS_FINALIZER in world.objects[(KIND, "checkout")]["metadata"]["finalizers"]
    world.objects[(KIND, "checkout")]["metadata"]["deletionTimestamp"] = "2027-01-15T08:00:30Z"
    rec.reconcile(NS, "r")
    assert world.status["phase"] == "Error"
    assert world.status["reason"] == "MonitorDeleted"
    assert ACTIVE_RUNS_FINALIZER not in world.objects[(KIND, "checkout")]["metadata"]["finalizers"]


class RecordingMarks:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.changes: list[tuple[str, str, tuple[str, ...]]] = []
        self.phases: list[tuple[str, str | None]] = []

    def phase_changed(self, run: Obj, old: Mapping[str, Any], new: Mapping[str, Any], runners: Sequence[str]) -> None:
        self.changes.append((str(old.get("phase") or ""), str(new["phase"]), tuple(runners)))
        if self.fail:
            raise RuntimeError("InfluxDB down")

    def seen(self, namespace: str, name: str, monitor: str, phase: str | None) -> None:
        self.phases.append((name, phase))
        if self.fail:
            raise RuntimeError("registry broken")


@pytest.mark.parametrize("fail", [False, True])
def test_marks_and_metrics_hear_each_phase_change_once_and_never_change_the_run(
    world: World, evaluator: FakeEvaluator, fail: bool
) -> None:
    marks = RecordingMarks(fail)
    rec = RunReconciler(
        world, world, evaluator, Settings(run_start_delay_seconds=5.0), clock=lambda: world.now,
        marks=marks,
    )
    evaluator.verdicts = [Evaluation(Verdict(Outcome.FAILED, "CriteriaFailed", "p95 over"), RESULTS)]
    _to_running(world, rec)
    world.set_pod(0, _ended(0), "Succeeded")
    world.set_pod(1, _ended(0), "Succeeded")
    world.now += 60
    rec.reconcile(NS, "r")
    rec.reconcile(NS, "r")  # ended: nothing more to tell
    assert world.status["phase"] == "Failed" and world.status["reason"] == "CriteriaFailed"
    pods = ("r-0-x", "r-1-x")
    assert [c[:2] for c in marks.changes] == [
        ("", "Starting"), ("Starting", "Running"), ("Running", "Evaluating"), ("Evaluating", "Failed")
    ]
    assert marks.changes[1][2] == pods and marks.changes[3][2] == pods
    assert marks.phases[-1] == ("r", "Failed")
    del world.objects[("LoadtestRun", "r")]
    rec.reconcile(NS, "r")
    assert marks.phases[-1][1] is None  # a deleted run: its series are dropped
