"""Freshness of the Gatling 3.12+ realtime path (a command, not a test: `make bench-freshness`).

Seconds from a request's completion to the moment its count is queryable in InfluxDB, with a real
Gatling (3.15.1 by default) started by the runner image's run.sh, `loadtest-monitor forward`
following its simulation.log, and a real influxd with the operator's rendered config (writePeriod
1 s), at 10, 100 and 1,000 requests/s, with and without the runner image's log-flush agent.

How it is measured, independent of window boundaries: a request's completion is Gatling's own
end time for it, read from the run's simulation.log afterwards (with the forwarder's decoder; the
binary log stores times relative to the run start in its header). A poller asks InfluxDB every
100 ms for the run's total request count (sum of allRequests.all.count over all windows). The
i-th response (in completion order) is "visible" at the first poll whose total is >= i; its
freshness is that poll time minus its completion time. p50/p95 over all requests. A window that is
re-sent with a larger count simply raises the total; nothing is double counted.

Results are printed and written to bench/results/freshness-<date>.md and .json.
Everything stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from loadtest_monitor.forward.logformat import choose_decoder
from loadtest_monitor.forward.records import RequestRecord
from loadtest_monitor.graphite import ALL_REQUESTS
from loadtest_monitor.render.gatling import render_gatling_conf, requests_measurement
from loadtest_monitor.spec.monitor import MonitorSpec, parse_spec
from ltm_harness.forwarder import Forwarder
from ltm_harness.http_target import TargetServer
from ltm_harness.influx_bootstrap import start_influxd
from ltm_harness.influxd import Influxd
from ltm_harness.runner_home import RunnerHome, RunnerProcess, build_agent, build_runner_home, image_jvm_flags

ROOT = Path(__file__).resolve().parent.parent

SIMULATION = "loadtestmonitor.e2e.FreshnessSimulation"
RAW_SPEC = {
    "gatling": {"light": False, "writePeriod": 1, "rootPathPrefix": "gatling", "maxGroupDepth": 3},
    "graphite": {"protocol": "tcp"},
}
POLL_SECONDS = 0.1


class QuietTarget(TargetServer):
    """The e2e HTTP target without a traceback per connection a client dropped."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


def completions_of(log: Path) -> list[float]:
    """Gatling's end time (epoch seconds) of every request in a finished simulation.log."""
    data = log.read_bytes()
    decoder = choose_decoder(data[:16])
    assert decoder is not None, f"{log}: empty"
    records = decoder.feed(data)
    header = decoder.header
    assert header is not None
    offset = header.start_ms if header.log_format == "binary" else 0
    return [(r.end + offset) / 1000 for r in records if isinstance(r, RequestRecord)]


@dataclass
class Result:
    rate: int
    agent: bool
    seconds: int
    requests: int
    visible: int
    p50: float
    p95: float
    max: float
    log_bytes_per_request: float
    load_average: float  # the machine's 1-minute load average at the end of the run

    def row(self) -> str:
        return (
            f"| {self.rate} | {'with' if self.agent else 'without'} | {self.requests} | {self.p50:.2f} | "
            f"{self.p95:.2f} | {self.max:.2f} | {self.log_bytes_per_request:.1f} | {self.load_average:.1f} |"
        )


