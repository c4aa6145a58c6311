"""Property: for any spec, `render` either succeeds and the real API server accepts the monitor and
every object rendered from it (server-side dry-run), or it refuses with lines that each name a field.

Specs are generated from valid and broken values of every field class issue 7 lists (names,
retentions, sizes, quantities and resource names, CIDRs, label/annotation keys, tolerations, Secret
names and keys, baseConfig shapes and includes, trailing newlines). The example count keeps the
test under a minute on the local control plane.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtest_monitor.cli import main

NEWLINE = "\n"
RETENTIONS = ["7d", "1h", "5200w", "INF", "0d", "999999w", "30502w", "7d" + NEWLINE, "24 h"]
SIZES = ["10Gi", "1Mi", "0", "0Gi", "1.5Gi", "10Gi" + NEWLINE, "999999Ti"]
QUANTITIES: list[Any] = ["100m", "1", "1Gi", "1e3", "0.5", 2, 0.5, "-1", "1 Gi", "1Gi" + NEWLINE, "1.", ".5"]
RESOURCE_NAMES = ["cpu", "memory", "ephemeral-storage", "example.com/gpu", "gpu", "kubernetes.io/x", "hugepages-2Mi"]
CIDRS = ["10.0.0.0/8", "203.0.113.7/32", "fd00::/8", "10.0.0.0/33", "999.1.1.1/99", "10.1.2.3/8", "x", "10.0.0.0/8\n"]
KEYS = ["team", "example.com/team", "a/b/c", "my key", "-bad", "x" * 64, "example.com/" + "y" * 63, "team" + NEWLINE]
VALUES = ["a", "", "a b", "x" * 64, "ok-1.2_3", "v" + NEWLINE]
SECRET_NAMES = ["admin", "grafana.admin.v2", "Admin", "a..b", "x" * 254, "admin" + NEWLINE]
SECRET_KEYS = ["admin-password", ".", "..", "..x", "a/b", "k.e_y-1"]
BASE_CONFIGS = [
    "",
    "gatling { core { encoding = utf-8 } }",
    "gatling.data.writers = [console]",
    "gatling.data.writers = graphite",
    'include url("http://127.0.0.1:9/x")',
    "gatling.custom = ${?HOSTNAME}",
    "gatling { data {",
]
NAMES = ["checkout", "checkout", "checkout", "a" * 54, "a" * 55, "Checkout", "1abc", "checkout" + NEWLINE]

tolerations = st.fixed_dictionaries(
    {},
    optional={
        "key": st.sampled_from(KEYS),
        "operator": st.sampled_from(["Exists", "Equal"]),
        "value": st.sampled_from(VALUES),
        "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
        "tolerationSeconds": st.integers(0, 3600),
    },
)
resources = st.fixed_dictionaries(
    {},
    optional={
        "requests": st.dictionaries(st.sampled_from(RESOURCE_NAMES), st.sampled_from(QUANTITIES), max_size=3),
        "limits": st.dictionaries(st.sampled_from(RESOURCE_NAMES), st.sampled_from(QUANTITIES), max_size=3),
    },
)
specs = st.fixed_dictionaries(
    {},
    optional={
        "influxdb": st.fixed_dictionaries(
            {},
            optional={
                "retention": st.sampled_from(RETENTIONS),
                "database": st.sampled_from(["gatling", "perf_db", "9lives", "db" + NEWLINE]),
                "storage": st.fixed_dictionaries(
                    {}, optional={"enabled": st.booleans(), "size": st.sampled_from(SIZES)}
                ),
                "resources": resources,
            },
        ),
        "grafana": st.fixed_dictionaries(
            {},
            optional={
                "service": st.fixed_dictionaries(
                    {},
                    optional={
                        "type": st.sampled_from(["LoadBalancer", "ClusterIP", "NodePort"]),
                        "scheme": st.sampled_from(["internal", "internet-facing"]),
                        "loadBalancerSourceRanges": st.lists(st.sampled_from(CIDRS), max_size=2),
                        "annotations": st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2),
                    },
                ),
                "adminSecretRef": st.fixed_dictionaries(
                    {"name": st.sampled_from(SECRET_NAMES)},
                    optional={"userKey": st.sampled_from(SECRET_KEYS), "passwordKey": st.sampled_from(SECRET_KEYS)},
                ),
                "resources": resources,
            },
        ),
        "graphite": st.fixed_dictionaries(
            {},
            optional={
                "exposure": st.sampled_from(["ClusterIP", "InternalLoadBalancer"]),
                "allowedSourceRanges": st.lists(st.sampled_from(CIDRS), max_size=2),
                "allowedNamespaces": st.lists(st.sampled_from(["perf", "Perf", "n" * 64, "ok-1"]), max_size=2),
            },
        ),
        "gatling": st.fixed_dictionaries(
            {},
            optional={
                "baseConfig": st.sampled_from(BASE_CONFIGS),
                "rootPathPrefix": st.sampled_from(["gatling", "users", "a.b", "perf" + NEWLINE]),
                "writePeriod": st.integers(0, 61),
            },
        ),
        "placement": st.fixed_dictionaries(
            {},
            optional={
                "nodeSelector": st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2),
                "tolerations": st.lists(tolerations, max_size=2),
            },
        ),
    },
)


#: How many examples went each way: a property that never reaches the API server proves nothing.
SEEN = {"accepted": 0, "refused": 0}


def _render(path: Path, namespace: str) -> tuple[str | None, list[str]]:
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            assert main(["render", "-f", str(path), "-n", namespace]) == 0
    except SystemExit as refused:
        return None, str(refused.code).splitlines()
    return out.getvalue(), []


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(name=st.sampled_from(NAMES), spec=specs)
def _property(cluster: Any, namespace: str, tmp: Path, name: str, spec: dict[str, Any]) -> None:
    monitor = {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor", "metadata": {"name": name}}
    monitor["spec"] = spec
    path = tmp / "monitor.yaml"
    path.write_text(yaml.safe_dump(monitor))
    rendered, refusal = _render(path, namespace)
    if rendered is None:
        assert refusal, "a refusal says why"
        for line in refusal:
            assert line.startswith(f"error: {path}: "), line
            field = line.split(": ")[3] if line.count(": ") >= 3 else ""
            assert field.startswith(("spec", "metadata")) or field.startswith("and "), line
        SEEN["refused"] += 1
        return
    SEEN["accepted"] += 1
    docs = [*yaml.safe_load_all(rendered), {**monitor, "metadata": {"name": name, "namespace": namespace}}]
    manifest = yaml.safe_dump_all([d for d in docs if d])
    result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest)
    assert result.returncode == 0, f"render accepted but the API server refused:\n{result.stderr}\n{spec}"


# cel-python raises the recursion limit once (for its parser); hypothesis notes that it cannot reset it.
@pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")
def test_render_accepts_only_what_the_api_server_accepts(cluster: Any, namespace: str, tmp_path: Path) -> None:
    _property(cluster, namespace, tmp_path)
    assert SEEN["accepted"] >= 5 and SEEN["refused"] >= 5, SEEN
    print(f"examples: {SEEN}")


def test_the_offline_crd_check_answers_as_the_api_server_does(cluster: Any, namespace: str) -> None:
    """On the table of hostile and careful inputs, crd_check (what `render` runs offline) and the API
    server's dry-run of the monitor itself accept and refuse exactly the same ones."""
    from loadtest_monitor import crd_check
    from tests.unit.test_spec_hostile import HOSTILE, VALID, monitor  # the unit tests' table, one source

    docs = [(case, doc) for case, doc, _ in HOSTILE] + [(case, monitor(spec)) for case, spec in VALID]
    differ = []
    for case, doc in docs:
        if isinstance(doc.get("metadata"), dict):
            doc = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
        offline_ok = crd_check.check(doc) == []
        result = cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(doc))
        if offline_ok != (result.returncode == 0):
            differ.append((case, offline_ok, result.stderr.strip()[:200]))
    assert differ == []
