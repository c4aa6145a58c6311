"""The pure parts of `down --uninstall`: what counts as of an `up` install, the fence, the advice."""

from __future__ import annotations

from typing import Any

from loadtest_monitor.cli.crd_fence import FENCE, has_fence, with_fence
from loadtest_monitor.cli.install import crd_objects, install_id_of, new_install_id, operator_objects, stamp
from loadtest_monitor.cli.namespace_contents import not_of_install
from loadtest_monitor.cli.uninstall import other_tool
from loadtest_monitor.identity import INSTALL_ID_ANNOTATION, LABEL_MANAGED_BY

ID = "0123456789abcdef0123456789abcdef"


def item(
    kind: str, name: str, uid: str, owners: tuple[str, ...] = (), install_id: str | None = None
) -> tuple[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid, "ownerReferences": [{"uid": o} for o in owners]}
    if install_id:
        meta["annotations"] = {INSTALL_ID_ANNOTATION: install_id}
    return kind, {"metadata": meta}


def test_stamp_marks_a_copy_and_the_id_is_read_back() -> None:
    base = operator_objects()[0]
    stamped = stamp(base, ID)
    assert install_id_of(stamped) == ID
    assert stamped["metadata"]["labels"][LABEL_MANAGED_BY] == "loadtest-monitor-cli"
    assert install_id_of(base) is None  # the base object itself is unchanged
    assert install_id_of(None) is None
    assert new_install_id() != new_install_id()


def test_owned_objects_count_by_their_owners_and_built_ins_are_ignored() -> None:
    items = [
        item("Pod", "loadtest-monitor-abc-x", "p1", ("rs1",)),  # listed before its owner
        item("ReplicaSet", "loadtest-monitor-abc", "rs1", ("d1",)),
        item("Deployment", "loadtest-monitor", "d1"),
        item("ServiceAccount", "loadtest-monitor", "sa1", install_id=ID),
        item("ServiceAccount", "default", "sa0"),
        item("ConfigMap", "kube-root-ca.crt", "cm0"),
    ]
    assert not_of_install(items, ID, ["d1"]) == []


def test_anything_else_is_foreign() -> None:
    items = [
        item("Deployment", "loadtest-monitor", "d1"),
        item("Deployment", "metrics-relay", "d2"),
        item("ConfigMap", "team-settings", "cm1", install_id="another-install"),
        item("Pod", "shared", "p1", ("d1", "d2")),  # one owner is not of the install
        item("Secret", "token", "s1", ("cr-uid",)),  # owned by something outside the namespace
    ]
    assert not_of_install(items, ID, ["d1"]) == [
        "ConfigMap/team-settings", "Deployment/metrics-relay", "Pod/shared", "Secret/token",
    ]


def test_the_fence_is_added_once_to_every_version_and_removed_again() -> None:
    for crd in crd_objects():  # every CRD of the install (LoadtestMonitor, LoadtestRun)
        crd["metadata"]["managedFields"] = [{"manager": "x"}]
        fenced = with_fence(crd, on=True)
        assert has_fence(fenced) and not has_fence(crd)
        assert "managedFields" not in fenced["metadata"]  # never sent back in the update
        assert with_fence(fenced, on=True) == fenced
        for version in fenced["spec"]["versions"]:
            rules = version["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
            assert rules.count(FENCE) == 1 and rules[-1] == FENCE
        lifted = with_fence(fenced, on=False)
        crd["metadata"].pop("managedFields")
        assert lifted == crd


def test_the_advice_names_the_tool_that_installed_it() -> None:
    helm = {"metadata": {"namespace": "ops", "labels": {LABEL_MANAGED_BY: "Helm"},
                         "annotations": {"meta.helm.sh/release-name": "ltm", "meta.helm.sh/release-namespace": "ops"}}}
    assert other_tool(helm).endswith("helm uninstall ltm -n ops")
    argo = {"metadata": {"annotations": {"argocd.argoproj.io/tracking-id": "perf-ltm:apps/Deployment:x/y"}}}
    assert other_tool(argo) == "it is managed by Argo CD (application perf-ltm): delete that Argo CD application"
    synced = {"metadata": {"annotations": {"argocd.argoproj.io/sync-wave": "-1"}}}
    assert other_tool(synced) == "it is managed by Argo CD: delete that Argo CD application"
    assert "kubectl delete -k manifests/base" in other_tool({"metadata": {}})
    ours = stamp({"metadata": {}}, ID)
    assert other_tool(ours) == f"it is of another `loadtest-monitor up` install (loadtest.dev/install-id {ID})"
