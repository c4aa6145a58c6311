"""A LoadtestRun's verdict from real data: the operator (its own process, against the real control
plane) reads a real InfluxDB 1.x, started as the monitor's pod starts it (the rendered
influxdb.conf, its Graphite templates, HTTP authentication on).

The monitor's InfluxDB pod runs on a KWOK node, which runs no process, so the operator is pointed
at this local influxd instead (LTM_INFLUXDB_URL), and the read-only user of the monitor's own
generated Secret is created in it: the operator authenticates exactly as it would in the cluster.
Each runner's whole-run summary is what the forwarder sends at the end of a run (forward/summary.py,
the real code, over Graphite TCP); the runner pods are driven as in test_runs.py.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from typing import Any

import pykube
import pytest

from loadtest_monitor.forward.records import RequestRecord
from loadtest_monitor.forward.summary import RunSummary, SummarySettings
from loadtest_monitor.runs.influx import InfluxClient, quote_ident, quote_string
from loadtest_monitor.spec.monitor import MonitorSpec
from ltm_harness.influx_bootstrap import start_influxd
from ltm_harness.influxd import Influxd
from tests.integration.operator_support import (
    WRITE_VERBS,
    Operator,
    apply_monitor,
    minimal,
    operator_requests,
    running_operator,
    wait_ready,
)
from tests.integration.test_runs import (
    ended,
    events_of,
    get_run,
    kubectl_apply,
    run_manifest,
    runner_pods,
    running,
    set_gatling,
    wait_phase,
)

DATABASE = MonitorSpec().influxdb.database


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    server = start_influxd(MonitorSpec(), tmp_path_factory.mktemp("run-influxd"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def operator(cluster: Any, influxd: Influxd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    env = {
        "LTM_INFLUXDB_URL": f"http://127.0.0.1:{influxd.ports.http}",
        "LTM_RUN_START_DELAY_SECONDS": "1",
        "LTM_RUN_DATA_GRACE_SECONDS": "15",
    }
    with running_operator(cluster, tmp_path_factory.mktemp("operator"), extra_env=env) as op:
        yield op


@pytest.fixture
def monitor(cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, influxd: Influxd, namespace: str) -> str:
    """A Ready monitor whose generated reader user exists in the local influxd."""
    assert apply_monitor(cluster, namespace, minimal("checkout")).returncode == 0
    wait_ready(kube_api, namespace, "checkout")
    secret = pykube.Secret.objects(kube_api, namespace=namespace).get(name="checkout-influxdb-auth").obj["data"]
    user = base64.b64decode(secret["reader-user"]).decode()
    password = base64.b64decode(secret["reader-password"]).decode()
    assert influxd.auth is not None
    admin = InfluxClient(f"http://127.0.0.1:{influxd.ports.http}", *influxd.auth)
    existing = {row[0] for s in admin.query(DATABASE, "SHOW USERS") for row in s.get("values") or []}
    if user in existing:  # the bootstrap made a reader of that name: give it this monitor's password
        admin.query(DATABASE, f"SET PASSWORD FOR {quote_ident(user)} = {quote_string(password)}")
    else:
        admin.query(DATABASE, f"CREATE USER {quote_ident(user)} WITH PASSWORD {quote_string(password)}")
    admin.query(DATABASE, f"GRANT READ ON {quote_ident(DATABASE)} TO {quote_ident(user)}")
    return "checkout"


def send_summary(influxd: Influxd, runner: str, times_ms: list[int], ko_every: int = 0) -> tuple[int, int]:
    """The runner's whole-run summary as its forwarder sends it; (ok, ko) counts sent."""
    # The run began a moment ago; its summary is stamped with its end (start + the last record).
    start_ms = int(time.time() * 1000) - 1000
    summary = RunSummary(SummarySettings(runner=runner, simulation_id="checkoutsimulation"), start_ms)
    records = []
    for i, elapsed in enumerate(times_ms):
        ok = not (ko_every and i % ko_every == 0)
        at = 1000 + i * 10
        records.append(RequestRecord(("shop",), "checkout" if i % 2 else "home", at, at + elapsed, ok, ""))
    summary.add(records)
    with socket.create_connection(("127.0.0.1", influxd.ports.graphite), timeout=5) as sock:
        for payload in summary.payloads():
            sock.sendall(payload)
    ko = sum(1 for r in records if not r.ok)
    return len(records) - ko, ko


def run_to_end(
    api: pykube.HTTPClient,
    influxd: Influxd,
    namespace: str,
    run: str,
    loads: list[list[int]],
    ko_every: int = 0,
    skip: int = -1,
) -> tuple[int, int]:
    pods = runner_pods(api, namespace, run, len(loads))
    for pod in pods:
        set_gatling(api, pod, running(), "Running")
    wait_phase(api, namespace, run, "Running")
    ok = ko = 0
    for i, (pod, load) in enumerate(zip(pods, loads, strict=True)):
        if i == skip:
            continue  # this runner's summary never arrives
        sent = send_summary(influxd, pod["metadata"]["name"], load, ko_every)
        ok, ko = ok + sent[0], ko + sent[1]
    for pod in pods:
        set_gatling(api, pod, ended(0), "Succeeded")
    return ok, ko


