"""PURE: what a run's pods say about its runners (one runner per Job index).

Only the Gatling container counts: the forwarder sidecar runs before and after it, and the
Graphite wait ends before it starts. A runner is `running` once Gatling's container runs (it then
sits in the start gate until the start time), `ended` once that container terminated or the pod
reached a final phase.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loadtest_monitor.identity import START_AT_ANNOTATION
from loadtest_monitor.render.run_job import GATLING_CONTAINER, INDEX_ANNOTATION
from loadtest_monitor.runs.model import ASSERTIONS_FAILED_EXIT_CODE, RunnerOutcome

Obj = dict[str, Any]

#: Waiting reasons that will not resolve by waiting: the runner will never start.
STUCK_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError"}
)


@dataclass(frozen=True)
class Runner:
    index: int
    pod: str  # the pod's name: the runner's identity in Graphite and in the results
    phase: str
    running: bool
    ready: bool
    ended: bool
    exit_code: int | None
    reason: str  # a waiting or terminated reason (ImagePullBackOff, OOMKilled, ...), or ""
    start_at: str  # the start-at annotation as set on this pod ("" when not yet)

    @property
    def succeeded(self) -> bool:
        return self.ended and self.exit_code == 0

    @property
    def failed(self) -> bool:
        return self.ended and self.exit_code != 0

    @property
    def stuck(self) -> bool:
        return not self.ended and self.reason in STUCK_REASONS

    def outcome(self) -> RunnerOutcome:
        started = self.running or (self.ended and self.exit_code is not None)
        return RunnerOutcome(started=started, exit_code=self.exit_code if self.ended else None, detail=self.reason)


def _index(pod: Mapping[str, Any]) -> int | None:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_ANNOTATION)
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def _gatling_status(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == GATLING_CONTAINER:
            return dict(status)
    return {}


def runner_of(pod: Mapping[str, Any]) -> Runner | None:
    index = _index(pod)
    if index is None:
        return None
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    container = _gatling_status(pod)
    state = container.get("state") or {}
    terminated = state.get("terminated")
    waiting = state.get("waiting") or {}
    ended = terminated is not None or phase in ("Succeeded", "Failed")
    exit_code: int | None = None
    reason = str(waiting.get("reason") or "")
    if terminated is not None:
        exit_code = int(terminated.get("exitCode", 0))
        reason = str(terminated.get("reason") or "")
    elif phase == "Succeeded":
        exit_code = 0
    elif phase == "Failed":
        reason = str(status.get("reason") or "PodFailed")  # evicted, deadline exceeded: no exit code
    return Runner(
        index=index,
        pod=str(meta.get("name") or ""),
        phase=phase,
        running="running" in state and not ended,
        ready=bool(container.get("ready")) and not ended,
        ended=ended,
        exit_code=exit_code,
        reason=reason,
        start_at=str((meta.get("annotations") or {}).get(START_AT_ANNOTATION) or ""),
    )


def runners(pods: Iterable[Mapping[str, Any]], desired: int) -> dict[int, Runner]:
    """Index -> its runner: the newest pod of each index (an index is never retried, but a pod
    deleted by hand is replaced by the Job controller)."""
    newest: dict[int, tuple[str, Runner]] = {}
    for pod in pods:
        runner = runner_of(pod)
        if runner is None or not 0 <= runner.index < desired:
            continue
        created = str((pod.get("metadata") or {}).get("creationTimestamp") or "")
        if runner.index not in newest or created >= newest[runner.index][0]:
            newest[runner.index] = (created, runner)
    return {i: r for i, (_, r) in sorted(newest.items())}


@dataclass(frozen=True)
class Counts:
    desired: int
    ready: int
    running: int
    succeeded: int
    failed: int

    def as_status(self) -> Obj:
        return {
            "desired": self.desired,
            "ready": self.ready,
            "running": self.running,
            "succeeded": self.succeeded,
            "failed": self.failed,
        }


def counts(by_index: Mapping[int, Runner], desired: int) -> Counts:
    found = list(by_index.values())
    return Counts(
        desired=desired,
        ready=sum(r.ready for r in found),
        running=sum(r.running for r in found),
        succeeded=sum(r.succeeded for r in found),
        failed=sum(r.failed for r in found),
    )


def summary(by_index: Mapping[int, Runner], desired: int, ended: bool) -> str:
    """`kubectl get ltr`'s Runners column: running/desired while it runs; once ended, the runners
    that ran to their end (exit 0, or 2: their own assertions failed) of desired."""
    found = by_index.values()
    if ended:
        done = sum(r.ended and r.exit_code in (0, ASSERTIONS_FAILED_EXIT_CODE) for r in found)
        return f"{done}/{desired}"
    return f"{sum(r.running for r in found)}/{desired}"


def runner_name(job: str, index: int, by_index: Mapping[int, Runner]) -> str:
    """The runner's name in results and messages: its pod, or `<job>-<index>` if it never had one."""
    runner = by_index.get(index)
    return runner.pod if runner is not None else f"{job}-{index}"


def outcomes(job: str, by_index: Mapping[int, Runner], desired: int) -> dict[str, RunnerOutcome]:
    out: dict[str, RunnerOutcome] = {}
    for index in range(desired):
        runner = by_index.get(index)
        name = runner_name(job, index, by_index)
        out[name] = runner.outcome() if runner is not None else RunnerOutcome(started=False, detail="no pod")
    return out


def expected_names(job: str, by_index: Mapping[int, Runner], desired: int) -> list[str]:
    return [runner_name(job, i, by_index) for i in range(desired)]


def all_running(by_index: Mapping[int, Runner], desired: int) -> bool:
    return len(by_index) == desired and all(r.running for r in by_index.values())


def all_ended(by_index: Mapping[int, Runner], desired: int) -> bool:
    return len(by_index) == desired and all(r.ended for r in by_index.values())


def not_running(by_index: Mapping[int, Runner], desired: int) -> Sequence[str]:
    """Runners not (yet) running, each with why: for the message of a run that did not start."""
    out = []
    for index in range(desired):
        runner = by_index.get(index)
        if runner is None:
            out.append(f"index {index} (no pod)")
        elif not runner.running:
            out.append(f"{runner.pod} ({runner.reason or runner.phase})")
    return out
