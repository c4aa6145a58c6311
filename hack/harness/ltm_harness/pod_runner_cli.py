"""``ltm-cluster pod-runner``: the pod runner in the foreground against the ``make cluster`` control
plane, with a real InfluxDB (the operator's rendered config) and the HTTP target unless given.

    ltm-cluster pod-runner [--namespace NS] [--graphite HOST:PORT] [--target-url URL]
                           [--prepare 3.15.1 ...] [--fault crash|no-forwarder|drop-metrics]

Runs until Ctrl-C (or SIGTERM); every runner process it started is stopped then.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from loadtest_monitor.spec.monitor import parse_spec
from ltm_harness.apiserver import ApiServer
from ltm_harness.http_target import TargetServer
from ltm_harness.influx_bootstrap import start_influxd
from ltm_harness.influxd import Influxd
from ltm_harness.pod_runner import PodRunner
from ltm_harness.pod_spec import FAULTS, RUN_LABEL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", "-n", help="only this namespace's runner pods (default: all)")
    parser.add_argument(
        "--graphite", metavar="HOST:PORT", help="an InfluxDB Graphite listener to use (default: start one)"
    )
    parser.add_argument("--target-url", help="base URL the simulations load (default: start the HTTP target)")
    parser.add_argument("--work-dir", type=Path, help="runner homes, pod folders and logs (default: STATE_DIR/pods)")
    parser.add_argument(
        "--prepare", action="append", default=[], metavar="VERSION",
        help="build the runner layout of this Gatling version before any pod comes (repeatable)",
    )
    parser.add_argument("--fault", choices=FAULTS, help="inject this fault into every pod without the annotation")


def _graphite(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--graphite {value!r}: expected HOST:PORT, e.g. 127.0.0.1:2003")
    return host, int(port)


def _report(runner: PodRunner, seen: set[str]) -> None:
    """One line per pod that ended: its exit code (and why, when the pod runner failed it)."""
    for key, record in list(runner.records.items()):
        if record.done.is_set() and key not in seen:
            seen.add(key)
            print(f"{key}: exit {record.exit_code} {record.error}".rstrip(), flush=True)


def run(cluster: ApiServer, args: argparse.Namespace, state_dir: Path) -> int:
    workdir: Path = args.work_dir or state_dir / "pods"
    influxd: Influxd | None = None
    target: TargetServer | None = None
    runner: PodRunner | None = None
    stop = threading.Event()
    seen: set[str] = set()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        if args.graphite:
            graphite = _graphite(args.graphite)
        else:
            influxd = start_influxd(parse_spec({}), workdir / "influxd")
            graphite = ("127.0.0.1", influxd.ports.graphite)
            print(f"InfluxDB: {influxd.url} (admin {influxd.auth[0] if influxd.auth else '-'}), Graphite {graphite[1]}")
        if args.target_url:
            target_url = args.target_url
        else:
            target = TargetServer().start()
            target_url = target.base_url
        print(f"HTTP target: {target_url}")
        runner = PodRunner(cluster, workdir, graphite, target_url, namespace=args.namespace,
                           default_fault=args.fault)
        for version in args.prepare:
            print(f"building the runner layout of Gatling {version} ...", flush=True)
            runner.prepare(version)
        runner.start()
        print(f"pod runner: running pods labelled {RUN_LABEL} in {args.namespace or 'all namespaces'}; "
              f"folders under {workdir}; Ctrl-C to stop", flush=True)
        while not stop.wait(1.0):
            _report(runner, seen)
        return 0
    finally:
        if runner is not None:
            runner.stop()
            _report(runner, seen)  # what ended since the last look
        if target is not None:
            target.stop()
        if influxd is not None:
            influxd.stop()


if __name__ == "__main__":
    sys.exit("run it as `ltm-cluster pod-runner`")
