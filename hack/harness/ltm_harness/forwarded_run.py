"""Real Gatling runs (run.sh on the runner image's layout) with `loadtest-monitor forward` running
beside each runner WHILE Gatling runs, into a real influxd with the operator's rendered config.

One ForwardedRun is a DataPathRun (the 3.11 data-path tests' shape), so the same count checks
apply; it also records when InfluxDB first held data of the run, to prove the data arrived live.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from loadtest_monitor.graphite import ALL_REQUESTS
from loadtest_monitor.render.gatling import render_gatling_conf, requests_measurement
from loadtest_monitor.spec.monitor import MonitorSpec
from ltm_harness.datapath import DataPathRun, expected_users
from ltm_harness.forwarder import Forwarder
from ltm_harness.gatling_report import load_report
from ltm_harness.http_target import TargetServer
from ltm_harness.influx_bootstrap import start_influxd
from ltm_harness.influxd import Influxd
from ltm_harness.runner_home import RunnerHome, RunnerProcess, build_runner_home

# This runner's forwarder runs as the Job's native sidecar does: --until-sigterm, stopped with
# SIGTERM once Gatling has exited (the kubelet's part); the other one ends by itself on the report.
SIDECAR_RUNNER = "runner-b"


@dataclass
class ForwardedRun(DataPathRun):
    version: str = ""
    first_data_seen: dict[str, float] = field(default_factory=dict)  # runner -> time InfluxDB first had data
    gatling_exited: dict[str, float] = field(default_factory=dict)
    forwarder_logs: dict[str, str] = field(default_factory=dict)
    gatling_consoles: dict[str, str] = field(default_factory=dict)  # run.sh + Gatling output per runner
    sidecar_alive_at_sigterm: dict[str, bool] = field(default_factory=dict)


def run_forwarded(
    version: str,
    spec: MonitorSpec,
    target: TargetServer,
    workdir: Path,
    runners: dict[str, dict[str, str]],
    agent_jar: Path | None,
) -> ForwardedRun:
    server = start_influxd(spec, workdir / "influxd")
    forwarders: list[Forwarder] = []
    gatlings: list[RunnerProcess] = []
    try:
        conf = render_gatling_conf(spec, graphite_host="127.0.0.1", graphite_port=server.ports.graphite)
        home: RunnerHome = build_runner_home(workdir / "runner", version, conf, agent_jar)
        before_total, before_errors = target.total(), target.errors()
        started = time.time()
        for runner, props in runners.items():
            results = workdir / f"results-{runner}"
            results.mkdir(parents=True)
            extra = ("--until-sigterm",) if runner == SIDECAR_RUNNER else ()
            forwarders.append(Forwarder(home.conf, results, runner, extra).start())
            gatlings.append(RunnerProcess(home, runner, {"target.baseUrl": target.base_url, **props}, results))
        for g in gatlings:
            g.start()
        first_seen, exited = _watch_live(server, spec, gatlings)
        run_dirs = {g.runner: g.wait() for g in gatlings}
        finished = time.time()
        time.sleep(3)  # the sidecar must still be there after the run, waiting for its SIGTERM
        sidecar_alive = {f.runner: f.terminate() for f in forwarders if f.runner == SIDECAR_RUNNER}
        rcs = {f.runner: f.wait() for f in forwarders}
        failed = {r: (rc, f.tail()) for f, (r, rc) in zip(forwarders, rcs.items(), strict=True) if rc != 0}
        if failed:
            raise RuntimeError(f"forwarder exit codes: {failed}")
        server.wait_quiet(lambda: server.graphite_stats().get(spec.graphite.protocol, {}).get("pointsTx", 0))
    except BaseException:
        for f in forwarders:
            f.stop()
        for g in gatlings:
            g.stop()
        server.stop()
        raise
    return ForwardedRun(
        influxd=server,
        spec=spec,
        gatling_conf=conf,
        project=home.home,
        results={r: load_report(d, r) for r, d in run_dirs.items()},
        expected_users={runner: expected_users(props) for runner, props in runners.items()},
        target_total=target.total() - before_total,
        target_errors=target.errors() - before_errors,
        started=started,
        finished=finished,
        version=version,
        first_data_seen=first_seen,
        gatling_exited=exited,
        forwarder_logs={f.runner: f.log.read_text(errors="replace") for f in forwarders},
        gatling_consoles={g.runner: g.console_log.read_text(errors="replace") for g in gatlings},
        sidecar_alive_at_sigterm=sidecar_alive,
    )


def _watch_live(
    server: Influxd, spec: MonitorSpec, gatlings: list[RunnerProcess]
) -> tuple[dict[str, float], dict[str, float]]:
    """Polls InfluxDB while the runners run: when did each runner's first request count land?"""
    measurement = requests_measurement(spec.gatling)
    first_seen: dict[str, float] = {}
    exited: dict[str, float] = {}
    while len(exited) < len(gatlings):
        for g in gatlings:
            if g.runner not in exited and g.proc is not None and g.proc.poll() is not None:
                exited[g.runner] = time.time()
        rows = server.rows(
            f'SELECT sum("count") AS n FROM "{measurement}" WHERE "request" = \'{ALL_REQUESTS}\' '
            "AND \"status\" = 'all' GROUP BY \"runner\"",
            spec.influxdb.database,
        ) if _db_exists(server, spec.influxdb.database) else []
        now = time.time()
        for row in rows:
            if row.get("n") and row["runner"] not in first_seen:
                first_seen[row["runner"]] = now
        time.sleep(0.25)
    return first_seen, exited


def _db_exists(server: Influxd, db: str) -> bool:
    return any(v[0] == db for s in server.series("SHOW DATABASES") for v in s.get("values", []))
