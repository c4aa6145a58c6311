"""What a run's pods say about its runners, and a run's results kept in status and read back."""

from __future__ import annotations

from typing import Any

from loadtest_monitor.runs import pods as rp
from loadtest_monitor.runs.model import ALL_REQUESTS, RequestStats, RunnerOutcome, RunResults
from loadtest_monitor.runs.status_results import results_from_status, results_to_status


def _pod(name: str, index: int, state: dict[str, Any] | None, phase: str = "Running", created: str = "t1") -> dict:
    status: dict[str, Any] = {"phase": phase}
    if state is not None:
        status["containerStatuses"] = [
            {"name": "forward", "state": {"running": {}}},
            {"name": "gatling", "state": state, "ready": "running" in state},
        ]
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": created,
            "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
        },
        "status": status,
    }


def test_only_the_gatling_container_counts() -> None:
    pods = [_pod("r-0", 0, {"waiting": {"reason": "PodInitializing"}})]
    (runner,) = rp.runners(pods, 1).values()
    assert not runner.running  # the forwarder runs, Gatling does not yet
    assert runner.reason == "PodInitializing"


def test_counts_and_summary() -> None:
    pods = [
        _pod("r-0", 0, {"running": {}}),
        _pod("r-1", 1, {"terminated": {"exitCode": 0}}, "Succeeded"),
        _pod("r-2", 2, {"terminated": {"exitCode": 2}}, "Failed"),
        _pod("r-3", 3, {"terminated": {"exitCode": 1, "reason": "Error"}}, "Failed"),
    ]
    by_index = rp.runners(pods, 5)
    assert rp.counts(by_index, 5) == rp.Counts(desired=5, ready=1, running=1, succeeded=1, failed=2)
    assert rp.summary(by_index, 5, ended=False) == "1/5"
    assert rp.summary(by_index, 5, ended=True) == "2/5"  # ran to their end: exit 0 and exit 2
    assert rp.not_running(by_index, 5) == ["r-1 (Succeeded)", "r-2 (Failed)", "r-3 (Error)", "index 4 (no pod)"]


def test_outcomes_name_every_index_and_say_how_it_ended() -> None:
    pods = [
        _pod("r-0", 0, {"terminated": {"exitCode": 2}}, "Failed"),
        _pod("r-1", 1, None, "Failed"),  # evicted before Gatling ran: no exit code
    ]
    outcomes = rp.outcomes("r", rp.runners(pods, 3), 3)
    assert outcomes == {
        "r-0": RunnerOutcome(started=True, exit_code=2, detail=""),
        "r-1": RunnerOutcome(started=False, exit_code=None, detail="PodFailed"),
        "r-2": RunnerOutcome(started=False, detail="no pod"),
    }


def test_the_newest_pod_of_an_index_is_its_runner() -> None:
    pods = [
        _pod("old", 0, {"terminated": {"exitCode": 1}}, "Failed", "t1"),
        _pod("new", 0, {"running": {}}, created="t2"),
    ]
    assert rp.runners(pods, 1)[0].pod == "new"


def _stats(name: str, count: int, ko: int, p95: int) -> RequestStats:
    return RequestStats(name, count, count - ko, ko, ko / count, count / 10, 12.345, 1, 10, 20, p95, p95 + 1, p95 + 5)


def test_results_kept_in_status_read_back_as_a_baseline() -> None:
    results = RunResults(
        total=_stats(ALL_REQUESTS, 1000, 10, 300),
        requests=(_stats("shop / checkout", 400, 10, 500), _stats("home", 600, 0, 100)),
        runners=("a", "b"),
        duration_s=10.0,
    )
    status = results_to_status(results)
    assert status["requests"] == 1000
    assert status["errorPercent"] == 1.0
    assert status["throughput"] == 100.0
    assert status["meanMs"] == 12.3
    assert [r["name"] for r in status["worstRequests"]] == ["shop / checkout", "home"]
    back = results_from_status({"results": status})
    assert back is not None
    assert (back.total.count, back.total.ko, back.total.p95_ms, back.total.error_ratio) == (1000, 10, 300, 0.01)
    assert [(r.name, r.p95_ms, r.count) for r in back.requests] == [("shop / checkout", 500, 400), ("home", 100, 600)]
    assert results_from_status({}) is None
