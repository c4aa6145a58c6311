"""`make demo`: the whole product on a local control plane, start to finish.

Starts (or reuses) the local cluster, installs the CRD, runs the operator in the background,
applies manifests/examples/monitor.yaml, waits for Ready, shows what a user sees, and simulates
the AWS load balancer's address so the Grafana URL appears. `python hack/demo.py down` (also
`make cluster-down`) stops the operator and the cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import yaml

from ltm_harness import cli
from ltm_harness.binaries import find_binaries
from ltm_harness.operator_process import OperatorProcess, stop_operator_pid
from ltm_harness.processes import pid_alive
from ltm_harness.repo import REPO_ROOT as REPO
from ltm_harness.repo import STATE_DIR

KUBECONFIG = STATE_DIR / "kubeconfig"
OPERATOR_PID = STATE_DIR / "operator.pid"
OPERATOR_LOG = STATE_DIR / "operator.log"
MONITOR = "checkout"
# What the AWS Load Balancer Controller would write into the Service status for the NLB.
SIMULATED_LB_HOSTNAME = "checkout-grafana-0123456789.elb.demo.invalid"


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def kubectl(*args: str, check: bool = True) -> str:
    cmd = [str(find_binaries().kubectl), "--kubeconfig", str(KUBECONFIG), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def start_operator() -> None:
    if OPERATOR_PID.exists() and pid_alive(int(OPERATOR_PID.read_text())):
        print(f"operator already running (pid {OPERATOR_PID.read_text().strip()}, log {OPERATOR_LOG})")
        return
    proc = OperatorProcess(dict(os.environ, KUBECONFIG=str(KUBECONFIG)), OPERATOR_LOG)
    OPERATOR_PID.write_text(f"{proc.pid}\n")
    print(f"operator started: pid {proc.pid}, log {OPERATOR_LOG.relative_to(REPO)}")


def stop_operator() -> None:
    if not OPERATOR_PID.exists():
        return
    pid = int(OPERATOR_PID.read_text())
    stop_operator_pid(pid)
    OPERATOR_PID.unlink(missing_ok=True)
    print(f"operator (pid {pid}) stopped")


def wait_for_url(timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = kubectl("get", "ltm", MONITOR, "-o", "jsonpath={.status.grafana.url}")
        if url:
            return url
        time.sleep(1)
    raise SystemExit("the operator did not report the Grafana URL")


def up() -> int:
    say("Local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, KWOK)")
    if cli.main(["up"]) != 0:
        raise SystemExit("the local control plane did not start")

    say("kubectl apply -f crds/")
    print(kubectl("apply", "--server-side", "-f", str(REPO / "crds")), end="")
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/loadtestmonitors.loadtest.dev")

    say("loadtest-monitor run --all-namespaces   (in the background)")
    start_operator()

    say("kubectl apply -f manifests/examples/monitor.yaml")
    print((REPO / "manifests/examples/monitor.yaml").read_text())
    print(kubectl("apply", "-f", str(REPO / "manifests/examples/monitor.yaml")), end="")

    say(f"kubectl wait --for=condition=Ready --timeout=180s loadtestmonitor/{MONITOR}")
    started = time.monotonic()
    print(kubectl("wait", "--for=condition=Ready", "--timeout=180s", f"loadtestmonitor/{MONITOR}"), end="")
    print(f"(Ready after {time.monotonic() - started:.1f} s)")

    say("kubectl get ltm")
    print(kubectl("get", "ltm"), end="")

    say("What the operator created")
    print(kubectl("get", "deploy,svc,cm,secret,netpol", "-l", f"app.kubernetes.io/instance={MONITOR}"), end="")

    say("The load balancer gets its address (simulated here: the AWS Load Balancer Controller writes it on EKS)")
    patch = {"status": {"loadBalancer": {"ingress": [{"hostname": SIMULATED_LB_HOSTNAME}]}}}
    kubectl("patch", "service", f"{MONITOR}-grafana", "--subresource=status", "--type=merge", "-p", json.dumps(patch))
    print(f"Grafana URL in status: {wait_for_url()}")
    print(kubectl("get", "ltm"), end="")

    say(f"kubectl get ltm {MONITOR} -o yaml   (status)")
    status = json.loads(kubectl("get", "ltm", MONITOR, "-o", "json"))["status"]
    print(yaml.safe_dump(status, sort_keys=False), end="")

    say(f"gatling.conf published in ConfigMap {MONITOR}-gatling (runner Jobs mount it)")
    print(kubectl("get", "configmap", f"{MONITOR}-gatling", "-o", "jsonpath={.data.gatling\\.conf}"))

    say("Done. Try it yourself:")
    print(f"  export KUBECONFIG={KUBECONFIG}")
    print(f"  {find_binaries().kubectl} get ltm")
    print(f"  {find_binaries().kubectl} describe ltm {MONITOR}        # Events")
    print(f"  {find_binaries().kubectl} delete ltm {MONITOR}          # everything it created goes")
    print("Stop everything (operator and cluster):  make cluster-down")
    return 0


def down() -> int:
    stop_operator()
    return cli.main(["down"])


if __name__ == "__main__":
    sys.exit(down() if sys.argv[1:] == ["down"] else up())
