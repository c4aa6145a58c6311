"""The CRD on the OLDEST Kubernetes the docs state (hack/build-apiserver.sh builds its kube-apiserver
and etcd): it installs, accepts a valid monitor, refuses invalid ones with the CRD's messages, and
its transition rule (storage can only grow, written without the quantity() CEL library) works.

Only etcd and kube-apiserver run: CRD validation needs nothing else. The client is the current
kubectl of the main control plane, talking to the old server with a static token.
"""

from __future__ import annotations

import os
import secrets
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from operator_support import check_create_only_apply

from loadtest_monitor.kube import Kube
from localcluster import default_bin_dir, free_port

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "loadtest.dev_loadtestmonitors.yaml"
FLOOR_VERSION = "v1.27"  # the floor README.md, docs/install.md and Chart.yaml state


@dataclass
class OldApiServer:
    server: str
    token: str
    kubectl_path: Path
    ca_cert: Path  # the API server's self-signed serving certificate

    def kubectl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(self.kubectl_path),
                f"--server={self.server}",
                f"--token={self.token}",
                "--insecure-skip-tls-verify=true",
                *args,
            ],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _floor_binaries() -> Path:
    built = subprocess.run(["bash", str(REPO / "hack" / "build-apiserver.sh")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    return Path(built.stdout.strip().splitlines()[-1])


def _wait_ready(url: str, token: str, deadline: float) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url + "/readyz", headers={"Authorization": f"Bearer {token}"})
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, context=context, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the {FLOOR_VERSION} kube-apiserver did not become ready")


@pytest.fixture(scope="module")
def old_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OldApiServer]:
    bin_dir = _floor_binaries()
    run = tmp_path_factory.mktemp("floor")
    token = secrets.token_hex(16)
    (run / "tokens.csv").write_text(f'{token},admin,admin,"system:masters"\n')
    subprocess.run(["openssl", "genrsa", "-out", str(run / "sa.key"), "2048"], check=True, capture_output=True)
    etcd_client, etcd_peer, secure = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    logs = [open(run / name, "wb") for name in ("etcd.log", "apiserver.log")]  # noqa: SIM115
    try:
        procs.append(
            subprocess.Popen(
                [
                    str(bin_dir / "etcd"),
                    f"--data-dir={run / 'etcd'}",
                    f"--listen-client-urls=http://127.0.0.1:{etcd_client}",
                    f"--advertise-client-urls=http://127.0.0.1:{etcd_client}",
                    f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                    "--unsafe-no-fsync=true",
                    "--log-level=warn",
                ],
                stdout=logs[0],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    str(bin_dir / "kube-apiserver"),
                    f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={secure}",
                    f"--cert-dir={run / 'certs'}",
                    f"--token-auth-file={run / 'tokens.csv'}",
                    "--authorization-mode=RBAC",
                    "--service-cluster-ip-range=10.96.0.0/16",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    f"--service-account-key-file={run / 'sa.key'}",
                    f"--service-account-signing-key-file={run / 'sa.key'}",
                ],
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        server = f"https://127.0.0.1:{secure}"
        try:
            _wait_ready(server, token, time.monotonic() + 90)
        except AssertionError:
            raise AssertionError((run / "apiserver.log").read_text()[-3000:]) from None
        api = OldApiServer(server, token, default_bin_dir() / "kubectl", run / "certs" / "apiserver.crt")
        version = api.kubectl("version", "-o", "yaml")
        assert yaml.safe_load(version.stdout)["serverVersion"]["gitVersion"].startswith(FLOOR_VERSION + ".")
        applied = api.kubectl("apply", "--server-side", "-f", str(CRD))
        assert applied.returncode == 0, applied.stderr
        established = api.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "crd/loadtestmonitors.loadtest.dev"
        )
        assert established.returncode == 0, established.stderr
        yield api
    finally:
        for proc in reversed(procs):  # the API server first: it hangs in shutdown without etcd
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        for log in logs:
            log.close()


def _monitor(name: str, spec: dict[str, object]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "loadtest.dev/v1alpha1",
            "kind": "LoadtestMonitor",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec,
        }
    )


