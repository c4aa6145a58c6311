"""Operator benchmark on the real local control plane: time to Ready, API requests, memory.

    python bench/operator_bench.py [--monitors 20] [--settle 70]

Creates N LoadtestMonitors at once, measures the time until all are Ready, counts the operator's
API requests (reads and writes, from the API server's audit log) while it converges and while it
idles, and samples the operator process's resident memory. Prints the figures and writes them to
bench/results/operator-<date>.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

from localcluster import LocalCluster, find_binaries  # noqa: E402
from operator_process import spawn_operator, stop_process_group  # noqa: E402

WRITES = {"create", "update", "patch", "delete"}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def operator_events(cluster: LocalCluster, since: int) -> list[dict[str, Any]]:
    return [
        e
        for e in cluster.audit_events(since)
        if e.get("stage") == "ResponseComplete"
        and str(e.get("userAgent", "")).startswith(("loadtest-monitor/", "kopf/"))
    ]


def summarize(events: list[dict[str, Any]]) -> tuple[int, int, Counter[str]]:
    writes = [e for e in events if e["verb"] in WRITES]
    by_kind = Counter(f"{e['verb']} {e.get('objectRef', {}).get('resource')}" for e in writes)
    return len(events), len(writes), by_kind


def monitor_yaml(name: str) -> str:
    return f"apiVersion: loadtest.dev/v1alpha1\nkind: LoadtestMonitor\nmetadata:\n  name: {name}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--monitors", type=int, default=20)
    parser.add_argument("--settle", type=float, default=70.0, help="seconds of idle observation (>= one resync)")
    args = parser.parse_args()

    run_dir = Path(tempfile.mkdtemp(prefix="ltm-bench-"))
    cluster = LocalCluster(find_binaries(), run_dir)
    t0 = time.monotonic()
    cluster.start()
    cluster_start = time.monotonic() - t0
    proc = None
    try:
        assert cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds")).returncode == 0
        cluster.kubectl("wait", "--for=condition=Established", "crd/loadtestmonitors.loadtest.dev")
        env = cluster.env()
        env["LTM_RESYNC_SECONDS"] = "60"
        proc = spawn_operator(env, run_dir / "operator.log")
        time.sleep(3)
        idle_rss = rss_mib(proc.pid)
        mark = cluster.audit_mark()
        docs = "---\n".join(monitor_yaml(f"m{i:03d}") for i in range(args.monitors))
        started = time.monotonic()
        assert cluster.kubectl("apply", "-f", "-", input=docs).returncode == 0
        peak = idle_rss
        while True:
            peak = max(peak, rss_mib(proc.pid))
            out = cluster.kubectl("get", "ltm", "-o", "json").stdout
            items = json.loads(out)["items"]
            ready = sum(
                1
                for m in items
                for c in (m.get("status") or {}).get("conditions") or []
                if c["type"] == "Ready" and c["status"] == "True"
            )
            if ready == args.monitors:
                break
            if time.monotonic() - started > 600:
                raise SystemExit(f"only {ready}/{args.monitors} Ready after 600 s")
            time.sleep(0.5)
        converge_s = time.monotonic() - started
        time.sleep(3)
        converge_events = operator_events(cluster, mark)
        settle_mark = cluster.audit_mark()
        settle_started = time.monotonic()
        while time.monotonic() - settle_started < args.settle:
            peak = max(peak, rss_mib(proc.pid))
            time.sleep(1)
        idle_events = operator_events(cluster, settle_mark)
        final_rss = rss_mib(proc.pid)
    finally:
        if proc is not None:
            stop_process_group(proc.pid)
        cluster.stop()

    c_total, c_writes, c_kinds = summarize(converge_events)
    i_total, i_writes, _ = summarize(idle_events)
    n = args.monitors
    lines = [
        f"# Operator benchmark {dt.date.today().isoformat()}",
        "",
        "Command: `python bench/operator_bench.py "
        f"--monitors {n} --settle {args.settle:.0f}` on 2 cores (local control plane with KWOK pods).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| control plane warm start | {cluster_start:.1f} s |",
        f"| {n} monitors applied at once -> all Ready | {converge_s:.1f} s |",
        f"| operator API requests while converging | {c_total} ({c_total / n:.1f} per monitor) |",
        f"| of which writes | {c_writes} ({c_writes / n:.1f} per monitor) |",
        f"| requests while idle for {args.settle:.0f} s (one resync) | {i_total} ({i_total / n:.1f} per monitor) |",
        f"| writes while idle | {i_writes} |",
        f"| operator RSS: idle before monitors / peak / after | {idle_rss:.0f} / {peak:.0f} / {final_rss:.0f} MiB |",
        "",
        "Writes while converging, by verb and resource:",
        "",
        *[f"- {k}: {v}" for k, v in sorted(c_kinds.items())],
        "",
    ]
    report = "\n".join(lines)
    print(report)
    result_path = REPO / "bench" / "results" / f"operator-{dt.date.today().isoformat()}.md"
    result_path.write_text(report)
    print(f"written to {result_path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
