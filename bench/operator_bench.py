"""Operator benchmark on the real local control plane: time to Ready, latency, API requests, memory.

    python -m bench.operator_bench [--monitors 100] [--settle 65] [--singles 10] [--unrelated 5000]

1. Single monitors applied one at a time: apply -> ConfigPublished=True latency (p50/p95), beside
   the floor: the same rendered objects applied with `kubectl apply --server-side`.
2. N monitors applied at once: seconds until all are Ready; the operator's API requests and
   writes while converging (from the API server's audit log).
3. Idle for --settle seconds (>= one resync): GET/LIST per monitor per minute.
4. Operator RSS: idle before any monitor, with N monitors, and after --unrelated ConfigMaps in
   another namespace (which a label-selected watch never sends to the operator).
Prints the figures and writes them to bench/results/operator-<date>.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.monitor import offline_credentials, render_all
from loadtest_monitor.spec.monitor_input import check_monitor
from ltm_harness.binaries import find_binaries
from ltm_harness.cluster import LocalCluster
from ltm_harness.operator_process import OperatorProcess
from ltm_harness.repo import PROJECT_CRDS_DIR
from ltm_harness.repo import REPO_ROOT as REPO

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


def by_verb_and_resource(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(f"{e['verb']} {e.get('objectRef', {}).get('resource')}" for e in events)


def summarize(events: list[dict[str, Any]]) -> tuple[int, int, Counter[str]]:
    writes = [e for e in events if e["verb"] in WRITES]
    return len(events), len(writes), by_verb_and_resource(writes)


def monitor_yaml(name: str, namespace: str = "default") -> str:
    head = "apiVersion: loadtest.dev/v1alpha1\nkind: LoadtestMonitor\nmetadata:\n"
    return f"{head}  name: {name}\n  namespace: {namespace}\n"


def _condition_true(cluster: LocalCluster, namespace: str, name: str, cond_type: str) -> bool:
    try:
        mon = cluster.api_get(f"/apis/loadtest.dev/v1alpha1/namespaces/{namespace}/loadtestmonitors/{name}")
    except Exception:  # not there yet
        return False
    conditions = (mon.get("status") or {}).get("conditions") or []
    return any(c["type"] == cond_type and c["status"] == "True" for c in conditions)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def single_latencies(cluster: LocalCluster, count: int) -> tuple[list[float], list[float]]:
    """(operator apply -> ConfigPublished, kubectl apply --server-side of the same objects), seconds."""
    for ns in ("bench-single", "bench-floor"):
        cluster.kubectl("create", "namespace", ns)
    cli = str(Path(sys.executable).parent / "loadtest-monitor")
    operator_s: list[float] = []
    floor_s: list[float] = []
    for i in range(count):
        name = f"s{i:03d}"
        started = time.monotonic()
        assert cluster.kubectl("apply", "-f", "-", input=monitor_yaml(name, "bench-single")).returncode == 0
        while not _condition_true(cluster, "bench-single", name, "ConfigPublished"):
            if time.monotonic() - started > 60:
                raise SystemExit(f"{name}: no ConfigPublished after 60 s")
            time.sleep(0.02)
        operator_s.append(time.monotonic() - started)
        rendered = subprocess.run(
            [cli, "render", "-f", "-", "-n", "bench-floor"],
            input=monitor_yaml(f"f{i:03d}", "bench-floor"),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        started = time.monotonic()
        applied = cluster.kubectl("apply", "--server-side", "--field-manager=bench", "-f", "-", input=rendered)
        assert applied.returncode == 0, applied.stderr
        floor_s.append(time.monotonic() - started)
    return operator_s, floor_s


def unrelated_config_maps(cluster: LocalCluster, count: int) -> None:
    cluster.kubectl("create", "namespace", "bench-unrelated")
    batch = 500
    for first in range(0, count, batch):
        docs = "---\n".join(
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other-{i:05d}\n  namespace: bench-unrelated\n"
            f"data:\n  payload: {'x' * 200}\n"
            for i in range(first, min(count, first + batch))
        )
        assert cluster.kubectl("apply", "--server-side", "-f", "-", input=docs, timeout=300).returncode == 0


def default_child_count() -> int:
    """Children of a monitor with an empty spec, as the operator renders them (Secrets included)."""
    monitor = check_monitor(yaml.safe_load(monitor_yaml("m")), None)
    ctx = RenderContext(Owner(monitor.name, monitor.namespace), monitor.spec, "cluster.local")
    return len(render_all(ctx, offline_credentials(ctx)))


def reads(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["verb"] in ("get", "list")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--monitors", type=int, default=100)
    parser.add_argument("--settle", type=float, default=125.0, help="seconds of idle observation (>= one resync)")
    parser.add_argument("--singles", type=int, default=10, help="single monitors for the latency figure")
    parser.add_argument("--unrelated", type=int, default=5000, help="ConfigMaps in another namespace")
    args = parser.parse_args()

    run_dir = Path(tempfile.mkdtemp(prefix="ltm-bench-"))
    cluster = LocalCluster(find_binaries(), run_dir)
    t0 = time.monotonic()
    cluster.start()
    cluster_start = time.monotonic() - t0
    proc = None
    n = args.monitors
    try:
        assert cluster.kubectl("apply", "--server-side", "-f", str(PROJECT_CRDS_DIR)).returncode == 0
        cluster.kubectl("wait", "--for=condition=Established", "crd/loadtestmonitors.loadtest.dev")
        env = cluster.env()
        env["LTM_RESYNC_SECONDS"] = "120"
        proc = OperatorProcess(env, run_dir / "operator.log")
        time.sleep(5)
        idle_rss = rss_mib(proc.pid)
        operator_s, floor_s = single_latencies(cluster, args.singles)

        mark = cluster.audit_mark()
        docs = "---\n".join(monitor_yaml(f"m{i:03d}") for i in range(n))
        started = time.monotonic()
        assert cluster.kubectl("apply", "-f", "-", input=docs).returncode == 0
        peak = idle_rss
        while True:
            peak = max(peak, rss_mib(proc.pid))
            items = cluster.api_get("/apis/loadtest.dev/v1alpha1/namespaces/default/loadtestmonitors")["items"]
            ready = sum(
                1
                for m in items
                for c in (m.get("status") or {}).get("conditions") or []
                if c["type"] == "Ready" and c["status"] == "True"
            )
            if ready == n:
                break
            if time.monotonic() - started > 600:
                raise SystemExit(f"only {ready}/{n} Ready after 600 s")
            time.sleep(0.5)
        converge_s = time.monotonic() - started
        time.sleep(5)
        converge_events = [
            e for e in operator_events(cluster, mark) if e.get("objectRef", {}).get("namespace") == "default"
        ]
        settle_mark = cluster.audit_mark()
        settle_started = time.monotonic()
        while time.monotonic() - settle_started < args.settle:
            peak = max(peak, rss_mib(proc.pid))
            time.sleep(1)
        idle_events = operator_events(cluster, settle_mark)
        settled_s = time.monotonic() - settle_started
        rss_at_n = rss_mib(proc.pid)
        unrelated_config_maps(cluster, args.unrelated)
        time.sleep(15)
        rss_unrelated = rss_mib(proc.pid)
    finally:
        if proc is not None:
            proc.stop()
        cluster.stop()

    c_total, c_writes, c_kinds = summarize(converge_events)
    i_total, i_writes, _ = summarize(idle_events)
    idle_reads = len(reads(idle_events))
    children = default_child_count()
    total_monitors = n + args.singles
    per_minute = idle_reads / total_monitors / (settled_s / 60)
    ratio = statistics.median(operator_s) / statistics.median(floor_s)
    lines = [
        f"# Operator benchmark {dt.date.today().isoformat()}",
        "",
        "Command: `make bench-operator` (= `python -m bench.operator_bench "
        f"--monitors {n} --settle {args.settle:.0f} --singles {args.singles} --unrelated {args.unrelated}`), "
        "2 cores shared with other work, local control plane (etcd, kube-apiserver, controller-manager, "
        "scheduler, KWOK pods).",
        "",
        "| figure | value | goal |",
        "|---|---|---|",
        f"| control plane warm start | {cluster_start:.1f} s | |",
        f"| {n} monitors applied at once -> all Ready | {converge_s:.1f} s | <= 60 s |",
        f"| single monitor apply -> ConfigPublished, p50 / p95 | {statistics.median(operator_s):.2f} / "
        f"{_percentile(operator_s, 0.95):.2f} s | |",
        f"| same objects by `kubectl apply --server-side` (floor), p50 / p95 | {statistics.median(floor_s):.2f} / "
        f"{_percentile(floor_s, 0.95):.2f} s | |",
        f"| ratio of the p50s | {ratio:.2f} | <= 1.5 |",
        f"| API requests to converge, per monitor | {c_total / n:.1f} ({c_total} in all) | <= {children + 6} |",
        f"| writes to converge, per monitor | {c_writes / n:.1f} ({c_writes}) | <= {children + 3} |",
        f"| GET/LIST per monitor per minute, idle ({settled_s:.0f} s, {total_monitors} monitors) | "
        f"{per_minute:.2f} ({idle_reads} reads, {i_total} requests) | 0..1 |",
        f"| writes while idle | {i_writes} | 0 |",
        f"| operator RSS idle (no monitor) | {idle_rss:.0f} MiB | <= 100 MiB |",
        f"| operator RSS with {total_monitors} monitors (peak while converging) | {rss_at_n:.0f} MiB ({peak:.0f}) |"
        " <= 150 MiB |",
        f"| ... after {args.unrelated} unrelated ConfigMaps in another namespace | {rss_unrelated:.0f} MiB "
        f"({rss_unrelated - rss_at_n:+.1f}) | < +5 MiB |",
        "",
        "Writes while converging, by verb and resource:",
        "",
        *[f"- {k}: {v}" for k, v in sorted(c_kinds.items())],
        "",
        "Reads while converging, by verb and resource:",
        "",
        *[f"- {k}: {v}" for k, v in sorted(by_verb_and_resource(reads(converge_events)).items())],
        "",
    ]
    report = "\n".join(lines)
    print(report)
    suffix = "" if n == 100 else f"-{n}"  # the stretch run (500) beside the goal's run
    result_path = REPO / "bench" / "results" / f"operator-{dt.date.today().isoformat()}{suffix}.md"
    result_path.write_text(report)
    print(f"written to {result_path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
