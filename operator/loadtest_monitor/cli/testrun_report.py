"""What `loadtest-monitor test --wait` prints about a LoadtestRun, from its status alone (pure).

The status is written by the LoadtestRun controller: phase, runners, results (totals and the
worst requests), criteria (threshold, measured, passed), verdict, reason, message, runnerData
(per-runner data freshness). Everything here reads plain dicts as the API server returns them,
so a field the controller has not written yet is simply left out of the line, never an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

Obj = Mapping[str, Any]

PASSED, FAILED, ERROR = "Passed", "Failed", "Error"
ENDED_PHASES = frozenset({PASSED, FAILED, ERROR})
RUNNING = "Running"

#: Exit codes: CI gates on them (0 passed; 1 the load test failed its criteria or runners failed;
#: 2 the verdict could not be reached: error verdict, timeout, bad input, cluster unreachable).
EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2

#: Above this age a runner's data is called stale in the progress line (Gatling writes every second).
STALE_SECONDS = 30


def phase_of(status: Obj) -> str:
    return str(status.get("phase") or "Pending")


def has_ended(status: Obj) -> bool:
    """Ended when the phase is final, or the controller wrote a verdict or Complete=True."""
    if phase_of(status) in ENDED_PHASES or status.get("verdict") in ENDED_PHASES:
        return True
    return any(
        c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or []
    )


def verdict_of(status: Obj) -> str:
    """The verdict, else the final phase; "" while the run goes on."""
    verdict = status.get("verdict") or (phase_of(status) if phase_of(status) in ENDED_PHASES else "")
    return str(verdict)


def exit_code(status: Obj) -> int:
    return {PASSED: EXIT_PASSED, FAILED: EXIT_FAILED}.get(verdict_of(status), EXIT_ERROR)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _number(value: Any, digits: int = 1) -> str:
    """1234 -> "1,234"; 12.345 -> "12.3"; None -> "-"."""
    if value is None or isinstance(value, bool):
        return "-"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def runners_text(status: Obj) -> str:
    """"3/3 running" style: the summary the controller writes, else counted from `runners`."""
    runners = status.get("runners") or {}
    desired = _int(runners.get("desired"))
    parts = []
    if status.get("runnersSummary"):
        parts.append(f"runners {status['runnersSummary']}")
    elif desired:
        parts.append(f"runners {_int(runners.get('running'))}/{desired} running")
    details = [f"{k} {_int(runners.get(k))}" for k in ("ready", "running", "succeeded", "failed") if runners.get(k)]
    if details:
        parts.append("(" + ", ".join(details) + ")")
    return " ".join(parts)


def freshness_text(status: Obj) -> str:
    """Per-runner age of the newest point InfluxDB holds: "data: r-0 2s, r-1 45s (stale)"."""
    items = []
    for entry in status.get("runnerData") or []:
        age = entry.get("lastPointAgeSeconds")
        if age is None:
            items.append(f"{entry.get('runner', '?')} none yet")
            continue
        stale = " (stale)" if float(age) > STALE_SECONDS else ""
        items.append(f"{entry.get('runner', '?')} {float(age):.0f}s{stale}")
    return "data: " + ", ".join(items) if items else ""


def progress_line(status: Obj) -> str:
    """One line: phase, runners, requests so far (when shown), per-runner data freshness."""
    parts = [phase_of(status)]
    runners = runners_text(status)
    if runners:
        parts.append(runners)
    requests = (status.get("results") or {}).get("requests")
    if requests is not None:
        parts.append(f"{_number(requests)} requests so far")
    fresh = freshness_text(status)
    if fresh:
        parts.append(fresh)
    if status.get("message") and phase_of(status) not in (RUNNING, *ENDED_PHASES):
        parts.append(str(status["message"]))
    return ", ".join(parts)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Columns padded to their widest cell; text left, numbers (first column excepted) right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return (indent + "  ".join(out)).rstrip()

    return [line(headers), *(line(r) for r in rows)]


_STAT_COLUMNS = ("requests", "ko", "error %", "req/s", "mean", "p50", "p95", "p99", "max")


def _stat_row(name: str, stats: Obj) -> list[str]:
    error_percent = stats.get("errorPercent")
    if error_percent is None and stats.get("errorRatio") is not None:
        error_percent = float(stats["errorRatio"]) * 100
    return [
        name,
        _number(stats.get("requests")),
        _number(stats.get("ko")),
        _number(error_percent, 2),
        _number(stats.get("throughput")),
        _number(stats.get("meanMs")),
        _number(stats.get("p50Ms")),
        _number(stats.get("p95Ms")),
        _number(stats.get("p99Ms")),
        _number(stats.get("maxMs")),
    ]


def _duration(status: Obj) -> str:
    try:
        start = dt.datetime.fromisoformat(str(status["startTime"]).replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(str(status["endTime"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return ""
    seconds = int((end - start).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def summary_lines(name: str, status: Obj) -> list[str]:
    """The end of a run: verdict with reason and message, totals, worst requests, criteria."""
    verdict = verdict_of(status) or phase_of(status)
    head = f"{name}: {verdict.upper()}"
    if status.get("reason"):
        head += f" ({status['reason']})"
    took = _duration(status)
    if took:
        head += f" after {took}"
    lines = [head]
    if status.get("message"):
        lines.append(f"  {status['message']}")
    runners = runners_text(status)
    if runners:
        lines.append(f"  {runners}")
    results = status.get("results") or {}
    if results:
        lines.append("")
        lines.append("Totals (ms)")
        lines += table(("", *_STAT_COLUMNS), [_stat_row("all requests", results)])
        worst = results.get("worstRequests") or []
        if worst:
            lines.append("")
            lines.append("Worst requests (ms)")
            lines += table(("request", *_STAT_COLUMNS), [_stat_row(str(w.get("name", "?")), w) for w in worst])
    criteria = status.get("criteria") or []
    if criteria:
        lines.append("")
        lines.append("Criteria")
        rows = [
            [
                str(c.get("description", "?")),
                _number(c.get("threshold"), 3),
                _number(c.get("measured"), 3),
                "PASS" if c.get("passed") else "FAIL",
            ]
            for c in criteria
        ]
        lines += table(("criterion", "threshold", "measured", "result"), rows)
    return lines
