"""`loadtest-monitor doctor`: each check on object fixtures, the printing, and the command's exit code."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadtest_monitor.cli import doctor as cli_doctor
from loadtest_monitor.cli.doctor import (
    _ascii_only,
    cluster_checks,
    load_balancer_needed,
    monitor_checks,
    storage_wanted,
)
from loadtest_monitor.cli.main import build_parser
from loadtest_monitor.doctor import cluster as cc
from loadtest_monitor.doctor import eks
from loadtest_monitor.doctor import monitor as mc
from loadtest_monitor.doctor.facts import (
    TOPIC_CRD,
    TOPIC_MONITORS,
    TOPIC_OPERATOR,
    ClusterFacts,
    MonitorFacts,
    desired_children,
)
from loadtest_monitor.doctor.result import Check, Status, as_json, blocking, fail, line, ok, warn
from loadtest_monitor.identity import CRD_NAME
from loadtest_monitor.obj import Obj

CLI = str(Path(sys.executable).parent / "loadtest-monitor")


def statuses(checks: list[Check]) -> list[Status]:
    return [c.status for c in checks]


# --- printing ---------------------------------------------------------------------------------------


def test_a_line_per_check_with_the_fix_only_when_something_is_wrong() -> None:
    assert (
        line(
            ok(
                "CRD",
                "installed",
            )
        )
        == "✓ CRD: installed"
    )
    assert line(Check(Status.OK, "CRD", "installed", "never shown")) == "✓ CRD: installed"
    assert line(fail("CRD", "not installed", "apply it")) == "✗ CRD: not installed — fix: apply it"
    assert line(warn("policy", "off", "turn it on")) == "! policy: off — fix: turn it on"
    assert line(fail("CRD", "not installed", "apply it"), ascii_only=True) == "x CRD: not installed -- fix: apply it"
    assert line(ok("CRD"), ascii_only=True) == "+ CRD"


def test_only_failures_block_and_json_says_so() -> None:
    assert not blocking([ok("a"), warn("b", "c")])
    assert blocking([ok("a"), fail("b", "c", "d")])
    report = json.loads(as_json([warn("b", "c", "d"), fail("e", "f", "g")]))
    assert report == {
        "ok": False,
        "checks": [
            {"status": "warn", "title": "b", "detail": "c", "fix": "d"},
            {"status": "fail", "title": "e", "detail": "f", "fix": "g"},
        ],
    }


def test_ascii_when_asked_or_when_stdout_cannot_print_the_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    args = build_parser().parse_args(["doctor"])
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert not _ascii_only(args)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    assert _ascii_only(args)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    assert _ascii_only(build_parser().parse_args(["doctor", "--ascii"]))


def test_the_command_takes_a_monitor_a_namespace_and_the_eks_connection() -> None:
    args = build_parser().parse_args(["doctor", "checkout", "-n", "perf", "-o", "json", "--eks-cluster", "lt"])
    assert (args.monitor, args.namespace, args.output, args.eks_cluster) == ("checkout", "perf", "json", "lt")


def test_no_kubeconfig_is_one_failed_line_and_exit_1(tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(tmp_path / "missing"), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(tmp_path)}
    proc = subprocess.run([CLI, "doctor"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("✗ API server: "), proc.stdout
    assert not proc.stderr and len(proc.stdout.splitlines()) == 1


def test_an_api_server_that_does_not_answer_is_one_failed_line_and_exit_1(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    env = {"KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    proc = subprocess.run([CLI, "doctor", "--ascii"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("x API server: API server unreachable: "), proc.stdout
    assert proc.stdout.rstrip().endswith(
        "-- fix: check KUBECONFIG and its current context, or --aws-profile/--eks-cluster"
    )
    assert len(proc.stdout.splitlines()) == 1


# --- Kubernetes version ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "status"),
    [
        ({"major": "1", "minor": "26", "gitVersion": "v1.26.9"}, Status.FAIL),
        ({"major": "1", "minor": "27", "gitVersion": "v1.27.16"}, Status.WARN),
        ({"major": "1", "minor": "28+", "gitVersion": "v1.28.15-eks-1"}, Status.WARN),
        ({"major": "1", "minor": "29+", "gitVersion": "v1.29.1-eks-1"}, Status.OK),
        ({"gitVersion": "v1.33.0"}, Status.OK),
        ({"gitVersion": "unknown"}, Status.WARN),
    ],
)
def test_the_version_floor_is_127_for_the_crd_and_129_for_native_sidecars(info: Obj, status: Status) -> None:
    assert cc.kubernetes_version(info).status is status


# --- CRD --------------------------------------------------------------------------------------------

VERSIONS = [{"name": "v1alpha1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}]


def crd(versions: list[Obj] = VERSIONS, established: bool = True) -> Obj:
    cond = {"type": "Established", "status": "True" if established else "False"}
    return {"spec": {"versions": versions}, "status": {"conditions": [cond]}}


def test_the_crd_must_be_installed_established_unfenced_and_current() -> None:
    packaged = crd()
    assert cc.crd_installed(None, packaged, False).status is Status.FAIL
    assert cc.crd_installed(crd(established=False), packaged, False).status is Status.FAIL
    fenced = cc.crd_installed(crd(), packaged, True)
    assert fenced.status is Status.FAIL and "loadtest-monitor up" in fenced.fix
    older = cc.crd_installed(crd([{**VERSIONS[0], "served": False}]), packaged, False)
    assert older.status is Status.WARN and "kubectl apply --server-side -f crds/" in older.fix
    assert cc.crd_installed(crd(), packaged, False) == ok(f"CRD {CRD_NAME}", "installed and current")
    assert cc.crd_installed(crd(), None, False).status is Status.OK


# --- operator -------------------------------------------------------------------------------------


def operator(replicas: int = 1, ready: int = 1, env: list[Obj] | None = None, name: str = "loadtest-monitor") -> Obj:
    return {
        "metadata": {"namespace": "loadtest-monitor-system", "name": name},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "operator", "env": env or []}]}}},
        "status": {
            "readyReplicas": ready,
            "conditions": [{"type": "Available", "status": "True" if ready else "False"}],
        },
    }


def test_the_operator_must_run_once_and_be_available() -> None:
    assert statuses(cc.operator_running([])) == [Status.FAIL]
    assert "loadtest-monitor up" in cc.operator_running([])[0].fix
    scaled = cc.operator_running([operator(replicas=0, ready=0)])[0]
    assert scaled.status is Status.FAIL and "--replicas=1" in scaled.fix
    down = cc.operator_running([operator(ready=0)])[0]
    assert (
        down.status is Status.FAIL
        and down.detail == "loadtest-monitor-system/loadtest-monitor not available (0/1 ready)"
    )
    assert statuses(cc.operator_running([operator()])) == [Status.OK]
    assert statuses(cc.operator_running([operator(), operator(name="other")])) == [Status.WARN, Status.OK, Status.OK]


def test_the_load_balancer_mode_is_read_from_the_operators_environment() -> None:
    assert cc.load_balancer_mode(None) == "aws-load-balancer-controller"
    assert cc.load_balancer_mode(operator()) == "aws-load-balancer-controller"
    auto = operator(env=[{"name": "LTM_LOAD_BALANCER_MODE", "value": "eks-auto-mode"}])
    assert cc.load_balancer_mode(auto) == "eks-auto-mode"
    assert cc.load_balancer_mode(operator(env=[{"name": "LTM_LOAD_BALANCER_MODE", "value": "nlb"}])) == "nlb"


# --- pods -----------------------------------------------------------------------------------------


def pod(reason: str, app: str = "influxdb", init: bool = False) -> Obj:
    status = {"name": "c", "image": "img:1", "state": {"waiting": {"reason": reason, "message": "m"}}}
    key = "initContainerStatuses" if init else "containerStatuses"
    return {
        "metadata": {"namespace": "perf", "name": "p", "labels": {"app.kubernetes.io/name": app}},
        "status": {key: [status]},
    }


def test_an_image_that_cannot_be_pulled_fails_with_where_to_correct_it() -> None:
    assert statuses(cc.images_pullable([pod("ContainerCreating")])) == [Status.OK]
    influx = cc.images_pullable([pod("ImagePullBackOff")])[0]
    assert influx.status is Status.FAIL
    assert influx.detail == "perf/p container c: image img:1 ImagePullBackOff (m)"
    assert influx.fix.endswith("then correct spec.influxdb.image of the monitor")
    grafana = cc.images_pullable([pod("ErrImagePull", app="grafana", init=True)])[0]
    assert grafana.fix.endswith("spec.grafana.image of the monitor")
    own = cc.images_pullable([pod("InvalidImageName", app="loadtest-monitor")])[0]
    assert "the operator image" in own.fix


def test_a_crash_loop_fails_with_the_logs_command() -> None:
    assert statuses(cc.containers_running([pod("ImagePullBackOff")])) == [Status.OK]
    crash = cc.containers_running([pod("CrashLoopBackOff")])[0]
    assert crash.status is Status.FAIL and crash.fix == "kubectl -n perf logs p -c c --previous"


# --- load balancers -------------------------------------------------------------------------------

LBC = {"spec": {"replicas": 2}, "status": {"readyReplicas": 2}}
AUTO = [eks.AUTO_MODE_CRD]


@pytest.mark.parametrize(
    ("mode", "controller", "crds", "needed", "status"),
    [
        ("aws-load-balancer-controller", LBC, [], True, Status.OK),
        ("aws-load-balancer-controller", {"spec": {"replicas": 2}, "status": {}}, [], True, Status.FAIL),
        ("aws-load-balancer-controller", None, [], True, Status.FAIL),
        ("aws-load-balancer-controller", None, [], False, Status.OK),
        ("aws-load-balancer-controller", None, list(eks.LBC_CRDS), True, Status.WARN),
        ("aws-load-balancer-controller", None, AUTO, True, Status.FAIL),
        ("eks-auto-mode", None, AUTO, True, Status.OK),
        ("eks-auto-mode", LBC, [], True, Status.FAIL),
        ("nlb", LBC, [], True, Status.FAIL),
    ],
)
def test_load_balancers_need_the_controller_or_auto_mode_as_the_operator_is_set(
    mode: str, controller: Obj | None, crds: list[str], needed: bool, status: Status
) -> None:
    assert eks.load_balancers(mode, controller, crds, needed).status is status


def test_an_auto_mode_cluster_with_the_operator_in_controller_mode_says_which_setting_to_change() -> None:
    check = eks.load_balancers("aws-load-balancer-controller", None, AUTO, True)
    assert "LTM_LOAD_BALANCER_MODE=eks-auto-mode" in check.fix


def test_a_load_balancer_is_needed_unless_every_monitor_checked_does_without() -> None:
    assert load_balancer_needed([])
    assert load_balancer_needed([{"spec": {}}])
    cluster_ip = {"spec": {"grafana": {"service": {"type": "ClusterIP"}}}}
    assert not load_balancer_needed([cluster_ip])
    assert load_balancer_needed([{"spec": {**cluster_ip["spec"], "graphite": {"exposure": "InternalLoadBalancer"}}}])


# --- storage --------------------------------------------------------------------------------------


def storage_class(name: str, provisioner: str = "ebs.csi.aws.com", default: bool = False) -> Obj:
    annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": annotations}, "provisioner": provisioner}


def test_storage_needs_the_named_or_a_default_class_and_its_csi_driver() -> None:
    gp3 = storage_class("gp3", default=True)
    io2 = storage_class("io2", provisioner="kubernetes.io/aws-ebs")
    drivers = ["ebs.csi.aws.com"]
    assert statuses(eks.storage_classes([gp3], drivers, {})) == [Status.OK]
    assert statuses(eks.storage_classes([io2], drivers, {})) == [Status.WARN]
    assert statuses(eks.storage_classes([gp3, io2], drivers, {"perf/a": None, "perf/b": "io2"})) == [Status.OK] * 2
    missing = eks.storage_classes([gp3, io2], drivers, {"perf/a": "fast"})[0]
    assert missing.status is Status.FAIL
    assert missing.detail == "perf/a: StorageClass fast does not exist: its PVC stays Pending"
    assert "one of: gp3, io2" in missing.fix
    no_default = eks.storage_classes([io2], drivers, {"perf/a": None})[0]
    assert no_default.status is Status.FAIL and "no default StorageClass" in no_default.detail
    no_driver = eks.storage_classes([io2], [], {"perf/a": "io2"})[0]
    assert no_driver.status is Status.FAIL and "EBS CSI driver" in no_driver.fix
    other = eks.storage_classes([storage_class("local", provisioner="rancher.io/local-path")], [], {"perf/a": "local"})
    assert statuses(other) == [Status.OK]


def test_storage_wanted_reads_the_monitors_with_storage_on() -> None:
    on = {"metadata": {"namespace": "perf", "name": "a"}, "spec": {"influxdb": {"storage": {"enabled": True}}}}
    named = {
        "metadata": {"namespace": "perf", "name": "b"},
        "spec": {"influxdb": {"storage": {"enabled": True, "storageClassName": "gp3"}}},
    }
    off = {"metadata": {"namespace": "perf", "name": "c"}, "spec": {"influxdb": {"storage": {"enabled": False}}}}
    assert storage_wanted([on, named, off, {"metadata": {"namespace": "perf", "name": "d"}}]) == {
        "perf/a": None,
        "perf/b": "gp3",
    }


# --- NetworkPolicy enforcement --------------------------------------------------------------------


def daemonset(name: str, namespace: str = "kube-system", containers: list[Obj] | None = None) -> Obj:
    pod_spec = {"containers": containers or [{"name": name, "image": f"{name}:1"}]}
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"template": {"spec": pod_spec}}}


def aws_node(args: list[str] | None, container: str = "aws-eks-nodeagent") -> Obj:
    containers: list[Obj] = [{"name": "aws-node", "image": "amazon-k8s-cni:v1.19.6"}]
    if args is not None:
        containers.append({"name": container, "image": "aws-network-policy-agent:v1.2.3", "args": args})
    return daemonset("aws-node", containers=containers)


def test_network_policies_are_enforced_by_the_vpc_cni_agent_with_its_flag() -> None:
    on = eks.network_policies([aws_node(["--enable-network-policy=true"])], None, False)
    assert on.status is Status.OK
    off = eks.network_policies([aws_node(["--enable-network-policy=false"])], None, False)
    assert off.status is Status.WARN and "enableNetworkPolicy" in off.fix and "Graphite is open" in off.detail
    assert eks.network_policies([aws_node([])], None, False).status is Status.WARN
    no_agent = eks.network_policies([aws_node(None)], None, False)
    assert no_agent.status is Status.WARN and "1.14" in no_agent.fix
    # Recognised by its image too, whatever the container is called.
    renamed = eks.network_policies([aws_node(["--enable-network-policy=true"], container="agent")], None, False)
    assert renamed.status is Status.OK


def test_network_policies_on_auto_mode_come_from_the_vpc_cni_configmap() -> None:
    enabled = {"data": {"enable-network-policy-controller": "true"}}
    assert eks.network_policies([], enabled, True).status is Status.OK
    off = eks.network_policies([], {"data": {"enable-network-policy-controller": "false"}}, True)
    assert off.status is Status.WARN and "amazon-vpc-cni" in off.fix
    assert eks.network_policies([], None, True).status is Status.WARN


def test_another_enforcing_cni_counts_and_an_unknown_one_is_a_warning() -> None:
    calico = eks.network_policies([daemonset("calico-node", "calico-system")], None, False)
    assert calico.status is Status.OK and "calico-node" in calico.detail
    assert eks.network_policies([daemonset("kube-proxy")], None, False).status is Status.WARN


def test_install_permissions_name_what_is_refused() -> None:
    assert cc.install_permissions([]).status is Status.OK
    denied = cc.install_permissions(["create customresourcedefinitions"])
    assert denied.status is Status.WARN and "create customresourcedefinitions" in denied.detail


# --- one monitor ----------------------------------------------------------------------------------


def monitor(conditions: list[Obj] | None = None, generation: int = 1, observed: int = 1, **spec: Any) -> Obj:
    status: Obj = {"observedGeneration": observed, "conditions": conditions} if conditions is not None else {}
    return {
        "apiVersion": "loadtest.dev/v1alpha1",
        "kind": "LoadtestMonitor",
        "metadata": {"namespace": "perf", "name": "checkout", "uid": "u-1", "generation": generation},
        "spec": spec,
        "status": status,
    }


def cond(kind: str, status: str, reason: str, message: str = "") -> Obj:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def test_conditions_ready_or_each_failing_one_with_its_fix() -> None:
    assert statuses(mc.conditions(monitor())) == [Status.FAIL]
    assert mc.conditions(monitor([cond("Ready", "True", "Available")])) == [ok("monitor perf/checkout", "Ready")]
    stale = mc.conditions(monitor([cond("Ready", "True", "Available")], generation=2))
    assert statuses(stale) == [Status.OK, Status.WARN]
    failing = mc.conditions(
        monitor(
            [
                cond("Ready", "False", "InvalidSpec", "spec.influxdb.image: tag '2.7' is not InfluxDB 1.x"),
                cond("InfluxDBReady", "True", "Available"),
            ]
        )
    )
    assert failing == [
        fail(
            "monitor perf/checkout",
            "Ready=False (InvalidSpec): spec.influxdb.image: tag '2.7' is not InfluxDB 1.x",
            "correct the field the message names and apply the monitor again",
        )
    ]
    pulling = mc.conditions(
        monitor(
            [
                cond("Ready", "False", "ImagePullBackOff", "InfluxDBReady: pull"),
                cond("InfluxDBReady", "False", "ImagePullBackOff", "pull"),
            ]
        )
    )
    assert [c.detail for c in pulling] == [
        "Ready=False (ImagePullBackOff)",
        "InfluxDBReady=False (ImagePullBackOff): pull",
    ]
    assert statuses(pulling) == [Status.FAIL, Status.FAIL]
    rolling = mc.conditions(
        monitor([cond("Ready", "False", "Progressing"), cond("GrafanaReady", "False", "Progressing", "rolling")])
    )
    assert statuses(rolling) == [Status.WARN, Status.WARN]
    crash = mc.conditions(monitor([cond("Ready", "False", "CrashLoopBackOff", "x")]))[0]
    assert crash.fix == "kubectl -n perf logs deploy/checkout-influxdb --previous (or deploy/checkout-grafana)"


def test_the_children_are_what_the_operator_renders_for_the_spec() -> None:
    plain = desired_children(monitor(), "aws-load-balancer-controller")
    assert len(plain) == 14 and ("Deployment", "checkout-influxdb") in plain
    assert ("NetworkPolicy", "checkout-grafana") in plain
    stored = desired_children(monitor(influxdb={"storage": {"enabled": True}}), "aws-load-balancer-controller")
    assert ("PersistentVolumeClaim", "checkout-influxdb-data") in stored
    no_policy = desired_children(monitor(graphite={"networkPolicy": False}), "aws-load-balancer-controller")
    assert ("NetworkPolicy", "checkout-influxdb") not in no_policy
    assert ("NetworkPolicy", "checkout-grafana") not in no_policy


def child(owner_uid: str | None = "u-1", labels: Obj | None = None) -> Obj:
    meta: Obj = {"labels": labels or {}}
    if owner_uid:
        meta["ownerReferences"] = [{"uid": owner_uid}]
    return {"metadata": meta}


def test_children_must_exist_and_be_the_operators() -> None:
    desired = [
        ("Deployment", "checkout-influxdb"),
        ("Secret", "checkout-influxdb-auth"),
        ("PersistentVolumeClaim", "d"),
    ]
    ours_by_labels = child(
        None, {"app.kubernetes.io/managed-by": "loadtest-monitor", "app.kubernetes.io/instance": "checkout"}
    )
    all_there = {desired[0]: child(), desired[1]: child(), desired[2]: ours_by_labels}
    assert mc.children(monitor(), desired, all_there).status is Status.OK
    missing = mc.children(monitor(), desired, {**all_there, desired[0]: None})
    assert missing.status is Status.FAIL and missing.detail == "missing: Deployment/checkout-influxdb"
    foreign = mc.children(monitor(), desired, {**all_there, desired[1]: child("someone-else")})
    assert foreign.status is Status.FAIL and foreign.detail == "not made by the operator: Secret/checkout-influxdb-auth"
    unread = mc.children(monitor(), desired, {desired[0]: child(), desired[2]: ours_by_labels})
    assert unread.status is Status.WARN and "could not read Secret/checkout-influxdb-auth" in unread.detail


def test_the_volume_must_be_bound() -> None:
    assert mc.volume(None) is None
    pvc = {"metadata": {"namespace": "perf", "name": "checkout-influxdb-data"}, "spec": {"storageClassName": "gp3"}}
    assert mc.volume({**pvc, "status": {"phase": "Bound"}}) == ok("volume perf/checkout-influxdb-data", "Bound")
    pending = mc.volume({**pvc, "status": {"phase": "Pending"}})
    assert pending is not None and pending.status is Status.FAIL and pending.detail == "Pending (class gp3)"


def endpoint_slice(port: int, *ready: bool | None) -> Obj:
    endpoints = [{"addresses": ["10.0.0.1"], "conditions": {} if r is None else {"ready": r}} for r in ready]
    return {"ports": [{"port": port}], "endpoints": endpoints}


def test_graphite_is_reachable_with_a_ready_endpoint_on_its_port() -> None:
    address = "checkout-graphite.perf.svc.cluster.local:2003"
    assert mc.graphite_endpoints("checkout", "perf", [endpoint_slice(2003, True)], address) == ok(
        "Graphite reachable", f"{address} has 1 ready endpoint(s)"
    )
    # A missing ready condition means ready (EndpointSlice API).
    assert mc.graphite_endpoints("checkout", "perf", [endpoint_slice(2003, None)], address).status is Status.OK
    for slices in ([], [endpoint_slice(2003, False)], [endpoint_slice(8086, True)]):
        down = mc.graphite_endpoints("checkout", "perf", slices, address)
        assert down.status is Status.FAIL
        assert down.fix.endswith("describe pod -l loadtest.dev/monitor=checkout,app.kubernetes.io/name=influxdb")


def test_grafana_address_and_metrics_arriving() -> None:
    assert mc.grafana_address(monitor(), "LoadBalancer").status is Status.WARN
    assert mc.grafana_address(monitor(), "ClusterIP").status is Status.OK
    with_url = {**monitor(), "status": {"grafana": {"url": "http://nlb:3000"}}}
    assert mc.grafana_address(with_url, "LoadBalancer") == ok("Grafana address", "http://nlb:3000")
    metrics = mc.metrics_arriving(monitor())
    assert metrics.status is Status.WARN and metrics.detail.startswith("cannot tell from outside")


def test_a_monitor_whose_spec_does_not_parse_gets_no_children_lines() -> None:
    bad = monitor([cond("Ready", "False", "InvalidSpec", "spec.influxdb.image: bad")])
    checks = monitor_checks(MonitorFacts(bad, [], {}, [], spec_problem="bad"))
    assert [c.title for c in checks] == ["monitor perf/checkout"]
    good = monitor([cond("Ready", "True", "Available")])
    titles = [c.title for c in monitor_checks(MonitorFacts(good, [], {}, [endpoint_slice(2003, True)]))]
    assert titles == [
        "monitor perf/checkout",
        "children of perf/checkout",
        "Graphite reachable",
        "Grafana address",
        "metrics arriving",
    ]


def with_args(*args: str) -> Obj:
    deployment = operator()
    deployment["spec"]["template"]["spec"]["containers"][0]["args"] = list(args)
    return deployment


def test_a_monitor_in_a_namespace_no_operator_watches_fails() -> None:
    assert cc.watched_namespaces(with_args("--all-namespaces", "--liveness-port", "8080")) is None
    assert cc.watched_namespaces(with_args("--namespace", "a", "-n", "b", "--namespace=c")) == ["a", "b", "c"]
    assert cc.operator_watches([with_args("--all-namespaces")], "perf") is None
    assert cc.operator_watches([with_args("-n", "perf")], "perf") is None
    assert cc.operator_watches([], "perf") is None  # the operator line already fails
    elsewhere = cc.operator_watches([with_args("-n", "team-a", "-n", "team-b")], "perf")
    assert elsewhere is not None and elsewhere.status is Status.FAIL
    assert elsewhere.detail == "watches only team-a, team-b, not perf"
    assert "--namespace perf" in elsewhere.fix


def test_an_operator_that_restarted_is_a_warning_with_its_previous_logs() -> None:
    running = {"metadata": {"namespace": "ops", "name": "op-1"}, "status": {"containerStatuses": [{"restartCount": 0}]}}
    assert cc.operator_restarts([running]) is None
    killed = {
        "metadata": {"namespace": "ops", "name": "op-1"},
        "status": {"containerStatuses": [{"restartCount": 3, "lastState": {"terminated": {"reason": "OOMKilled"}}}]},
    }
    check = cc.operator_restarts([killed])
    assert check == warn(
        "operator", "ops/op-1 restarted 3 time(s) (last: OOMKilled)", "kubectl -n ops logs op-1 --previous"
    )


def test_a_refused_read_turns_its_checks_into_cannot_tell_never_an_absence() -> None:
    def titled(checks: list[Check], title: str) -> list[Check]:
        return [c for c in checks if c.title == title]

    seen = cluster_checks(ClusterFacts(version={"gitVersion": "v1.31.0"}))
    assert statuses(titled(seen, f"CRD {CRD_NAME}")) == [Status.FAIL]
    assert statuses(titled(seen, "operator")) == [Status.FAIL]
    unseen = cluster_checks(ClusterFacts(version={"gitVersion": "v1.31.0"}, refused={TOPIC_CRD, TOPIC_OPERATOR}))
    assert titled(unseen, f"CRD {CRD_NAME}") == [
        warn(
            f"CRD {CRD_NAME}",
            "cannot tell: a read was refused (see the cannot-read line)",
            "doctor needs get/list on it",
        )
    ]
    assert statuses(titled(unseen, "operator")) == [Status.WARN]


def test_a_named_monitor_that_could_not_be_listed_is_not_called_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = ClusterFacts(version={"gitVersion": "v1.31.0"}, refused={TOPIC_MONITORS})
    monkeypatch.setattr(cli_doctor, "read_cluster", lambda rest, ns, name: facts)
    checks = cli_doctor.run_checks(None, "perf", "checkout")  # type: ignore[arg-type]
    assert titled_statuses(checks, "monitor perf/checkout") == [Status.WARN]
    facts.refused = set()
    assert titled_statuses(cli_doctor.run_checks(None, "perf", "checkout"), "monitor perf/checkout") == [Status.FAIL]  # type: ignore[arg-type]


def titled_statuses(checks: list[Check], title: str) -> list[Status]:
    return [c.status for c in checks if c.title == title]