FAST = [[20 + (i % 50) for i in range(300)], [25 + (i % 40) for i in range(200)], [30 + (i % 30) for i in range(100)]]


def test_a_passing_run_has_every_runners_requests_and_passes(
    cluster: Any, kube_api: pykube.HTTPClient, influxd: Influxd, namespace: str, monitor: str
) -> None:
    criteria = [
        {"metric": "p95", "max": 1000},
        {"metric": "errorRatio", "max": 0.01},
        {"metric": "throughput", "min": 1},
    ]
    mark = cluster.audit_mark()
    assert kubectl_apply(cluster, namespace, run_manifest("pass", criteria=criteria)).returncode == 0
    ok, ko = run_to_end(kube_api, influxd, namespace, "pass", FAST)
    last_end = time.monotonic()
    run = wait_phase(kube_api, namespace, "pass", "Passed", 90, interval=0.1)
    to_verdict = time.monotonic() - last_end
    # The figures of the note: what one run costs the API server, and how soon its verdict comes.
    requests = [e for e in operator_requests(cluster, mark) if (e.get("objectRef") or {}).get("namespace") == namespace]
    writes = sorted(
        "/".join(
            filter(None, (e["verb"] + " " + e["objectRef"].get("resource", ""), e["objectRef"].get("subresource")))
        )
        for e in requests
        if e["verb"] in WRITE_VERBS
    )
    print(f"\nrun of 3 runners: {len(requests)} operator requests in its namespace, writes {writes}")
    print(f"last runner's end to verdict: {to_verdict:.2f} s")
    assert to_verdict < 10
    status = run["status"]
    assert status["verdict"] == "Passed" and status["reason"] == "CriteriaMet", status
    results = status["results"]
    # Counts are sums of integers: exactly the responses the three runners sent.
    assert (results["requests"], results["ok"], results["ko"]) == (600, ok, ko) == (600, 600, 0)
    assert 20 <= results["p50Ms"] <= results["p95Ms"] <= results["maxMs"] <= 70
    assert {r["name"] for r in results["worstRequests"]} == {"shop / checkout", "shop / home"}
    assert [c["passed"] for c in status["criteria"]] == [True, True, True]
    assert 0 <= status["startSpreadSeconds"] < 5  # the runners' summaries' starts, a moment apart here
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"Complete": "True", "Passed": "True"}
    assert events_of(kube_api, namespace, "LoadtestRun", "pass") == ["Starting", "Running", "Evaluating", "Passed"]
    shown = cluster.kubectl("get", "ltr", "pass", "-n", namespace, "--no-headers")
    assert shown.stdout.split()[1:5] == ["Passed", "3/3", "600", "0"], shown.stdout


def test_a_run_over_its_error_ratio_fails_with_the_measured_value(
    cluster: Any, kube_api: pykube.HTTPClient, influxd: Influxd, namespace: str, monitor: str
) -> None:
    criteria = [{"metric": "errorRatio", "max": 0.01}]
    assert kubectl_apply(cluster, namespace, run_manifest("errors", criteria=criteria)).returncode == 0
    _, ko = run_to_end(kube_api, influxd, namespace, "errors", FAST, ko_every=10)
    status = wait_phase(kube_api, namespace, "errors", "Failed", 90)["status"]
    assert status["reason"] == "CriteriaFailed", status
    assert status["results"]["ko"] == ko == 60
    (criterion,) = status["criteria"]
    assert criterion["passed"] is False
    assert criterion["threshold"] == 0.01
    assert criterion["measured"] == pytest.approx(0.1)


def test_a_runner_whose_summary_never_arrives_is_no_data(
    cluster: Any, kube_api: pykube.HTTPClient, influxd: Influxd, namespace: str, monitor: str
) -> None:
    assert kubectl_apply(cluster, namespace, run_manifest("partial")).returncode == 0
    run_to_end(kube_api, influxd, namespace, "partial", FAST, skip=1)
    status = wait_phase(kube_api, namespace, "partial", "Failed", 90)["status"]
    assert status["reason"] == "NoData", status
    missing = runner_pods(kube_api, namespace, "partial", 3)[1]["metadata"]["name"]
    assert missing in status["message"]


def test_a_baseline_regression_fails_against_the_earlier_runs_status(
    cluster: Any, kube_api: pykube.HTTPClient, influxd: Influxd, namespace: str, monitor: str
) -> None:
    assert kubectl_apply(cluster, namespace, run_manifest("before", runners=1)).returncode == 0
    run_to_end(kube_api, influxd, namespace, "before", [[100] * 200])
    before = wait_phase(kube_api, namespace, "before", "Passed", 90)["status"]["results"]["p95Ms"]
    criteria = [{"metric": "p95", "baseline": {"run": "before", "maxRegressionPercent": 10}}]
    assert kubectl_apply(cluster, namespace, run_manifest("after", runners=1, criteria=criteria)).returncode == 0
    run_to_end(kube_api, influxd, namespace, "after", [[200] * 200])
    status = wait_phase(kube_api, namespace, "after", "Failed", 90)["status"]
    assert status["reason"] == "CriteriaFailed", status
    (criterion,) = status["criteria"]
    assert criterion["passed"] is False
    assert criterion["measured"] > before * 1.1
    assert "before" in criterion["description"]
    assert get_run(kube_api, namespace, "before")["status"]["phase"] == "Passed"
