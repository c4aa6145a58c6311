"""`loadtest-monitor up` and `down` against a real control plane that starts WITHOUT the CRD.

A cluster of its own (the session cluster has the CRD preinstalled): `up` must find the CRD and
the operator missing and install them from the package, exactly the kustomize base's objects.
The operator Deployment's pod is a KWOK fake here, so the real operator process runs beside it
(as in every integration test); kopf notices the CRD when `up` creates it. Everything is read
back with pykube/kubectl, never with the product's own code.

The `down --uninstall` tests each start from a cluster without CRD and operator (fixture `clean`).
The race with a monitor created after the uninstall's check is made exact, not timed: the CLI's
own client calls a hook right after the cluster-wide list of monitors answered.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pykube
import pytest
import yaml

from loadtest_monitor.cli import crd_fence
from loadtest_monitor.cli import down as cli_down
from loadtest_monitor.cli.up import Console, ensure_crd, ensure_operator
from loadtest_monitor.kube.rest import Rest
from ltm_harness.cluster import LocalCluster
from ltm_harness.kube_session import admin_client, bare_cluster
from tests.integration.operator_support import (
    CRD,
    Operator,
    children,
    condition,
    get_monitor,
    monitor_kind,
    running_operator,
    wait_for,
)

CLI = str(Path(sys.executable).parent / "loadtest-monitor")
REPO = Path(__file__).resolve().parents[2]
OPERATOR_NS = "loadtest-monitor-system"
HOSTNAME = "k8s-perf-checkout-0123456789.elb.eu-west-1.amazonaws.com"


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with bare_cluster(tmp_path_factory.mktemp("bare-cluster")) as local:
        yield local


@pytest.fixture(scope="module")
def api(bare: LocalCluster) -> pykube.HTTPClient:
    return admin_client(bare)


@pytest.fixture(scope="module")
def operator(bare: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(bare, tmp_path_factory.mktemp("operator")) as op:
        yield op


def ltm(bare: LocalCluster, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=bare.env(), capture_output=True, text=True, timeout=timeout, check=False)


def monitor_file(tmp_path: Path, name: str, namespace: str, spec: dict | None = None) -> Path:
    path = tmp_path / f"{name}.yaml"
    doc: dict[str, Any] = {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor",
                           "metadata": {"name": name, "namespace": namespace}}
    if spec:
        doc["spec"] = spec
    path.write_text(yaml.safe_dump(doc))
    return path


def exists(api: pykube.HTTPClient, kind: Any, name: str, namespace: str | None = None) -> bool:
    query = kind.objects(api, namespace=namespace) if namespace else kind.objects(api)
    return query.get_or_none(name=name) is not None


CRD_KIND = pykube.CustomResourceDefinition


def test_up_installs_crd_and_operator_then_waits_until_ready(bare, api, operator, tmp_path) -> None:
    assert not exists(api, CRD_KIND, "loadtestmonitors.loadtest.dev")
    proc = subprocess.Popen([CLI, "up", "-f", str(monitor_file(tmp_path, "checkout", "perf")), "--timeout", "240s"],
                            env=bare.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: condition(get_monitor(api, "perf", "checkout"), "Ready").get("status") == "True", 240,
                 "perf/checkout Ready")
        # What the AWS Load Balancer Controller writes once the NLB exists; `up` waits for it after Ready.
        svc = pykube.Service.objects(api, namespace="perf").get(name="checkout-grafana")
        svc.patch({"status": {"loadBalancer": {"ingress": [{"hostname": HOSTNAME}]}}}, subresource="status")
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err + operator.log_tail()
    assert f"  Grafana:      http://{HOSTNAME}:3000\n" in out
    assert "CRD loadtestmonitors.loadtest.dev: installed" in out
    assert "operator: installed in namespace loadtest-monitor-system (image loadtest-monitor:0.1.0)" in out
    assert "namespace perf: created" in out
    assert "perf/checkout: applied" in out
    assert "perf/checkout is Ready." in out
    # The operator started before the CRD existed: it waited for discovery to serve it, so kopf's
    # one lookup found it (a CRD event that came before discovery served it would otherwise be lost).
    log = operator.log_path.read_text(errors="replace")
    assert "loadtestmonitors.loadtest.dev is not served yet" in log
    assert "loadtestmonitors.loadtest.dev is served; starting the watches" in log

    # The CRD is the file in crds/, and the operator objects are the kustomize base's.
    crd = CRD_KIND.objects(api).get(name="loadtestmonitors.loadtest.dev").obj
    assert crd["spec"]["versions"] == yaml.safe_load(CRD.read_text())["spec"]["versions"]
    deployment = pykube.Deployment.objects(api, namespace=OPERATOR_NS).get(name="loadtest-monitor").obj
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "loadtest-monitor:0.1.0"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "loadtest-monitor"
    assert exists(api, pykube.ServiceAccount, "loadtest-monitor", OPERATOR_NS)
    for role in ("loadtest-monitor", "loadtest-monitor-cluster"):
        assert exists(api, pykube.ClusterRole, role)
        assert exists(api, pykube.ClusterRoleBinding, role)
    ns = pykube.Namespace.objects(api).get(name=OPERATOR_NS).obj
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

    mon = get_monitor(api, "perf", "checkout")
    assert condition(mon, "Ready")["status"] == "True"
    graphite = mon["status"]["graphite"]["address"]
    assert f"Graphite:     {graphite} (tcp)" in out
    assert "gatling.conf: ConfigMap checkout-gatling (key gatling.conf) in namespace perf" in out
    # The printed password command reads the password the operator generated.
    line = next(x for x in out.splitlines() if "base64 -d" in x)
    command = line.split("password: ", 1)[1]
    shown = subprocess.run(command.replace("kubectl ", f"{bare.binaries.kubectl} --kubeconfig "
                                                      f"{bare.kubeconfig_path} ", 1),
                           shell=True, capture_output=True, text=True, check=True).stdout
    secret = pykube.Secret.objects(api, namespace="perf").get(name="checkout-grafana-admin").obj
    assert shown == base64.b64decode(secret["data"]["admin-password"]).decode() != ""


def test_second_up_finds_everything_present(bare, api, operator, tmp_path) -> None:
    up = ltm(bare, "up", "-f", str(monitor_file(tmp_path, "checkout", "perf")), "--timeout", "120s")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "CRD loadtestmonitors.loadtest.dev: present" in up.stdout
    assert "operator: present (loadtest-monitor-system/loadtest-monitor)" in up.stdout
    assert "perf/checkout is Ready." in up.stdout


def test_up_times_out_with_the_failing_condition(bare, api, operator, tmp_path) -> None:
    spec = {"grafana": {"adminSecretRef": {"name": "missing-admin"}}}
    up = ltm(bare, "up", "-f", str(monitor_file(tmp_path, "broken", "perf", spec)), "--timeout", "25s")
    assert up.returncode == 1, up.stdout + up.stderr
    last = up.stderr.strip().splitlines()[-1]
    assert last.startswith("error: perf/broken not Ready after 25 s: Ready=False; "), last
    assert "missing-admin" in last
    assert "broken: Ready=False" in up.stdout  # the progress showed it as it happened


def test_bad_monitor_is_refused_before_anything_is_sent(bare, api, tmp_path) -> None:
    spec = {"influxdb": {"retention": "forever"}}
    up = ltm(bare, "up", "-f", str(monitor_file(tmp_path, "typo", "perf", spec)))
    assert up.returncode != 0
    assert up.stderr.startswith(f"error: {tmp_path}/typo.yaml: LoadtestMonitor typo: spec.influxdb.retention")
    assert not exists(api, pykube.object_factory(api, "loadtest.dev/v1alpha1", "LoadtestMonitor"), "typo", "perf")


def test_down_waits_only_for_objects_with_our_labels(bare, api, operator) -> None:
    """A Grafana Helm release named like the monitor labels its pods name=grafana, instance=NAME:
    `down` must not wait for them (it would wait until its timeout and fail)."""
    monitor_kind(api)(api, {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor",
                            "metadata": {"name": "lookalike", "namespace": "perf"}}).create()
    foreign = {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "lookalike"}
    pod = pykube.Pod(api, {"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": "lookalike-grafana-0", "namespace": "perf", "labels": foreign},
                           "spec": {"containers": [{"name": "grafana", "image": "grafana/grafana"}]}})
    pod.create()
    try:
        start = time.monotonic()
        down = ltm(bare, "down", "lookalike", "-n", "perf", "--timeout", "30s", "--yes")
        assert down.returncode == 0, down.stdout + down.stderr
        assert "perf/lookalike: gone" in down.stdout
        assert time.monotonic() - start < 30
        assert "lookalike-grafana-0" not in down.stdout
        assert exists(api, pykube.Pod, "lookalike-grafana-0", "perf")  # untouched
    finally:
        pod.delete()


def test_down_waits_until_everything_is_gone_and_uninstall(bare, api, operator) -> None:
    assert children(api, "perf", "checkout")
    refused = ltm(bare, "down", "checkout", "-n", "perf", "--uninstall", "--yes")
    assert refused.returncode != 0
    assert "--uninstall: 1 other LoadtestMonitor(s) exist (perf/broken)" in refused.stderr
    # The monitor itself was deleted before the refusal, and waited for.
    assert "perf/checkout: gone" in refused.stdout
    assert children(api, "perf", "checkout") == {}

    down = ltm(bare, "down", "broken", "-n", "perf", "--uninstall", "--yes")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "perf/broken: gone" in down.stdout
    assert "operator and CRD removed" in down.stdout
    assert children(api, "perf", "broken") == {}
    assert not exists(api, CRD_KIND, "loadtestmonitors.loadtest.dev")
    assert not exists(api, pykube.Deployment, "loadtest-monitor", OPERATOR_NS)
    assert not exists(api, pykube.ClusterRole, "loadtest-monitor")
    wait_for(lambda: not exists(api, pykube.Namespace, OPERATOR_NS), 60, "the operator namespace to go")

    missing = ltm(bare, "down", "checkout", "-n", "perf")
    assert missing.returncode != 0
    assert missing.stderr.strip() == (
        "error: LoadtestMonitor perf/checkout not found (kubectl get loadtestmonitors -A lists them)"
    )


# --- `down --uninstall` removes only what is proven to be of the `up` install -------------------------

CRD_NAME = "loadtestmonitors.loadtest.dev"
MONITORS_URL = "/apis/loadtest.dev/v1alpha1/loadtestmonitors"
WELL_KNOWN = [f"crd/{CRD_NAME}", "clusterrole/loadtest-monitor", "clusterrole/loadtest-monitor-cluster",
              "clusterrolebinding/loadtest-monitor", "clusterrolebinding/loadtest-monitor-cluster",
              f"namespace/{OPERATOR_NS}"]


@pytest.fixture
def clean(bare: LocalCluster) -> None:
    """Nothing installed: each uninstall test starts from a cluster without CRD and operator."""
    gone = bare.kubectl("delete", "--ignore-not-found", "--wait=true", "--timeout=90s", *WELL_KNOWN)
    assert gone.returncode == 0, gone.stderr


class HookedRest(Rest):
    """The CLI's client, calling hooks[n] right after the n-th cluster-wide list of monitors answered:
    something happens in the cluster exactly between a check and what follows it."""

    def __init__(self, api_client: Any, hooks: dict[int, Callable[[], None]]) -> None:
        super().__init__(api_client)
        self.hooks = hooks
        self.monitor_lists = 0

    def list(self, url_path: str, label_selector: str = "") -> list[dict[str, Any]]:
        found = super().list(url_path, label_selector)
        if url_path == MONITORS_URL:
            self.monitor_lists += 1
            self.hooks.get(self.monitor_lists, lambda: None)()
        return found


@pytest.fixture
def api_client(bare: LocalCluster) -> Iterator[Any]:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(  # type: ignore[attr-defined]
        config_file=str(bare.kubeconfig_path), client_configuration=configuration
    )
    with kubernetes.client.ApiClient(configuration) as client:
        yield client


def install_with_up(api_client: Any) -> None:
    """What `up` installs when nothing is there (its own code, without a monitor to wait for)."""
    rest, console = Rest(api_client), Console(io.StringIO())
    ensure_crd(rest, console)
    ensure_operator(rest, console, None)


def new_monitor(api: pykube.HTTPClient, name: str, namespace: str = "default") -> Any:
    monitor = monitor_kind(api)(api, {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor",
                                      "metadata": {"name": name, "namespace": namespace}})
    monitor.create()
    return monitor


def uid(api: pykube.HTTPClient, kind: Any, name: str, namespace: str | None = None) -> str | None:
    query = kind.objects(api, namespace=namespace) if namespace else kind.objects(api)
    found = query.get_or_none(name=name)
    return None if found is None else str(found.obj["metadata"]["uid"])


def test_uninstall_refuses_an_operator_installed_with_kustomize(bare, api, clean) -> None:
    applied = bare.kubectl("apply", "--server-side", "-k", str(REPO / "manifests" / "base"))
    assert applied.returncode == 0, applied.stderr
    before = {ref: bare.kubectl("get", ref, "-n", OPERATOR_NS, "-o", "jsonpath={.metadata.uid}").stdout
              for ref in [*WELL_KNOWN, "deploy/loadtest-monitor", "serviceaccount/loadtest-monitor"]}
    assert all(before.values()), before

    down = ltm(bare, "down", "nothing", "--uninstall", "--timeout", "30s")
    assert down.returncode != 0, down.stdout
    assert (f"error: --uninstall: the operator {OPERATOR_NS}/loadtest-monitor was not installed by "
            "`loadtest-monitor up`; nothing was deleted: it was installed with kustomize or kubectl: "
            "kubectl delete -k manifests/base (or your overlay)") in down.stderr
    after = {ref: bare.kubectl("get", ref, "-n", OPERATOR_NS, "-o", "jsonpath={.metadata.uid}").stdout
             for ref in before}
    assert after == before


def test_up_never_takes_over_objects_it_did_not_install(bare, api, clean, api_client) -> None:
    """Without the Deployment, `up` would install the operator, but the kustomize leftovers at its
    names are not its own: stamping them would make them deletable by `down --uninstall`."""
    applied = bare.kubectl("apply", "--server-side", "-k", str(REPO / "manifests" / "base"))
    assert applied.returncode == 0, applied.stderr
    assert bare.kubectl("delete", "deploy/loadtest-monitor", "-n", OPERATOR_NS).returncode == 0
    rest, out = Rest(api_client), io.StringIO()
    with pytest.raises(SystemExit) as refused:
        ensure_operator(rest, Console(out), None)
    assert str(refused.value.code).startswith(
        "error: cannot install the operator: ServiceAccount/loadtest-monitor, ClusterRole/loadtest-monitor, "
        "ClusterRole/loadtest-monitor-cluster, ClusterRoleBinding/loadtest-monitor, "
        "ClusterRoleBinding/loadtest-monitor-cluster already exist and were not installed by `loadtest-monitor up`"
    )
    assert f"namespace {OPERATOR_NS}: present, not made by `up`: used as it is" in out.getvalue()
    assert not exists(api, pykube.Deployment, "loadtest-monitor", OPERATOR_NS)
    role = pykube.ClusterRole.objects(api).get(name="loadtest-monitor").obj["metadata"]
    assert "loadtest.dev/install-id" not in (role.get("annotations") or {})


def test_uninstall_keeps_what_is_not_of_the_install(bare, api, clean, api_client) -> None:
    install_with_up(api_client)
    # Somebody else's objects in the operator's namespace, and a ClusterRole of the well-known name
    # that is not the one `up` made.
    pykube.ConfigMap(api, {"metadata": {"name": "team-settings", "namespace": OPERATOR_NS}}).create()
    labels = {"app": "metrics-relay"}
    pykube.Deployment(api, {"metadata": {"name": "metrics-relay", "namespace": OPERATOR_NS}, "spec": {
        "replicas": 0, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "relay", "image": "relay"}]}}}}).create()
    pykube.ClusterRole.objects(api).get(name="loadtest-monitor-cluster").delete()
    wait_for(lambda: not exists(api, pykube.ClusterRole, "loadtest-monitor-cluster"), 10, "our ClusterRole gone")
    pykube.ClusterRole(api, {"metadata": {"name": "loadtest-monitor-cluster",
                                          "labels": {"app.kubernetes.io/part-of": "loadtest-monitor"}},
                             "rules": []}).create()
    foreign = {"role": uid(api, pykube.ClusterRole, "loadtest-monitor-cluster"),
               "namespace": uid(api, pykube.Namespace, OPERATOR_NS),
               "deploy": uid(api, pykube.Deployment, "metrics-relay", OPERATOR_NS),
               "cm": uid(api, pykube.ConfigMap, "team-settings", OPERATOR_NS)}

    down = ltm(bare, "down", "nothing", "--uninstall", "--timeout", "45s")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "kept ClusterRole/loadtest-monitor-cluster (not of this install: " in down.stdout
    assert (f"namespace {OPERATOR_NS} kept: it holds what is not of this install: "
            "ConfigMap/team-settings, Deployment/metrics-relay") in down.stdout
    assert "operator and CRD removed" in down.stdout
    assert foreign == {"role": uid(api, pykube.ClusterRole, "loadtest-monitor-cluster"),
                       "namespace": uid(api, pykube.Namespace, OPERATOR_NS),
                       "deploy": uid(api, pykube.Deployment, "metrics-relay", OPERATOR_NS),
                       "cm": uid(api, pykube.ConfigMap, "team-settings", OPERATOR_NS)}
    assert "deletionTimestamp" not in pykube.Namespace.objects(api).get(name=OPERATOR_NS).obj["metadata"]
    assert not exists(api, CRD_KIND, CRD_NAME)
    assert not exists(api, pykube.Deployment, "loadtest-monitor", OPERATOR_NS)
    assert not exists(api, pykube.ServiceAccount, "loadtest-monitor", OPERATOR_NS)
    assert not exists(api, pykube.ClusterRole, "loadtest-monitor")
    for binding in ("loadtest-monitor", "loadtest-monitor-cluster"):
        assert not exists(api, pykube.ClusterRoleBinding, binding)


def test_uninstall_aborts_when_a_monitor_appears_after_the_check(bare, api, clean, api_client) -> None:
    """A monitor (with the PVC the operator gives it) created right after `--uninstall` found none:
    the CRD must not go (its deletion would delete the monitor, and the garbage collector the PVC)."""
    install_with_up(api_client)
    late: dict[str, str] = {}

    def create_late_monitor() -> None:
        monitor = new_monitor(api, "late")
        late["monitor"] = monitor.obj["metadata"]["uid"]
        pvc = pykube.PersistentVolumeClaim(api, {"metadata": {
            "name": "late-influxdb-data", "namespace": "default",
            "ownerReferences": [{"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor", "name": "late",
                                 "uid": late["monitor"]}]},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
        if not pvc.exists():  # the running operator may have made it already
            pvc.create()
        late["pvc"] = str(uid(api, pykube.PersistentVolumeClaim, "late-influxdb-data", "default"))

    rest = HookedRest(api_client, {1: create_late_monitor})
    with pytest.raises(SystemExit) as aborted:
        cli_down.uninstall(rest, Console(io.StringIO()), 30)
    assert str(aborted.value.code).startswith(
        "error: --uninstall aborted: LoadtestMonitor(s) created while uninstalling (default/late); nothing was deleted"
    )
    time.sleep(2)  # what a deleted CRD would set off (monitor cleanup, then garbage collection) has had time
    assert uid(api, monitor_kind(api), "late", "default") == late["monitor"]
    assert uid(api, pykube.PersistentVolumeClaim, "late-influxdb-data", "default") == late["pvc"]
    # Everything is back as it was: the CRD takes monitors again, the operator runs again.
    new_monitor(api, "after-abort")
    assert pykube.Deployment.objects(api, namespace=OPERATOR_NS).get(name="loadtest-monitor").obj["spec"][
        "replicas"] == 1
    for name in ("late", "after-abort"):
        monitor_kind(api).objects(api, namespace="default").get(name=name).delete()


def test_up_lifts_the_fence_an_interrupted_uninstall_left(bare, api, clean, api_client) -> None:
    install_with_up(api_client)
    rest, out = Rest(api_client), io.StringIO()
    crd_fence.fence(rest, rest.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}") or {})
    with pytest.raises(pykube.exceptions.HTTPError, match="loadtest-monitor down --uninstall is deleting this CRD"):
        new_monitor(api, "while-fenced")
    ensure_crd(rest, Console(out))
    assert "lifted the fence of an interrupted `down --uninstall`" in out.getvalue()
    wait_for(lambda: new_monitor(api, "after-up"), 10, "a monitor accepted again")
    monitor_kind(api).objects(api, namespace="default").get(name="after-up").delete()


def test_no_monitor_can_be_created_once_the_uninstall_has_checked_again(bare, api, clean, api_client) -> None:
    install_with_up(api_client)
    refused: list[str] = []

    def try_to_create() -> None:
        try:
            new_monitor(api, "too-late")
        except pykube.exceptions.HTTPError as err:
            refused.append(str(err))

    rest = HookedRest(api_client, {2: try_to_create})
    cli_down.uninstall(rest, Console(io.StringIO()), 30)
    assert len(refused) == 1, refused
    assert "loadtest-monitor down --uninstall is deleting this CRD" in refused[0]
    assert not exists(api, CRD_KIND, CRD_NAME)