class Poller(threading.Thread):
    """Polls InfluxDB for the run's total request count: a step function of time."""

    def __init__(self, server: Influxd, spec: MonitorSpec) -> None:
        super().__init__(daemon=True)
        self.server, self.spec = server, spec
        self.samples: list[tuple[float, int]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        q = (
            f'SELECT sum("count") AS n FROM "{requests_measurement(self.spec.gatling)}" '
            f"WHERE \"request\" = '{ALL_REQUESTS}' AND \"status\" = 'all'"
        )
        while not self.stop_event.is_set():
            try:
                rows = self.server.rows(q, self.spec.influxdb.database)
            except Exception:  # the database appears with the first point
                rows = []
            self.samples.append((time.time(), int(rows[0]["n"]) if rows and rows[0]["n"] else 0))
            time.sleep(POLL_SECONDS)


def freshness(completions: list[float], samples: list[tuple[float, int]]) -> list[float]:
    """Per response (in completion order): first poll time with total >= its rank, minus completion."""
    times = [t for t, _ in samples]
    counts = [n for _, n in samples]
    # counts can only grow (a re-sent window has a larger count); keep it monotone anyway.
    running = 0
    for i, n in enumerate(counts):
        running = max(running, n)
        counts[i] = running
    out = []
    for rank, done in enumerate(sorted(completions), start=1):
        j = bisect.bisect_left(counts, rank)
        if j < len(times):
            out.append(max(0.0, times[j] - done))
    return out


def one_run(home: RunnerHome, rate: int, seconds: int, with_agent: bool, work: Path) -> Result:
    """One run on `home` (built with the agent); without it, the image's flags minus -javaagent."""
    spec = parse_spec(RAW_SPEC)
    agent_path = str(home.home / "agent" / "log-flush-agent.jar") if with_agent else ""
    (home.home / "jvm-flags").write_text(image_jvm_flags(home.version, agent_path) + "\n")
    server = start_influxd(spec, work / "influxd")
    target = QuietTarget()
    target.start()
    poller = Poller(server, spec)
    forwarder: Forwarder | None = None
    try:
        home.conf.write_text(render_gatling_conf(spec, graphite_host="127.0.0.1", graphite_port=server.ports.graphite))
        results = work / "results"
        results.mkdir(parents=True)
        forwarder = Forwarder(home.conf, results, "fresh").start()
        poller.start()
        gatling = RunnerProcess(
            home, "fresh", {"target.baseUrl": target.base_url, "fresh.rate": str(rate), "fresh.seconds": str(seconds)},
            results, simulation=SIMULATION,
        ).start()
        run_dir = gatling.wait(timeout=seconds + 300)
        if forwarder.wait() != 0:
            raise RuntimeError(f"forwarder failed:\n{forwarder.tail()}")
        time.sleep(2)
        poller.stop_event.set()
        poller.join()
        completions = completions_of(run_dir / "simulation.log")
        lat = freshness(completions, poller.samples)
        q = statistics.quantiles(lat, n=100, method="inclusive")
        log_bytes = (run_dir / "simulation.log").stat().st_size
        return Result(rate, with_agent, seconds, len(completions), len(lat), q[49], q[94], max(lat),
                      log_bytes / max(1, len(completions)), os.getloadavg()[0])
    finally:
        poller.stop_event.set()
        if forwarder is not None:
            forwarder.stop()
        target.stop()
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gatling-version", default="3.15.1")
    parser.add_argument("--rates", default="10,100,1000", help="requests per second, comma-separated")
    parser.add_argument("--seconds", type=int, default=20, help="load duration of each run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="freshness-") as tmp:
        work = Path(tmp)
        agent = build_agent(work)
        home = build_runner_home(work / "runner", args.gatling_version, "", agent)
        for rate in rates:
            for with_agent in (True, False):
                r = one_run(home, rate, args.seconds, with_agent, work / f"{rate}-{with_agent}")
                print(r.row(), flush=True)
                results.append(r)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    args.out.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Freshness of the forwarder path (Gatling {args.gatling_version}, writePeriod 1 s, "
        f"{args.seconds} s per run)\n\n"
        f"Machine: {platform.machine()}, {platform.python_version()}; command: `make bench-freshness`.\n"
        "Seconds from a response to its count being queryable in InfluxDB (poll every 0.1 s).\n"
        "Goal with the flush agent: p95 <= writePeriod + 1.5 s = 2.5 s.\n\n"
        f"The machine has {os.cpu_count()} cores; the last column is its 1-minute load average at the end\n"
        "of each run (Gatling, the forwarder, InfluxDB and the target share them).\n\n"
        "| req/s | flush agent | requests | p50 s | p95 s | max s | log bytes/request | load avg |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    text = header + "\n".join(r.row() for r in results) + "\n"
    (args.out / f"freshness-{stamp}.md").write_text(text)
    (args.out / f"freshness-{stamp}.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