def test_valid_monitors_are_accepted_and_defaulted(old_apiserver: OldApiServer) -> None:
    example = old_apiserver.kubectl(
        "apply", "-f", str(REPO / "manifests" / "examples" / "monitor-full.yaml"), "-n", "default"
    )
    assert example.returncode == 0, example.stderr
    created = old_apiserver.kubectl(
        "apply",
        "-f",
        "-",
        input=_monitor(
            "dotted",
            {
                "grafana": {
                    "adminSecretRef": {"name": "grafana.admin.v2"},
                    "service": {"scheme": "internet-facing", "loadBalancerSourceRanges": ["203.0.113.0/24"]},
                },
                "influxdb": {"retention": "5200w", "resources": {"requests": {"cpu": "100m", "memory": 2}}},
                "placement": {"tolerations": [{"operator": "Exists"}], "nodeSelector": {"example.com/pool": "mon"}},
            },
        ),
    )
    assert created.returncode == 0, created.stderr
    got = yaml.safe_load(old_apiserver.kubectl("get", "ltm", "dotted", "-n", "default", "-o", "yaml").stdout)
    assert got["spec"]["gatling"]["writePeriod"] == 1  # defaults applied by the old server


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"influxdb": {"retention": "0d"}}, "spec.influxdb.retention"),
        ({"influxdb": {"retention": "30502w"}}, "spec.influxdb.retention"),
        ({"influxdb": {"storage": {"size": "0Gi"}}}, "spec.influxdb.storage.size"),
        ({"grafana": {"service": {"scheme": "internet-facing"}}}, "internet-facing needs"),
        ({"graphite": {"allowedSourceRanges": ["10.0.0.0/33"]}}, "spec.graphite.allowedSourceRanges[0]"),
        ({"placement": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}}, "operator Exists"),
        ({"placement": {"tolerations": [{"key": "k", "tolerationSeconds": 5}]}}, "NoExecute"),
        ({"grafana": {"service": {"annotations": {"my key": "v"}}}}, "annotation keys"),
        ({"influxdb": {"resources": {"requests": {"gpu": "1"}}}}, "resource names"),
        ({"grafana": {"adminSecretRef": {"name": "s", "userKey": ".."}}}, "must not be '.'"),
    ],
)
def test_invalid_monitors_are_refused_with_the_crds_message(
    old_apiserver: OldApiServer, spec: dict[str, object], message: str
) -> None:
    result = old_apiserver.kubectl("apply", "-f", "-", input=_monitor("bad", spec))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_storage_can_only_grow_without_the_quantity_library(old_apiserver: OldApiServer) -> None:
    def apply(size: str) -> subprocess.CompletedProcess[str]:
        return old_apiserver.kubectl(
            "apply", "-f", "-", input=_monitor("grow", {"influxdb": {"storage": {"enabled": True, "size": size}}})
        )

    assert apply("10Gi").returncode == 0
    shrunk = apply("9000M")  # 9.0e9 bytes < 10Gi (1.07e10)
    assert shrunk.returncode != 0 and "can only grow" in shrunk.stderr, shrunk.stderr
    assert apply("11000M").returncode == 0  # 1.1e10 bytes > 10Gi
    assert apply("1Ti").returncode == 0
    shrunk = apply("1023Gi")
    assert shrunk.returncode != 0 and "can only grow" in shrunk.stderr, shrunk.stderr


def test_create_only_apply_holds_on_the_floor(old_apiserver: OldApiServer) -> None:
    """The resourceVersion precondition that makes the operator's create-only apply is honoured
    the same way by the oldest Kubernetes the project supports."""
    configuration = client.Configuration(host=old_apiserver.server)
    configuration.api_key = {"BearerToken": old_apiserver.token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    configuration.ssl_ca_cert = str(old_apiserver.ca_cert)
    kube = Kube(client.ApiClient(configuration))

    def kubectl(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return old_apiserver.kubectl("-n", "default", *args, input=input)

    assert check_create_only_apply(kube, kubectl, "default") == 6
