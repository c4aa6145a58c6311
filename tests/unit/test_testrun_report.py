"""What `loadtest-monitor test --wait` prints and exits with, from a LoadtestRun's status."""

from __future__ import annotations

import io
from typing import Any

import pytest

from loadtest_monitor.cli import testrun
from loadtest_monitor.cli import testrun_report as report


def running(**extra: Any) -> dict[str, Any]:
    return {
        "phase": "Running",
        "runners": {"desired": 3, "ready": 3, "running": 2, "succeeded": 1, "failed": 0},
        "runnersSummary": "3/3",
        "results": {"requests": 12345},
        "runnerData": [
            {"runner": "smoke-0", "lastPointAgeSeconds": 1.2},
            {"runner": "smoke-1", "lastPointAgeSeconds": 95},
            {"runner": "smoke-2"},
        ],
        **extra,
    }


STATS = {"requests": 20000, "ok": 19900, "ko": 100, "errorRatio": 0.005, "errorPercent": 0.5,
         "throughput": 333.3, "meanMs": 42.7, "p50Ms": 30, "p75Ms": 50, "p95Ms": 180, "p99Ms": 420, "maxMs": 2100}


def ended(verdict: str, **extra: Any) -> dict[str, Any]:
    return {
        "phase": verdict,
        "verdict": verdict,
        "reason": {"Passed": "CriteriaMet", "Failed": "CriteriaFailed", "Error": "NoData"}[verdict],
        "message": "1 of 2 criteria failed: p95 of checkout 612 ms > 500 ms" if verdict == "Failed" else "",
        "startTime": "2026-12-06T10:00:00Z",
        "endTime": "2026-12-06T10:05:07Z",
        "runners": {"desired": 2, "succeeded": 2},
        "results": {**STATS, "worstRequests": [
            {**STATS, "name": "checkout", "requests": 5000, "ko": 80, "errorPercent": 1.6, "p95Ms": 612},
            {**STATS, "name": "search", "requests": 15000, "ko": 20, "errorPercent": 0.13, "p95Ms": 90},
        ]},
        "criteria": [
            {"description": "error ratio of all requests <= 0.01", "threshold": 0.01, "measured": 0.005,
             "passed": True},
            {"description": "p95 of checkout <= 500 ms", "threshold": 500, "measured": 612,
             "passed": verdict != "Failed"},
        ],
        **extra,
    }


def test_progress_line_says_phase_runners_requests_and_freshness() -> None:
    line = report.progress_line(running())
    assert line.startswith("Running, runners 3/3")
    assert "running 2" in line and "succeeded 1" in line
    assert "12,345 requests so far" in line
    assert "smoke-0 1s" in line
    assert "smoke-1 95s (stale)" in line  # older than STALE_SECONDS: a runner that stopped sending
    assert "smoke-2 none yet" in line


def test_progress_line_of_a_fresh_run_has_only_what_is_known() -> None:
    assert report.progress_line({}) == "Pending"
    line = report.progress_line({"phase": "Starting", "runners": {"desired": 2, "ready": 1},
                                 "message": "waiting for the monitor checkout to be Ready"})
    assert line == "Starting, runners 0/2 running (ready 1), waiting for the monitor checkout to be Ready"


@pytest.mark.parametrize(("verdict", "code"), [("Passed", 0), ("Failed", 1), ("Error", 2)])
def test_exit_code_follows_the_verdict(verdict: str, code: int) -> None:
    assert report.has_ended(ended(verdict))
    assert report.exit_code(ended(verdict)) == code


def test_not_ended_and_unknown_verdicts_never_exit_zero() -> None:
    assert not report.has_ended(running())
    assert report.exit_code(running()) == report.EXIT_ERROR
    assert report.exit_code({"phase": "Evaluating", "verdict": "Maybe"}) == report.EXIT_ERROR


