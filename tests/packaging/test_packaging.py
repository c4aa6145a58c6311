"""The operator's kustomize base (manifests/base) and its Argo CD overlay, rendered for real."""

from __future__ import annotations

import pytest
import yaml

from tests.packaging.packaging_support import (
    BASE,
    CLUSTER_NEEDS,
    NAMESPACED_NEEDS,
    OPERATOR_NAMESPACE,
    ROOT,
    excess_grants,
    granted,
    kustomize,
    missing_grants,
    of_kind,
    one,
    restricted_violations,
    roles_bound_to,
    source_crds,
)

ARGOCD_OVERLAY = ROOT / "manifests" / "overlays" / "argocd"


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return kustomize(BASE)


@pytest.fixture(scope="module")
def deployment(base: list[dict]) -> dict:
    return one(base, "Deployment", "loadtest-monitor")


def test_base_renders_exactly_the_operator_objects(base):
    got = sorted((o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", "")) for o in base)
    assert got == sorted(
        [
            ("Namespace", OPERATOR_NAMESPACE, ""),
            ("CustomResourceDefinition", "loadtestmonitors.loadtest.dev", ""),
            ("CustomResourceDefinition", "loadtestruns.loadtest.dev", ""),
            ("ServiceAccount", "loadtest-monitor", OPERATOR_NAMESPACE),
            ("ClusterRole", "loadtest-monitor", ""),
            ("ClusterRole", "loadtest-monitor-cluster", ""),
            ("ClusterRoleBinding", "loadtest-monitor", ""),
            ("ClusterRoleBinding", "loadtest-monitor-cluster", ""),
            ("Deployment", "loadtest-monitor", OPERATOR_NAMESPACE),
        ]
    )


def test_crds_are_the_ones_in_crds_unchanged(base):
    assert of_kind(base, "CustomResourceDefinition") == source_crds()


def test_run_crd_names_match_the_api(base):
    spec = one(base, "CustomResourceDefinition", "loadtestruns.loadtest.dev")["spec"]
    assert spec["group"] == "loadtest.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "LoadtestRun"
    assert spec["names"]["plural"] == "loadtestruns"
    assert "ltr" in spec["names"]["shortNames"]
    assert [v["name"] for v in spec["versions"] if v.get("storage")] == ["v1alpha1"]
    assert spec["versions"][0]["subresources"] == {"status": {}}


def test_crd_names_match_the_api(base):
    spec = one(base, "CustomResourceDefinition", "loadtestmonitors.loadtest.dev")["spec"]
    assert spec["group"] == "loadtest.dev"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "LoadtestMonitor"
    assert spec["names"]["plural"] == "loadtestmonitors"
    assert "ltm" in spec["names"]["shortNames"]
    assert [v["name"] for v in spec["versions"] if v.get("storage")] == ["v1alpha1"]


def test_namespace_enforces_restricted_pod_security(base):
    labels = one(base, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_one_replica_recreated_never_rolled(deployment):
    # kopf in standalone mode: two operators side by side would both handle every monitor.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_pod_meets_restricted_pod_security(deployment):
    pod = deployment["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    assert pod["serviceAccountName"] == "loadtest-monitor"


def test_restricted_check_catches_a_root_privileged_pod():
    # The checker itself must be able to fail.
    pod = {
        "hostNetwork": True,
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "containers": [{"name": "c", "securityContext": {"runAsUser": 0, "privileged": True}}],
    }
    problems = "\n".join(restricted_violations(pod))
    for expected in (
        "hostNetwork",
        "hostPath",
        "runAsNonRoot",
        "runAsUser",
        "seccomp",
        "allowPrivilegeEscalation",
        "privileged",
        "drop lacks ALL",
        "readOnlyRootFilesystem",
    ):
        assert expected in problems


def test_container_resources_are_bounded(deployment):
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


def test_liveness_probe_hits_kopf_healthz_on_8080(deployment):
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz"
    port = probe["port"]
    if isinstance(port, str):
        port = next(p["containerPort"] for p in container["ports"] if p["name"] == port)
    assert port == 8080
    args = container["args"]
    assert args[args.index("--liveness-port") + 1] == "8080"


def test_operator_watches_all_namespaces_by_default(deployment):
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" in args
    assert "--namespace" not in args


def test_image_comes_from_kustomization_images(deployment):
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    (entry,) = [i for i in kustomization["images"] if i["name"] == "loadtest-monitor"]
    tag = entry["newTag"]
    assert tag and tag != "latest"
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{entry.get('newName', 'loadtest-monitor')}:{tag}"


def test_rbac_grants_what_the_operator_needs_cluster_wide(base):
    namespaced = granted(roles_bound_to(base, "loadtest-monitor", OPERATOR_NAMESPACE, "ClusterRoleBinding"))
    assert missing_grants(namespaced, {**NAMESPACED_NEEDS, **CLUSTER_NEEDS}) == {}


def test_rbac_grants_nothing_more(base):
    everything = granted(of_kind(base, "ClusterRole"))
    assert excess_grants(everything, {**NAMESPACED_NEEDS, **CLUSTER_NEEDS}) == {}
    # No list or watch on Secrets: the operator reads the few it needs by name.
    assert not {"list", "watch"} & everything[("", "secrets")]


def test_cluster_scoped_rules_live_in_their_own_role(base):
    cluster_role = one(base, "ClusterRole", "loadtest-monitor-cluster")
    assert set(granted([cluster_role])) == set(CLUSTER_NEEDS)
    namespaced_role = one(base, "ClusterRole", "loadtest-monitor")
    assert set(granted([namespaced_role])) == set(NAMESPACED_NEEDS)


def test_rbac_check_catches_a_missing_verb(base):
    role = one(base, "ClusterRole", "loadtest-monitor")
    trimmed = {**role, "rules": [r for r in role["rules"] if "loadtestmonitors/status" not in r["resources"]]}
    assert missing_grants(granted([trimmed]), NAMESPACED_NEEDS) == {
        ("loadtest.dev", "loadtestmonitors/status"): ["get", "patch"]
    }


# --- Argo CD overlay ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def argocd_overlay() -> list[dict]:
    return kustomize(ARGOCD_OVERLAY)


@pytest.mark.parametrize("crd_name", ["loadtestmonitors.loadtest.dev", "loadtestruns.loadtest.dev"])
def test_argocd_overlay_applies_the_crd_server_side_and_keeps_it(argocd_overlay, crd_name):
    crd = one(argocd_overlay, "CustomResourceDefinition", crd_name)
    options = {o.strip() for o in crd["metadata"]["annotations"]["argocd.argoproj.io/sync-options"].split(",")}
    assert {"ServerSideApply=true", "Prune=false", "Delete=false"} <= options


def test_argocd_overlay_changes_nothing_but_crd_annotations(base, argocd_overlay):
    stripped = []
    for crd in of_kind(argocd_overlay, "CustomResourceDefinition"):
        metadata = dict(crd["metadata"])
        annotations = {k: v for k, v in metadata.pop("annotations").items() if not k.startswith("argocd.argoproj.io/")}
        if annotations:
            metadata["annotations"] = annotations
        stripped.append({**crd, "metadata": metadata})
    assert stripped == source_crds()
    others = [o for o in argocd_overlay if o["kind"] != "CustomResourceDefinition"]
    assert others == [o for o in base if o["kind"] != "CustomResourceDefinition"]
