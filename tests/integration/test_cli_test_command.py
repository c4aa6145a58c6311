"""`loadtest-monitor test -f run.yaml --wait` against the real control plane: it creates the
LoadtestRun, prints progress while the status moves (written here through the status
subresource, as the run controller writes it), prints the summary and exits 0 / 1 / 2.

The project's LoadtestRun CRD is the one the harness installs with the cluster; no operator runs,
so nothing but these tests writes the runs' status.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pykube
import pytest
import yaml

from ltm_harness.cluster import LocalCluster
from tests.integration.operator_support import wait_for

CLI = str(Path(sys.executable).parent / "loadtest-monitor")
CRD_NAME = "loadtestruns.loadtest.dev"

@pytest.fixture(scope="module")
def run_crd(cluster: LocalCluster) -> None:
    """The project's LoadtestRun CRD, installed with the cluster (the harness installs crds/)."""
    waited = cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{CRD_NAME}")
    assert waited.returncode == 0, waited.stderr


def run_file(tmp_path: Path, name: str, namespace: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "loadtest.dev/v1alpha1",
                "kind": "LoadtestRun",
                "metadata": {"name": name, "namespace": namespace},
                # No operator runs here: the tests write the status as the run controller does.
                "spec": {
                    "monitorRef": {"name": "checkout"},
                    "image": "gatling-runner:3.15.1",
                    "simulation": "loadtest.CheckoutSimulation",
                },
            }
        )
    )
    return path


class Running:
    """The CLI as a process, its stdout collected line by line as it comes (to act on what it said)."""

    def __init__(self, cluster: LocalCluster, *args: str) -> None:
        self.proc = subprocess.Popen([CLI, *args], env=cluster.env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_said(self, words: str, timeout: float = 60) -> None:
        wait_for(lambda: any(words in line for line in self.lines) or None, timeout, f"the CLI to say {words!r}")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=10)
        assert self.proc.stderr is not None and self.proc.stdout is not None
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        self.proc.stdout.close()
        return self.proc.returncode, "\n".join(self.lines), err


def cli(cluster: LocalCluster, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env or cluster.env(), capture_output=True, text=True, timeout=120,
                          check=False)


def run_object(api: pykube.HTTPClient, namespace: str, name: str) -> Any:
    kind = pykube.object_factory(api, "loadtest.dev/v1alpha1", "LoadtestRun")
    return wait_for(lambda: kind.objects(api, namespace=namespace).get_or_none(name=name), 30, f"run {name}")


