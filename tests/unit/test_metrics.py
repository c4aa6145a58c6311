"""Operator metrics: the API the reconcile calls, scraped over HTTP as Prometheus scrapes it."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtest_monitor.controller import metrics
from ltm_harness.ports import free_port


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_scraped_metrics_follow_the_calls() -> None:
    port = metrics.start_metrics_server(0, address="127.0.0.1")
    assert metrics.start_metrics_server(0, address="127.0.0.1") == port  # one server per process
    before = scrape(port)
    # Every outcome exists before it happens, so alerts and rate() work from the start.
    for outcome in metrics.OUTCOMES:
        assert ("loadtest_monitor_reconciles_total", (("outcome", outcome),)) in before
    assert ("loadtest_monitor_monitors", (("ready", "false"),)) in before

    metrics.observe_reconcile("ok", 0.02)
    metrics.observe_reconcile("ok", 0.3)
    metrics.observe_reconcile("error", 1.5)
    metrics.observe_reconcile("conflict", 0.01)
    metrics.set_monitors(ready=3, not_ready=1)
    metrics.count_watch_restart("loadtestmonitors")
    metrics.count_watch_restart("loadtestmonitors")
    metrics.count_watch_restart("deployments")
    after = scrape(port)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("loadtest_monitor_reconciles_total", outcome="ok") == 2
    assert delta("loadtest_monitor_reconciles_total", outcome="error") == 1
    assert delta("loadtest_monitor_reconciles_total", outcome="conflict") == 1
    assert delta("loadtest_monitor_reconciles_total", outcome="invalid") == 0
    assert delta("loadtest_monitor_reconcile_errors_total", outcome="error") == 1
    assert delta("loadtest_monitor_reconcile_errors_total", outcome="conflict") == 1
    assert ("loadtest_monitor_reconcile_errors_total", (("outcome", "ok"),)) not in after
    assert delta("loadtest_monitor_reconcile_duration_seconds_count", outcome="ok") == 2
    assert delta("loadtest_monitor_reconcile_duration_seconds_sum", outcome="ok") == pytest.approx(0.32)
    assert delta("loadtest_monitor_reconcile_duration_seconds_bucket", outcome="ok", le="0.025") == 1
    assert delta("loadtest_monitor_reconcile_duration_seconds_bucket", outcome="ok", le="0.5") == 2
    assert delta("loadtest_monitor_reconcile_duration_seconds_bucket", outcome="error", le="1.0") == 0
    assert delta("loadtest_monitor_reconcile_duration_seconds_bucket", outcome="error", le="2.5") == 1
    assert value(after, "loadtest_monitor_monitors", ready="true") == 3
    assert value(after, "loadtest_monitor_monitors", ready="false") == 1
    assert delta("loadtest_monitor_watch_restarts_total", resource="loadtestmonitors") == 2
    assert delta("loadtest_monitor_watch_restarts_total", resource="deployments") == 1


def test_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown reconcile outcome 'done'"):
        metrics.observe_reconcile("done", 1.0)


def test_run_metrics_port_serves_metrics_and_a_taken_port_is_one_line(tmp_path: Path) -> None:
    """`run --metrics-port` serves /metrics before kopf even logs in (no cluster needed for that)."""
    port = free_port()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "current-context: c\n"
    )
    env = {"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"}
    cli = str(Path(sys.executable).parent / "loadtest-monitor")
    proc = subprocess.Popen([cli, "run", "--metrics-port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        samples = None
        while samples is None and time.monotonic() < deadline:
            try:
                samples = scrape(port)
            except OSError:
                time.sleep(0.2)
        assert samples is not None, "no /metrics within 30 s"
        assert ("loadtest_monitor_reconciles_total", (("outcome", "ok"),)) in samples
        taken = subprocess.run([cli, "run", "--metrics-port", str(port)], env=env, capture_output=True, text=True,
                               timeout=60)
        assert taken.returncode != 0
        assert taken.stderr.strip().splitlines()[-1] == (
            f"error: --metrics-port {port}: Address already in use; choose a free port"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- test runs (LoadtestRun) --------------------------------------------------------------------


def test_run_end_is_scraped_with_its_verdict_and_duration() -> None:
    port = metrics.start_metrics_server(0, address="127.0.0.1")
    before = scrape(port)
    for phase in metrics.RUN_PHASES:  # every phase is there at 0 before the first run
        assert ("loadtest_runs", (("phase", phase),)) in before

    metrics.record_run_end("perf", "checkout", "smoke-1", "Passed", 312.5)
    metrics.record_run_end("perf", "checkout", "smoke-2", "Failed", 95.0)
    metrics.record_run_end("perf", "checkout", "smoke-3", "Error", -1.0)  # clock skew: never negative
    metrics.set_runs_by_phase({"Running": 2, "Passed": 1, "Failed": 1})
    after = scrape(port)

    def run_value(name: str, run: str) -> float | None:
        return after.get((name, (("monitor", "checkout"), ("namespace", "perf"), ("run", run))))

    assert run_value("loadtest_run_passed", "smoke-1") == 1
    assert run_value("loadtest_run_passed", "smoke-2") == 0
    assert run_value("loadtest_run_passed", "smoke-3") == 0
    assert run_value("loadtest_run_duration_seconds", "smoke-1") == 312.5
    assert run_value("loadtest_run_duration_seconds", "smoke-2") == 95.0
    assert run_value("loadtest_run_duration_seconds", "smoke-3") == 0.0
    assert value(after, "loadtest_runs", phase="Running") == 2
    assert value(after, "loadtest_runs", phase="Passed") == 1
    assert ("loadtest_runs", (("phase", "Pending"),)) in after and value(after, "loadtest_runs", phase="Pending") == 0

    # A run that ends again (a re-judged verdict) overwrites its series; a deleted run loses them.
    metrics.record_run_end("perf", "checkout", "smoke-2", "Passed", 96.0)
    metrics.forget_run("perf", "checkout", "smoke-1")
    metrics.forget_run("perf", "checkout", "never-ended")
    metrics.set_runs_by_phase({"Passed": 1})
    later = scrape(port)
    key = ("loadtest_run_passed", (("monitor", "checkout"), ("namespace", "perf"), ("run", "smoke-2")))
    assert later[key] == 1
    assert not any(labels and ("run", "smoke-1") in labels for _, labels in later)
    assert value(later, "loadtest_runs", phase="Running") == 0  # left out: back to 0


def test_unknown_run_verdict_and_phase_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown run verdict 'Done'"):
        metrics.record_run_end("perf", "checkout", "x", "Done", 1.0)
    with pytest.raises(ValueError, match="unknown run phase"):
        metrics.set_runs_by_phase({"Finished": 1})