def test_complete_condition_ends_the_wait_even_before_the_phase() -> None:
    status = {"phase": "Evaluating", "verdict": "Failed",
              "conditions": [{"type": "Complete", "status": "True", "reason": "CriteriaFailed"}]}
    assert report.has_ended(status)
    assert report.exit_code(status) == report.EXIT_FAILED
    assert report.has_ended({"conditions": [{"type": "Complete", "status": "True"}]})
    assert not report.has_ended({"conditions": [{"type": "Complete", "status": "False"}]})


def test_summary_of_a_failed_run_shows_totals_worst_requests_and_each_criterion() -> None:
    lines = report.summary_lines("smoke", ended("Failed"))
    text = "\n".join(lines)
    assert lines[0] == "smoke: FAILED (CriteriaFailed) after 5m07s"
    assert "p95 of checkout 612 ms > 500 ms" in lines[1]
    totals = lines[lines.index("Totals (ms)") + 2]
    assert totals.split() == ["all", "requests", "20,000", "100", "0.50", "333.3", "42.7", "30", "180", "420",
                              "2,100"]
    worst = lines[lines.index("Worst requests (ms)") + 1:lines.index("Criteria") - 1]
    assert [row.split()[0] for row in worst] == ["request", "checkout", "search"]
    assert worst[1].split()[1:4] == ["5,000", "80", "1.60"]
    criteria = lines[lines.index("Criteria") + 1:]
    assert criteria[0].split() == ["criterion", "threshold", "measured", "result"]
    assert criteria[1].split()[-3:] == ["0.010", "0.005", "PASS"]
    assert criteria[2].split()[-3:] == ["500", "612", "FAIL"]
    assert "PASS" in text and text.count("FAIL") == 2  # the header word FAILED and the failed criterion


def test_summary_columns_line_up() -> None:
    lines = report.summary_lines("smoke", ended("Passed"))
    criteria = lines[lines.index("Criteria") + 1:]
    assert len({len(line) for line in criteria}) == 1  # right-aligned to one width
    assert all(line.endswith("PASS") for line in criteria[1:])


def test_summary_of_an_error_without_results() -> None:
    status = {"phase": "Error", "verdict": "Error", "reason": "NoData",
              "message": "no runner sent data: smoke-0, smoke-1"}
    assert report.summary_lines("smoke", status) == ["smoke: ERROR (NoData)", "  no runner sent data: smoke-0, smoke-1"]


# --- reading the file: bad input is one line naming the field ------------------------------------


def _read(text: str, namespace: str | None = None) -> dict[str, Any]:
    return testrun.read_run("-", namespace, stdin=io.StringIO(text))


def test_read_run_settles_the_namespace() -> None:
    doc = "apiVersion: loadtest.dev/v1alpha1\nkind: LoadtestRun\nmetadata: {name: smoke}\nspec: {monitor: m}\n"
    assert _read(doc)["metadata"]["namespace"] == "default"
    assert _read(doc, "perf")["metadata"]["namespace"] == "perf"


@pytest.mark.parametrize(
    ("text", "namespace", "words"),
    [
        ("kind: LoadtestMonitor\napiVersion: loadtest.dev/v1alpha1\nmetadata: {name: m}\n", None,
         "expected kind: LoadtestRun"),
        ("kind: LoadtestRun\napiVersion: loadtest.dev/v1alpha1\nmetadata: {}\n", None, "metadata.name is missing"),
        ("kind: LoadtestRun\napiVersion: loadtest.dev/v1alpha1\nmetadata: {name: a, namespace: x}\n", "y",
         "metadata.namespace is 'x' but --namespace is 'y'"),
        ("a: [\n", None, "not YAML"),
        ("---\nkind: LoadtestRun\n---\nkind: LoadtestRun\n", None, "holds 2 documents"),
    ],
)
def test_bad_files_are_refused_with_the_field(text: str, namespace: str | None, words: str) -> None:
    with pytest.raises(testrun.BadInput, match=words.replace("(", r"\(").replace(".", r"\.")):
        _read(text, namespace)
