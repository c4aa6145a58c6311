"""The CRD on the OLDEST Kubernetes the docs state (hack/build-apiserver.sh builds its kube-apiserver
and etcd): it installs, accepts a valid monitor, refuses invalid ones with the CRD's messages, and
its transition rule (storage can only grow, written without the quantity() CEL library) works.

Only etcd and kube-apiserver run (the harness's ApiServer, as under the main control plane): CRD
validation needs nothing else. The client is the current kubectl of the main control plane.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import yaml
from kubernetes import client
from kubernetes.config import kube_config

from loadtest_monitor.cli import crd_fence
from loadtest_monitor.identity import CRD_NAME
from loadtest_monitor.kube.client import Kube
from loadtest_monitor.kube.rest import Rest
from ltm_harness import wait
from ltm_harness.apiserver import ApiServer
from ltm_harness.binaries import Binaries, find_binaries, floor_apiserver_dir
from ltm_harness.errors import ClusterError
from ltm_harness.repo import MONITOR_CRD as CRD
from ltm_harness.repo import REPO_ROOT as REPO
from tests.integration.image_support import disagreements
from tests.integration.operator_support import check_create_only_apply

FLOOR_VERSION = "v1.27"  # the floor README.md, docs/install.md and Chart.yaml state


@pytest.fixture(scope="module")
def old_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    problem: str | None = None
    try:
        api = ApiServer(
            Binaries(floor_apiserver_dir()), tmp_path_factory.mktemp("floor"), kubectl=find_binaries().kubectl
        )
        api.start()
    except ClusterError as err:
        problem = str(err)
    if problem is not None:
        pytest.fail(f"the {FLOOR_VERSION} kube-apiserver did not start: {problem}", pytrace=False)
    try:
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
        api.stop()


def _monitor(name: str, spec: dict[str, object]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "loadtest.dev/v1alpha1",
            "kind": "LoadtestMonitor",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec,
        }
    )


def test_valid_monitors_are_accepted_and_defaulted(old_apiserver: ApiServer) -> None:
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
                "influxdb": {
                    "retention": "5200w",
                    "resources": {"requests": {"cpu": "100m", "memory": 2}},
                    "storage": {"emptyDirSizeLimit": "1024Gi"},
                    "maxSeriesPerDatabase": 10_000_000,
                    "maxValuesPerTag": 100,
                },
                "graphite": {"runnerPodSelector": {"matchLabels": {"batch.kubernetes.io/job-name": "run-1"}}},
                "placement": {"tolerations": [{"operator": "Exists"}], "nodeSelector": {"example.com/pool": "mon"}},
            },
        ),
    )
    assert created.returncode == 0, created.stderr
    got = yaml.safe_load(old_apiserver.kubectl("get", "ltm", "dotted", "-n", "default", "-o", "yaml").stdout)
    assert got["spec"]["gatling"]["writePeriod"] == 1  # defaults applied by the old server
    assert got["spec"]["influxdb"]["storage"]["emptyDirSizeLimit"] == "1024Gi"
    full = old_apiserver.kubectl("get", "ltm", "checkout-full", "-n", "default", "-o", "yaml")
    defaulted = yaml.safe_load(full.stdout)
    assert defaulted["spec"]["graphite"]["runnerPodSelector"] == {"matchLabels": {"loadtest.dev/role": "runner"}}


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
        ({"influxdb": {"storage": {"emptyDirSizeLimit": "99Mi"}}}, "from 100Mi to 1024Gi"),
        ({"influxdb": {"storage": {"emptyDirSizeLimit": "2G"}}}, "from 100Mi to 1024Gi"),
        ({"influxdb": {"storage": {"emptyDirSizeLimit": "1025Gi"}}}, "from 100Mi to 1024Gi"),
        # The bounds' own messages: a CRD without these fields refuses them too, as unknown fields.
        ({"influxdb": {"maxSeriesPerDatabase": 999}}, "should be greater than or equal to 1000"),
        ({"influxdb": {"maxValuesPerTag": 1_000_001}}, "should be less than or equal to 1000000"),
        ({"graphite": {"runnerPodSelector": {"matchLabels": {}}}}, "should have at least 1 properties"),
        ({"graphite": {"runnerPodSelector": {"matchLabels": {"my key": "v"}}}}, "label keys"),
        ({"graphite": {"runnerPodSelector": {"matchLabels": {"role": "a b"}}}}, "matchLabels.role in body should"),
    ],
)
def test_invalid_monitors_are_refused_with_the_crds_message(
    old_apiserver: ApiServer, spec: dict[str, object], message: str
) -> None:
    result = old_apiserver.kubectl("apply", "-f", "-", input=_monitor("bad", spec))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_storage_can_only_grow_without_the_quantity_library(old_apiserver: ApiServer) -> None:
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


def test_create_only_apply_holds_on_the_floor(old_apiserver: ApiServer) -> None:
    """The resourceVersion precondition that makes the operator's create-only apply is honoured
    the same way by the oldest Kubernetes the project supports."""
    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(old_apiserver.kubeconfig_path), client_configuration=configuration)
    kube = Kube(client.ApiClient(configuration))

    def kubectl(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return old_apiserver.kubectl("-n", "default", *args, input=input)

    assert check_create_only_apply(kube, kubectl, "default") == 6


def test_the_uninstall_fence_holds_on_the_floor(old_apiserver: ApiServer) -> None:
    """`down --uninstall` closes its race with a CEL rule `false` on the CRD's root schema (a
    ValidatingAdmissionPolicy is not on in 1.27): the oldest server must enforce it, and drop it."""
    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(old_apiserver.kubeconfig_path), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        rest = Rest(api)
        crd = rest.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
        assert crd is not None
        crd_fence.fence(rest, crd)  # returns only once a dry-run create is refused with the fence's message
        refused = old_apiserver.kubectl("apply", "-f", "-", input=_monitor("fenced", {}))
        assert refused.returncode != 0 and crd_fence.FENCE_MARK in refused.stderr, refused.stderr
        crd_fence.lift_fence(rest)
    accepted = wait.wait_for(
        lambda: old_apiserver.kubectl("apply", "-f", "-", input=_monitor("fenced", {})).returncode == 0 or None,
        30,
        "a monitor accepted once the fence is lifted",
    )
    assert accepted


def test_image_references_are_judged_the_same_on_the_floor(old_apiserver: ApiServer) -> None:
    """The image rule (CEL matches, RE2) refuses and accepts on 1.27 exactly what it does today."""
    assert disagreements(old_apiserver.kubectl, "default") == []


RUN_CRD = REPO / "crds" / "loadtest.dev_loadtestruns.yaml"


def _run(name: str, **spec: object) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "loadtest.dev/v1alpha1",
            "kind": "LoadtestRun",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"monitorRef": {"name": "checkout"}, "image": "gatling-runner:3.15.1", "simulation": "a.B", **spec},
        }
    )


def test_the_run_crd_installs_and_judges_on_the_floor(old_apiserver: ApiServer) -> None:
    """LoadtestRun's CRD (its CEL rules, the immutable spec) works on the oldest supported API server,
    so a run is refused with the same messages there (the operator then says the Job needs 1.29)."""
    applied = old_apiserver.kubectl("apply", "--server-side", "-f", str(RUN_CRD))
    assert applied.returncode == 0, applied.stderr
    established = old_apiserver.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/loadtestruns.loadtest.dev"
    )
    assert established.returncode == 0, established.stderr
    bad = old_apiserver.kubectl("apply", "-f", "-", input=_run("bad", criteria=[{"metric": "p95", "max": 1, "min": 0}]))
    assert bad.returncode != 0 and "exactly one of max, min or baseline" in bad.stderr, bad.stderr
    assert old_apiserver.kubectl("apply", "-f", "-", input=_run("fixed")).returncode == 0
    changed = old_apiserver.kubectl("apply", "-f", "-", input=_run("fixed", runners=2))
    assert changed.returncode != 0 and "create a new LoadtestRun" in changed.stderr, changed.stderr


def test_a_runs_job_on_the_floor_is_refused_or_loses_per_index_backoff(old_apiserver: ApiServer) -> None:
    """What the run controller's KubernetesTooOld check relies on: an API server before 1.29 either
    refuses the Job's backoffLimitPerIndex or drops it; it never keeps it."""
    from loadtest_monitor.kube.client import KubeError
    from loadtest_monitor.render.run_job import RunJobContext, render_job
    from loadtest_monitor.spec.run import parse_run_spec

    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(old_apiserver.kubeconfig_path), client_configuration=configuration)
    kube = Kube(client.ApiClient(configuration))
    spec = parse_run_spec(yaml.safe_load(_run("floor", runners=2))["spec"], "floor")
    job = render_job(
        RunJobContext(
            run="floor",
            namespace="default",
            uid="00000000-0000-0000-0000-000000000000",
            spec=spec,
            graphite_host="checkout-graphite.default.svc.cluster.local",
            graphite_port=2003,
            graphite_tcp=True,
            gatling_config_map="checkout-gatling",
            forwarder_image="loadtest-monitor:0.1.0",
            wait_image="busybox:1.36.1",
        )
    )
    try:
        made = kube.apply(job)
    except KubeError as err:
        # 1.27 answers 500 "failed to create typed patch object ... field not declared in schema".
        assert ".spec.backoffLimitPerIndex: field not declared in schema" in str(err), err
    else:
        assert made["spec"].get("backoffLimitPerIndex") is None, made["spec"]