def _patch_status(run: Any, status: dict[str, Any]) -> None:
    """A merge patch of the status subresource, as the run controller writes it."""
    response = run.api.patch(
        url=f"loadtestruns/{run.name}/status",
        namespace=run.namespace,
        version="loadtest.dev/v1alpha1",
        json={"status": status},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    run.api.raise_for_status(response)


FAILED_STATUS: dict[str, Any] = {
    "phase": "Failed",
    "verdict": "Failed",
    "reason": "CriteriaFailed",
    "message": "1 of 2 criteria failed: p95 of checkout 612 ms > 500 ms",
    "startTime": "2026-12-06T10:00:00Z",
    "endTime": "2026-12-06T10:02:30Z",
    "runners": {"desired": 2, "ready": 0, "running": 0, "succeeded": 2, "failed": 0},
    "runnersSummary": "2/2",
    "results": {
        "requests": 9000, "ok": 8950, "ko": 50, "errorRatio": 0.0056, "errorPercent": 0.56, "throughput": 60.0,
        "meanMs": 120.5, "p50Ms": 80, "p75Ms": 150, "p95Ms": 480, "p99Ms": 900, "maxMs": 2300,
        "worstRequests": [
            {"name": "checkout", "requests": 3000, "ok": 2960, "ko": 40, "errorRatio": 0.0133,
             "errorPercent": 1.33, "throughput": 20.0, "meanMs": 200.0, "p50Ms": 150, "p75Ms": 300,
             "p95Ms": 612, "p99Ms": 1200, "maxMs": 2300},
        ],
    },
    "criteria": [
        {"description": "error ratio of all requests <= 0.01", "threshold": 0.01, "measured": 0.0056, "passed": True},
        {"description": "p95 of checkout <= 500 ms", "threshold": 500, "measured": 612, "passed": False},
    ],
}


def test_wait_follows_the_run_and_exits_1_on_failed_criteria(
    cluster: LocalCluster, kube_api: pykube.HTTPClient, namespace: str, run_crd: None, tmp_path: Path
) -> None:
    path = run_file(tmp_path, "smoke", namespace)
    cli_run = Running(cluster, "test", "-f", str(path), "--wait", "--timeout", "2m")
    run = run_object(kube_api, namespace, "smoke")
    assert run.obj["spec"]["monitorRef"] == {"name": "checkout"}  # created from the file, CRD defaults added
    managers = {m["manager"] for m in run.obj["metadata"].get("managedFields", [])}
    assert managers == {"loadtest-monitor-cli"}  # server-side apply with the CLI's field manager
    cli_run.wait_said("] Pending")
    _patch_status(run, {"phase": "Starting", "runners": {"desired": 2, "ready": 1},
                        "message": "waiting for runner pods"})
    cli_run.wait_said("] Starting")
    _patch_status(run, {"phase": "Running", "runners": {"desired": 2, "ready": 2, "running": 2},
                        "runnersSummary": "2/2", "results": {"requests": 1500},
                        "runnerData": [{"runner": "smoke-0", "lastPointAgeSeconds": 1},
                                       {"runner": "smoke-1", "lastPointAgeSeconds": 2}]})
    cli_run.wait_said("] Running")
    time.sleep(12)  # longer than the 10 s heartbeat: a second Running line
    _patch_status(run, FAILED_STATUS)
    code, out, err = cli_run.finish()
    assert code == 1, (out, err)
    lines = out.splitlines()
    assert any("created" in line and f"{namespace}/smoke" in line for line in lines)
    assert any("Starting, runners 0/2 running (ready 1), waiting for runner pods" in line for line in lines)
    running = [line for line in lines if "] Running, runners 2/2" in line]
    assert len(running) >= 2, out  # the phase change, then the heartbeat while running
    assert "1,500 requests so far" in running[0] and "data: smoke-0 1s, smoke-1 2s" in running[0]
    summary = lines[lines.index("smoke: FAILED (CriteriaFailed) after 2m30s"):]
    assert "p95 of checkout 612 ms > 500 ms" in summary[1]
    assert any(line.split()[:2] == ["checkout", "3,000"] for line in summary)
    assert any(line.split()[-3:] == ["500", "612", "FAIL"] for line in summary)
    assert any(line.split()[-3:] == ["0.010", "0.006", "PASS"] for line in summary)

    # The spec is immutable: the same name again is refused with what to do, exit 2.
    again = cli(cluster, "test", "-f", str(path), "--wait")
    assert again.returncode == 2
    assert "already ran (Failed)" in again.stderr
    assert f"kubectl delete ltr smoke -n {namespace}" in again.stderr


def test_wait_exits_0_when_passed_and_a_running_run_is_followed_not_recreated(
    cluster: LocalCluster, kube_api: pykube.HTTPClient, namespace: str, run_crd: None, tmp_path: Path
) -> None:
    path = run_file(tmp_path, "nightly", namespace)
    created = cli(cluster, "test", "-f", str(path))  # no --wait: create and return
    assert created.returncode == 0, created.stderr
    run = run_object(kube_api, namespace, "nightly")
    uid = run.obj["metadata"]["uid"]
    _patch_status(run, {"phase": "Running", "runners": {"desired": 1, "running": 1}})
    cli_run = Running(cluster, "test", "-f", str(path), "--wait", "--timeout", "1m")
    cli_run.wait_said("following it")
    verdict_at = time.monotonic()
    _patch_status(run, {**FAILED_STATUS, "phase": "Passed", "verdict": "Passed", "reason": "CriteriaMet",
                        "message": "every criterion met",
                        "criteria": [{**c, "passed": True} for c in FAILED_STATUS["criteria"]]})
    code, out, err = cli_run.finish()
    latency = time.monotonic() - verdict_at
    assert code == 0, (out, err)
    # A CI job is not held up: the command answers within a few polls of the verdict.
    assert latency < 10, latency
    print(f"verdict written -> CLI exited: {latency:.2f} s")
    assert "exists (Running): following it" in out
    assert "nightly: PASSED (CriteriaMet)" in out
    run.reload()
    assert run.obj["metadata"]["uid"] == uid


def test_a_changed_spec_of_a_running_run_is_refused_by_the_api_server(
    cluster: LocalCluster, kube_api: pykube.HTTPClient, namespace: str, run_crd: None, tmp_path: Path
) -> None:
    path = run_file(tmp_path, "soak", namespace)
    assert cli(cluster, "test", "-f", str(path)).returncode == 0
    changed = tmp_path / "changed.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["monitorRef"] = {"name": "other"}
    changed.write_text(yaml.safe_dump(doc))
    result = cli(cluster, "test", "-f", str(changed), "--wait")
    assert result.returncode == 2
    assert "immutable" in result.stderr


def test_timeout_exits_2_with_the_phase(
    cluster: LocalCluster, namespace: str, run_crd: None, tmp_path: Path
) -> None:
    result = cli(cluster, "test", "-f", str(run_file(tmp_path, "stuck", namespace)), "--wait", "--timeout", "3s")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: timed out after 3 s (phase Pending)"


def test_bad_input_and_an_unreachable_cluster_exit_2(cluster: LocalCluster, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: loadtest.dev/v1alpha1\nkind: LoadtestRun\nmetadata: {namespace: x}\n")
    result = cli(cluster, "test", "-f", str(bad), "--wait")
    assert result.returncode == 2
    assert "metadata.name is missing" in result.stderr

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\n"
        "current-context: c\n"
    )
    env = {"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"}
    result = cli(cluster, "test", "-f", str(run_file(tmp_path, "x", "default")), "--wait", env=env)
    assert result.returncode == 2
    assert "API server unreachable" in result.stderr
