"""The Helm chart (charts/loadtest-monitor): lint, render with default and other values, and
compare it with the kustomize base, which is the reference for the objects both install."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.packaging.packaging_support import (
    BASE,
    CHART,
    CLUSTER_NEEDS,
    CRD_FILES,
    KUBE_VERSION,
    NAMESPACED_NEEDS,
    OPERATOR_NAMESPACE,
    ROOT,
    excess_grants,
    granted,
    helm_binary,
    helm_template,
    kustomize,
    load_all,
    missing_grants,
    of_kind,
    one,
    restricted_violations,
    roles_bound_to,
    run,
    source_crds,
)

NON_DEFAULT_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example/loadtest/operator", "tag": "9.9.9", "pullPolicy": "Always"},
    "watch": {"allNamespaces": False, "namespaces": ["team-a", "team-b"]},
    "resources": {"requests": {"cpu": "250m", "memory": "200Mi"}, "limits": {"memory": "400Mi"}},
    "nodeSelector": {"kubernetes.io/os": "linux", "node-group": "tools"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "tools", "effect": "NoSchedule"}],
    "serviceAccount": {
        "create": True,
        "name": "ltm-operator",
        "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ltm"},
    },
    "namespace": {"create": True},
    "verbose": True,
}


def values_file(tmp_path: Path, values: dict, name: str = "values.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return str(path)


@pytest.fixture(scope="module")
def default_render() -> list[dict]:
    return helm_template()


@pytest.fixture(scope="module")
def custom_render(tmp_path_factory) -> list[dict]:
    return helm_template("-f", values_file(tmp_path_factory.mktemp("values"), NON_DEFAULT_VALUES))


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return kustomize(BASE)


def container(objs: list[dict]) -> dict:
    (c,) = one(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


# --- lint -----------------------------------------------------------------------------------


def test_lint_default_values_strict():
    proc = run([str(helm_binary()), "lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION])
    assert "0 chart(s) failed" in proc.stdout


def test_lint_non_default_values_strict(tmp_path):
    proc = run(
        [
            str(helm_binary()),
            "lint",
            str(CHART),
            "--strict",
            "--kube-version",
            KUBE_VERSION,
            "-f",
            values_file(tmp_path, NON_DEFAULT_VALUES),
        ]
    )
    assert "0 chart(s) failed" in proc.stdout


def test_chart_refuses_kubernetes_older_than_it_supports():
    proc = run([str(helm_binary()), "template", "x", str(CHART), "--kube-version", "1.26.0"], check=False)
    assert proc.returncode != 0
    assert "kubeVersion" in proc.stderr


# --- the CRD: one source --------------------------------------------------------------------


def test_chart_crd_is_the_crds_folder_not_a_copy():
    # charts/loadtest-monitor/crds is a symlink to the repository's crds/: Helm follows it when
    # it loads the chart from a directory, and `helm package` stores the files themselves.
    link = CHART / "crds"
    assert link.is_symlink(), "charts/loadtest-monitor/crds must stay a symlink to ../../crds"
    assert link.resolve() == (ROOT / "crds").resolve()


def test_helm_installs_exactly_the_crd_of_crds_folder(default_render):
    # Catches drift however the chart gets its CRD (symlink, copy, make step): what Helm would
    # install must equal crds/, and nothing else of that folder (its Kustomization file) may
    # be taken for a CRD.
    from_chart = [o for o in default_render if o["kind"] != "CustomResourceDefinition"]
    assert all(o["apiVersion"] != "kustomize.config.k8s.io/v1beta1" for o in from_chart)
    # Helm lists the CRDs in its own order.
    by_name = lambda crds: sorted(crds, key=lambda c: c["metadata"]["name"])  # noqa: E731
    assert by_name(of_kind(default_render, "CustomResourceDefinition")) == source_crds()
    shown = load_all(run([str(helm_binary()), "show", "crds", str(CHART)]).stdout)
    assert by_name(shown) == source_crds()


def test_packaged_chart_carries_the_crd_file_itself(tmp_path):
    run([str(helm_binary()), "package", str(CHART), "-d", str(tmp_path)])
    (archive,) = tmp_path.glob("loadtest-monitor-*.tgz")
    import tarfile

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        for crd_file in CRD_FILES:
            member = tar.getmember(f"loadtest-monitor/crds/{crd_file.name}")
            assert member.isfile()
            data = tar.extractfile(member)
            assert data is not None
            assert data.read().decode() == crd_file.read_text()
    assert not [n for n in names if n.startswith("loadtest-monitor/crds/") and "ustomization" in n]


# --- default values: the same operator as the kustomize base --------------------------------


def test_default_render_has_the_objects_of_the_base(default_render, base):
    def kinds_names(objs):
        return sorted((o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", "")) for o in objs)

    base_without_namespace = [o for o in base if o["kind"] != "Namespace"]  # Helm: --create-namespace
    assert kinds_names(default_render) == kinds_names(base_without_namespace)


def test_default_rbac_rules_equal_the_base(default_render, base):
    for name in ("loadtest-monitor", "loadtest-monitor-cluster"):
        assert one(default_render, "ClusterRole", name)["rules"] == one(base, "ClusterRole", name)["rules"]


def test_default_rbac_covers_the_operator_and_no_more(default_render):
    bound = granted(roles_bound_to(default_render, "loadtest-monitor", OPERATOR_NAMESPACE, "ClusterRoleBinding"))
    assert missing_grants(bound, {**NAMESPACED_NEEDS, **CLUSTER_NEEDS}) == {}
    assert excess_grants(bound, {**NAMESPACED_NEEDS, **CLUSTER_NEEDS}) == {}


def test_default_pod_equals_the_base_pod_but_labels_and_image(default_render, base):
    def comparable(objs):
        deployment = one(objs, "Deployment")
        pod = dict(deployment["spec"]["template"]["spec"])
        pod["containers"] = [{k: v for k, v in c.items() if k != "image"} for c in pod["containers"]]
        return deployment["spec"]["replicas"], deployment["spec"]["strategy"], pod

    assert comparable(default_render) == comparable(base)


def test_default_pod_is_restricted_single_and_recreated(default_render):
    deployment = one(default_render, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert restricted_violations(deployment["spec"]["template"]["spec"]) == []


def test_default_image_tag_is_the_app_version(default_render):
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert container(default_render)["image"] == f"loadtest-monitor:{chart['appVersion']}"


def test_default_watches_all_namespaces(default_render):
    args = container(default_render)["args"]
    assert "--all-namespaces" in args and "--namespace" not in args
    assert not of_kind(default_render, "RoleBinding")


# --- non-default values --------------------------------------------------------------------


def test_watch_namespaces_binds_per_namespace_only(custom_render):
    args = container(custom_render)["args"]
    assert "--all-namespaces" not in args
    pairs = [args[i + 1] for i, a in enumerate(args) if a == "--namespace"]
    assert pairs == ["team-a", "team-b"]
    bindings = of_kind(custom_render, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "loadtest-monitor",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "ltm-operator", "namespace": OPERATOR_NAMESPACE}
        ]
    # Only the cluster-scoped role is bound cluster-wide.
    cluster_bound = roles_bound_to(custom_render, "ltm-operator", OPERATOR_NAMESPACE, "ClusterRoleBinding")
    assert [r["metadata"]["name"] for r in cluster_bound] == ["loadtest-monitor-cluster"]
    assert missing_grants(granted(cluster_bound), CLUSTER_NEEDS) == {}
    per_namespace = roles_bound_to(custom_render, "ltm-operator", OPERATOR_NAMESPACE, "RoleBinding")
    assert missing_grants(granted(per_namespace), NAMESPACED_NEEDS) == {}


def test_custom_values_reach_the_pod(custom_render):
    deployment = one(custom_render, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    c = container(custom_render)
    assert c["image"] == "registry.example/loadtest/operator:9.9.9"
    assert c["imagePullPolicy"] == "Always"
    assert c["resources"] == NON_DEFAULT_VALUES["resources"]
    assert pod["nodeSelector"] == NON_DEFAULT_VALUES["nodeSelector"]
    assert pod["tolerations"] == NON_DEFAULT_VALUES["tolerations"]
    assert pod["serviceAccountName"] == "ltm-operator"
    assert "--verbose" in c["args"]
    assert restricted_violations(pod) == []


def test_custom_service_account_and_namespace(custom_render):
    sa = one(custom_render, "ServiceAccount", "ltm-operator")
    assert sa["metadata"]["annotations"] == NON_DEFAULT_VALUES["serviceAccount"]["annotations"]
    namespace = one(custom_render, "Namespace", OPERATOR_NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_rbac_and_service_account_can_be_left_to_the_cluster_owner(tmp_path):
    objs = helm_template(
        "-f", values_file(tmp_path, {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "given"}})
    )
    kinds = {o["kind"] for o in objs}
    assert kinds == {"CustomResourceDefinition", "Deployment"}
    assert one(objs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "given"


def test_release_name_prefixes_cluster_scoped_names(tmp_path):
    objs = helm_template(release="perf")
    names = {o["metadata"]["name"] for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding")}
    assert names == {"perf-loadtest-monitor", "perf-loadtest-monitor-cluster"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"watch": {"allNamespaces": True, "namespaces": ["a"]}}, "set allNamespaces=false"),
        ({"watch": {"allNamespaces": False, "namespaces": []}}, "list at least one namespace"),
        ({"watch": {"allNamespaces": False, "namespaces": ["Not_A_Namespace"]}}, "does not match pattern"),
        ({"serviceAccount": {"create": False, "name": ""}}, "serviceAccount.name is required"),
    ],
)
def test_inconsistent_values_fail_with_a_message(tmp_path, values, message):
    cmd = [
        str(helm_binary()),
        "template",
        "x",
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "-f",
        values_file(tmp_path, values),
    ]
    proc = run(cmd, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr


# --- operator metrics and the ServiceMonitor ---------------------------------------------------


def test_default_serves_metrics_on_8081_without_a_service_monitor(default_render):
    args = container(default_render)["args"]
    assert args[args.index("--metrics-port") + 1] == "8081"
    assert {"name": "metrics", "containerPort": 8081, "protocol": "TCP"} in container(default_render)["ports"]
    assert of_kind(default_render, "ServiceMonitor") == []


def test_service_monitor_scrapes_the_operator_pods_metrics_port(tmp_path):
    values = {"metrics": {"port": 9102, "serviceMonitor": {"enabled": True, "interval": "15s",
                                                           "labels": {"release": "kube-prometheus"}}}}
    objs = helm_template("-f", values_file(tmp_path, values))
    monitor = one(objs, "ServiceMonitor")
    service = one(objs, "Service", "loadtest-monitor-metrics")
    pod = one(objs, "Deployment")["spec"]["template"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"] == OPERATOR_NAMESPACE
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [OPERATOR_NAMESPACE]}
    # ServiceMonitor -> Service -> pod, by labels and by port name.
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
    (port,) = service["spec"]["ports"]
    assert port["name"] == "metrics" and port["port"] == 9102 and port["targetPort"] == "metrics"
    (c,) = pod["spec"]["containers"]
    assert {"name": "metrics", "containerPort": 9102, "protocol": "TCP"} in c["ports"]
    assert c["args"][c["args"].index("--metrics-port") + 1] == "9102"


def test_metrics_port_zero_turns_the_endpoint_off(tmp_path):
    objs = helm_template("-f", values_file(tmp_path, {"metrics": {"port": 0}}))
    assert "--metrics-port" not in container(objs)["args"]
    assert all(p["name"] != "metrics" for p in container(objs)["ports"])


def test_service_monitor_without_a_metrics_port_fails_with_a_message(tmp_path):
    values = {"metrics": {"port": 0, "serviceMonitor": {"enabled": True}}}
    cmd = [str(helm_binary()), "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
           "-f", values_file(tmp_path, values)]
    proc = run(cmd, check=False)
    assert proc.returncode != 0
    assert "metrics.serviceMonitor.enabled is true but metrics.port is 0" in proc.stderr


def test_load_balancer_mode_reaches_the_operator(default_render, tmp_path):
    def mode(objs):
        return {e["name"]: e.get("value") for e in container(objs)["env"]}["LTM_LOAD_BALANCER_MODE"]

    assert mode(default_render) == "aws-load-balancer-controller"
    auto = helm_template("-f", values_file(tmp_path, {"aws": {"loadBalancerMode": "eks-auto-mode"}}))
    assert mode(auto) == "eks-auto-mode"
    cmd = [str(helm_binary()), "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
           "-f", values_file(tmp_path, {"aws": {"loadBalancerMode": "auto"}}, "bad.yaml")]
    proc = run(cmd, check=False)
    assert proc.returncode != 0 and "loadBalancerMode" in proc.stderr
