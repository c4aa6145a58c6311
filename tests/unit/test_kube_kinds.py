"""The one table of kinds (kube/kinds.py): it knows every child a monitor renders, prune can reach
every child of a prunable kind by name, the REST paths are the API server's, and the operator
watches exactly the table's watched kinds."""

from __future__ import annotations

import kopf
import pytest

from loadtest_monitor.controller import handlers
from loadtest_monitor.controller.reconcile import prunable
from loadtest_monitor.kube import kinds
from loadtest_monitor.kube.kinds import Watch
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.monitor import offline_credentials, render_all
from loadtest_monitor.spec.monitor import parse_spec

OWNER = Owner("checkout", "perf", "0f0e0d0c-0000-4000-8000-000000000001")
# Every optional child switched on: storage, both NetworkPolicies, the generated admin Secret.
EVERYTHING = {"influxdb": {"storage": {"enabled": True}}, "graphite": {"networkPolicy": True}}


def _everything() -> tuple[RenderContext, list[dict[str, object]]]:
    ctx = RenderContext(OWNER, parse_spec(EVERYTHING))
    return ctx, render_all(ctx, offline_credentials(ctx))


def test_every_rendered_child_is_a_labelled_kind_of_the_table_with_its_name_known() -> None:
    ctx, objects = _everything()
    assert {o["kind"] for o in objects} >= {"PersistentVolumeClaim", "NetworkPolicy", "Secret"}
    for obj in objects:
        row = kinds.info(str(obj["apiVersion"]), str(obj["kind"]))
        assert row.labelled, f"`down` would not wait for {obj['kind']}"
        name = obj["metadata"]["name"]  # type: ignore[index]
        # A name missing here is a child that prune could never delete once the spec drops it.
        assert name in ctx.names.of_kind(row.kind), f"{obj['kind']}/{name} is not in ChildNames.of_kind"


def test_prunable_names_every_child_of_a_prunable_kind_and_nothing_else() -> None:
    ctx, objects = _everything()
    rendered = {(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in objects}  # type: ignore[index]
    of_prunable_kinds = {key for key in rendered if kinds.info(str(key[0]), str(key[1])).prunable}
    assert set(prunable(ctx)) == of_prunable_kinds
    assert {kind for _, kind, _ in prunable(ctx)} == {"PersistentVolumeClaim", "NetworkPolicy", "Secret"}


def test_prune_never_names_the_children_a_monitor_always_has() -> None:
    ctx = RenderContext(OWNER, parse_spec({}))
    kinds_pruned = {kind for _, kind, _ in prunable(ctx)}
    assert not kinds_pruned & {"Deployment", "Service", "ConfigMap"}


@pytest.mark.parametrize(
    ("api_version", "kind", "namespace", "name", "expected"),
    [
        ("v1", "ConfigMap", "perf", "a", "/api/v1/namespaces/perf/configmaps/a"),
        ("apps/v1", "Deployment", "perf", None, "/apis/apps/v1/namespaces/perf/deployments"),
        ("v1", "Pod", None, None, "/api/v1/pods"),  # a namespaced kind across all namespaces
        ("v1", "Namespace", "ignored", "perf", "/api/v1/namespaces/perf"),  # cluster-scoped
        (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "loadtestmonitors.loadtest.dev",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/loadtestmonitors.loadtest.dev",
        ),
        (
            "loadtest.dev/v1alpha1",
            "LoadtestMonitor",
            "perf",
            "m",
            "/apis/loadtest.dev/v1alpha1/namespaces/perf/loadtestmonitors/m",
        ),
    ],
)
def test_rest_paths(api_version: str, kind: str, namespace: str | None, name: str | None, expected: str) -> None:
    assert kinds.path(api_version, kind, namespace, name) == expected


def test_an_unknown_kind_names_the_table_to_add_it_to() -> None:
    with pytest.raises(KeyError, match=r"batch/v1 CronJob is not in kube/kinds.KINDS: add its row there"):
        kinds.path("batch/v1", "CronJob", "perf")


def test_one_row_per_kind_and_plural() -> None:
    assert len({(k.api_version, k.kind) for k in kinds.KINDS}) == len(kinds.KINDS)
    assert len({(k.group, k.plural) for k in kinds.KINDS}) == len(kinds.KINDS)


def test_the_operator_indexes_and_selects_exactly_the_watched_kinds() -> None:
    """The kopf registry holds one index per watched kind, under the id startup() reads it by, and the
    child and pod indexes are filtered to our objects (the monitor index is not)."""
    registry = kopf.get_default_registry()
    # The LoadtestRun controller (controller/run_handlers.py) keeps three indexes of its own.
    run_indexes = {"runs_index", "jobs_index", "run_pods_index"}
    by_id = {str(h.id): h for h in registry._indexing.get_all_handlers() if str(h.id) not in run_indexes}
    watched = kinds.watched(Watch.PRIMARY, Watch.CHILD, Watch.POD)
    assert sorted(by_id) == sorted(row.index for row in watched)
    resources = {row.index: kopf.Resource(row.group, row.version, row.plural, kind=row.kind) for row in kinds.KINDS}
    for row in watched:
        handler = by_id[row.index]
        selector = handler.selector
        assert selector is not None
        assert [i for i, r in resources.items() if selector.check(r)] == [row.index]
        assert handler.labels == (None if row.watch is Watch.PRIMARY else handlers.OURS)
