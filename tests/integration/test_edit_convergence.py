"""Property: any edit of a monitor converges to what a new monitor of the edited spec gets.

Hypothesis draws two valid specs, S1 and S2. Monitor A is created with S1, reconciled, then edited
to S2; monitor B is created with S2 in another namespace. Once the operator has observed both,
A's children must equal B's, field for field, apart from what is unique to an object by nature
(uids, resourceVersions, allocated IPs and ports, generated passwords and the hashes over them,
the namespace's name in strings). A field S1 set that S2 does not, a child S1 needed that S2
does not, an ownerReference S1 dropped (keepOnDelete): anything an edit leaves behind shows as a
difference. All of it on the real API server, with the real operator running.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pykube
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from loadtest_monitor.identity import ADMIN_SECRET_OPT_IN
from tests.integration.operator_support import Operator, apply_monitor, children, get_monitor, minimal, running_operator

RESYNC = 30
SETTLE_TIMEOUT = 60.0
EXTERNAL_ADMIN = "grafana-admin-external"

placement = st.fixed_dictionaries(
    {},
    optional={
        "nodeSelector": st.sampled_from([{"type": "kwok"}, {"kubernetes.io/os": "linux", "type": "kwok"}]),
        "tolerations": st.sampled_from(
            [
                [{"key": "dedicated", "operator": "Equal", "value": "perf", "effect": "NoSchedule"}],
                [{"operator": "Exists"}],
            ]
        ),
    },
)
resources = st.sampled_from(
    [
        {"requests": {"cpu": "100m", "memory": "128Mi"}},
        {"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}},
    ]
)
valid_specs = st.fixed_dictionaries(
    {},
    optional={
        "influxdb": st.fixed_dictionaries(
            {},
            optional={
                "image": st.sampled_from(["influxdb:1.12.4", "influxdb:1.11.8"]),
                "database": st.sampled_from(["gatling", "perf_db"]),
                "retention": st.sampled_from(["7d", "24h", "2w", "INF"]),
                "storage": st.one_of(
                    st.fixed_dictionaries(
                        {"enabled": st.just(False)}, optional={"emptyDirSizeLimit": st.sampled_from(["500Mi", "4Gi"])}
                    ),
                    st.fixed_dictionaries(
                        {"enabled": st.just(True)},
                        optional={"size": st.sampled_from(["1Gi", "2Gi"]), "keepOnDelete": st.booleans()},
                    ),
                ),
                "maxSeriesPerDatabase": st.sampled_from([1_000, 1_000_000]),
                "maxValuesPerTag": st.sampled_from([100, 50_000]),
                "resources": resources,
            },
        ),
        "grafana": st.fixed_dictionaries(
            {},
            optional={
                "anonymousViewing": st.booleans(),
                "service": st.one_of(
                    st.just({"type": "ClusterIP"}),
                    st.fixed_dictionaries(
                        {"type": st.just("LoadBalancer")},
                        optional={
                            "loadBalancerSourceRanges": st.sampled_from([["10.0.0.0/8"], ["192.0.2.0/24"]]),
                            "annotations": st.sampled_from([{"example.com/team": "perf"}, {"example.com/cost": "x"}]),
                        },
                    ),
                ),
                "adminSecretRef": st.just({"name": EXTERNAL_ADMIN}),
                "resources": resources,
            },
        ),
        "graphite": st.fixed_dictionaries(
            {},
            optional={
                "exposure": st.sampled_from(["ClusterIP", "InternalLoadBalancer"]),
                "allowedSourceRanges": st.sampled_from([["10.1.0.0/16"], ["10.2.0.0/16", "10.3.0.0/16"]]),
                "allowedNamespaces": st.sampled_from([["runners"], ["runners", "perf"]]),
                "runnerPodSelector": st.sampled_from(
                    [{"matchLabels": {"loadtest.dev/role": "runner"}}, {"matchLabels": {"app": "gatling", "tier": "x"}}]
                ),
                "networkPolicy": st.booleans(),
            },
        ),
        "gatling": st.fixed_dictionaries(
            {},
            optional={
                "baseConfig": st.sampled_from(["", "gatling { core { encoding = utf-8 } }"]),
                "rootPathPrefix": st.sampled_from(["gatling", "perf"]),
                "writePeriod": st.integers(1, 10),
            },
        ),
        "placement": placement,
    },
)

# Unique to one object by nature, never a difference an edit can leave behind.
_META_KEPT = ("name", "labels", "annotations", "ownerReferences")
_PER_OBJECT_ANNOTATIONS = (
    "loadtest.dev/applied-hash",  # covers the generated passwords
    "loadtest.dev/config-hash",  # idem
    "deployment.kubernetes.io/revision",  # counts the edits
)
_SERVICE_ALLOCATED = ("clusterIP", "clusterIPs", "healthCheckNodePort")


def _normalised(kind: str, obj: dict[str, Any], namespace: str) -> Any:
    out = copy.deepcopy(obj)
    out["kind"] = kind  # a list's items carry no kind
    out.pop("status", None)
    meta = {k: v for k, v in out["metadata"].items() if k in _META_KEPT}
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k not in _PER_OBJECT_ANNOTATIONS and not k.startswith("pv.kubernetes.io/")
    }
    meta["annotations"] = annotations
    meta["ownerReferences"] = [{k: v for k, v in r.items() if k != "uid"} for r in meta.get("ownerReferences") or []]
    out["metadata"] = meta
    template = (out.get("spec") or {}).get("template", {}).get("metadata", {}).get("annotations")
    if template:
        for key in _PER_OBJECT_ANNOTATIONS:
            template.pop(key, None)
    if out["kind"] == "Secret":
        out["data"] = sorted(out.get("data") or {})  # generated passwords differ: the keys must not
    if out["kind"] == "Service":
        for key in _SERVICE_ALLOCATED:
            out["spec"].pop(key, None)
        for port in out["spec"].get("ports") or []:
            port.pop("nodePort", None)
    if out["kind"] == "PersistentVolumeClaim":
        out["spec"].pop("volumeName", None)
    return json.loads(json.dumps(out).replace(namespace, "NAMESPACE"))


def _state(api: pykube.HTTPClient, namespace: str, name: str) -> dict[str, Any]:
    return {
        label: _normalised(label.split("/", 1)[0], obj, namespace)
        for label, obj in children(api, namespace, name).items()
        if not obj["metadata"].get("deletionTimestamp")  # a pruned PVC waits for its pod to go
    }


def _observed(api: pykube.HTTPClient, namespace: str, name: str) -> bool:
    mon = get_monitor(api, namespace, name)
    return bool(mon.get("status", {}).get("observedGeneration") == mon["metadata"]["generation"])


def _apply(cluster: Any, namespace: str, name: str, spec: dict[str, Any]) -> bool:
    """True if the API server took it (S1 -> S2 may break a transition rule, e.g. a shrinking PVC)."""
    result = apply_monitor(cluster, namespace, minimal(name, **spec) if spec else minimal(name))
    if result.returncode != 0:
        assert "can only grow" in result.stderr or "cannot change" in result.stderr, result.stderr
    return result.returncode == 0


@pytest.fixture(scope="module")
def operator(cluster: Any, crd: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(cluster, tmp_path_factory.mktemp("operator"), resync_seconds=RESYNC) as op:
        yield op


@pytest.fixture
def two_namespaces(cluster: Any) -> Iterator[tuple[str, str]]:
    names = (f"ltm-edit-{uuid.uuid4().hex[:6]}", f"ltm-fresh-{uuid.uuid4().hex[:6]}")
    for ns in names:
        assert cluster.kubectl("create", "namespace", ns).returncode == 0
        literals = ("--from-literal=admin-user=admin", "--from-literal=admin-password=not-generated")
        secret = cluster.kubectl("create", "secret", "generic", EXTERNAL_ADMIN, "-n", ns, *literals)
        assert secret.returncode == 0, secret.stderr
        # The Secret lets the test's monitors (m0, m1 ...) mount it: adminSecretRef needs its opt-in.
        allowed = f"{ADMIN_SECRET_OPT_IN}={','.join(f'm{i}' for i in range(1000))}"
        annotated = cluster.kubectl("annotate", "secret", EXTERNAL_ADMIN, "-n", ns, allowed)
        assert annotated.returncode == 0, annotated.stderr
    yield names
    for ns in names:
        cluster.kubectl("delete", "namespace", ns, "--wait=false")


SEEN = {"examples": 0, "refused_transitions": 0}


def test_any_edit_converges_to_what_a_new_monitor_of_the_edited_spec_gets(
    cluster: Any, operator: Operator, kube_api: pykube.HTTPClient, two_namespaces: tuple[str, str]
) -> None:
    edited_ns, fresh_ns = two_namespaces
    counter = iter(range(10_000))

    @settings(max_examples=14, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(first=valid_specs, second=valid_specs)
    def edit_converges(first: dict[str, Any], second: dict[str, Any]) -> None:
        name = f"m{next(counter)}"
        assert _apply(cluster, edited_ns, name, first), first
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not _observed(kube_api, edited_ns, name):
            assert time.monotonic() < deadline, f"{name} with {first} not reconciled\n{operator.log_tail()}"
            time.sleep(0.3)
        if not _apply(cluster, edited_ns, name, second):
            SEEN["refused_transitions"] += 1
            assume(False)
        assert _apply(cluster, fresh_ns, name, second), second
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            if _observed(kube_api, edited_ns, name) and _observed(kube_api, fresh_ns, name):
                edited, fresh = _state(kube_api, edited_ns, name), _state(kube_api, fresh_ns, name)
                if edited == fresh:
                    break
            if time.monotonic() > deadline:
                differ = {k for k in edited.keys() | fresh.keys() if edited.get(k) != fresh.get(k)}
                detail = {k: {"edited": edited.get(k), "fresh": fresh.get(k)} for k in sorted(differ)}
                raise AssertionError(f"{first} -> {second}: the edited monitor differs in {sorted(differ)}:\n{detail}")
            time.sleep(0.5)
        SEEN["examples"] += 1
        for ns in (edited_ns, fresh_ns):
            cluster.kubectl("delete", "ltm", name, "-n", ns, "--wait=false")

    edit_converges()
    assert SEEN["examples"] >= 10, SEEN
    print(f"edits: {SEEN}")
