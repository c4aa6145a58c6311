"""PURE: a run's results and criteria as its status shows them, and back (a finished run's status
is the baseline of a later one: its results must outlive its pods and its Job, and they do,
because they live here and nowhere else)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_monitor.runs.model import ALL_REQUESTS, CriterionResult, RequestStats, RunResults

Obj = dict[str, Any]

#: Requests listed in status.results.worstRequests (worst p95 first); a baseline per request can
#: only find a request listed here.
WORST_REQUESTS = 20


def _percent(ratio: float) -> float:
    return round(ratio * 100.0, 3)


def _request(stats: RequestStats) -> Obj:
    return {
        "name": stats.name,
        "requests": stats.count,
        "ko": stats.ko,
        "errorPercent": _percent(stats.error_ratio),
        "meanMs": round(stats.mean_ms, 1),
        "p95Ms": stats.p95_ms,
        "p99Ms": stats.p99_ms,
        "maxMs": stats.max_ms,
    }


def results_to_status(results: RunResults) -> Obj:
    total = results.total
    return {
        "requests": total.count,
        "ok": total.ok,
        "ko": total.ko,
        "errorRatio": round(total.error_ratio, 6),
        "errorPercent": _percent(total.error_ratio),
        "throughput": round(total.throughput_rps, 3),
        "meanMs": round(total.mean_ms, 1),
        "p50Ms": total.p50_ms,
        "p75Ms": total.p75_ms,
        "p95Ms": total.p95_ms,
        "p99Ms": total.p99_ms,
        "maxMs": total.max_ms,
        "durationSeconds": round(results.duration_s, 3),
        "worstRequests": [_request(r) for r in results.requests[:WORST_REQUESTS]],
    }


def criteria_to_status(checked: Sequence[CriterionResult]) -> list[Obj]:
    out = []
    for result in checked:
        item: Obj = {"description": result.description, "threshold": result.threshold, "passed": result.passed}
        if result.measured is not None:
            item["measured"] = round(result.measured, 6)
        out.append(item)
    return out


def _stats_from(name: str, raw: Mapping[str, Any], duration_s: float) -> RequestStats:
    count = int(raw.get("requests") or 0)
    ko = int(raw.get("ko") or 0)
    ratio = float(raw["errorRatio"]) if "errorRatio" in raw else float(raw.get("errorPercent") or 0.0) / 100.0
    throughput = float(raw["throughput"]) if "throughput" in raw else (count / duration_s if duration_s else 0.0)
    return RequestStats(
        name=name,
        count=count,
        ok=int(raw.get("ok", count - ko)),
        ko=ko,
        error_ratio=ratio,
        throughput_rps=throughput,
        mean_ms=float(raw.get("meanMs") or 0.0),
        min_ms=0,  # not kept in status
        p50_ms=int(raw.get("p50Ms") or 0),
        p75_ms=int(raw.get("p75Ms") or 0),
        p95_ms=int(raw.get("p95Ms") or 0),
        p99_ms=int(raw.get("p99Ms") or 0),
        max_ms=int(raw.get("maxMs") or 0),
    )


def results_from_status(status: Mapping[str, Any]) -> RunResults | None:
    """The results a finished run keeps in status; None when it has none (not ended, no data)."""
    raw = status.get("results")
    if not isinstance(raw, Mapping) or "requests" not in raw:
        return None
    duration = float(raw.get("durationSeconds") or 0.0)
    requests = tuple(
        _stats_from(str(r.get("name")), r, duration) for r in raw.get("worstRequests") or [] if isinstance(r, Mapping)
    )
    return RunResults(
        total=_stats_from(ALL_REQUESTS, raw, duration), requests=requests, runners=(), duration_s=duration
    )
