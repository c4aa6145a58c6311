"""Hypothesis strategies for LoadtestMonitor specs: valid and broken values of every field class
(names, retentions, sizes, quantities and resource names, CIDRs, label/annotation keys,
tolerations, Secret names and keys, baseConfig shapes and includes, trailing newlines).

Shared by the render-versus-API-server property and the operator-level property.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

NEWLINE = "\n"
RETENTIONS = ["7d", "1h", "5200w", "INF", "0d", "999999w", "30502w", "7d" + NEWLINE, "24 h"]
SIZES = ["10Gi", "1Mi", "0", "0Gi", "1.5Gi", "10Gi" + NEWLINE, "999999Ti"]
# Mostly valid: the property needs accepted examples too, and every new field multiplies the odds
# that one of a spec's fields is broken.
EMPTY_DIR_SIZES = ["2Gi", "100Mi", "1024Gi", "1024Mi", "2Gi", "99Mi", "1025Gi", "2G", "2Gi" + NEWLINE]
QUANTITIES: list[Any] = ["100m", "1", "1Gi", "1e3", "0.5", 2, 0.5, "-1", "1 Gi", "1Gi" + NEWLINE, "1.", ".5"]
RESOURCE_NAMES = ["cpu", "memory", "ephemeral-storage", "example.com/gpu", "gpu", "kubernetes.io/x", "hugepages-2Mi"]
CIDRS = ["10.0.0.0/8", "203.0.113.7/32", "fd00::/8", "10.0.0.0/33", "999.1.1.1/99", "10.1.2.3/8", "x", "10.0.0.0/8\n"]
KEYS = ["team", "example.com/team", "a/b/c", "my key", "-bad", "x" * 64, "example.com/" + "y" * 63, "team" + NEWLINE]
VALUES = ["a", "", "a b", "x" * 64, "ok-1.2_3", "v" + NEWLINE]
RUNNER_SELECTORS: list[Any] = [
    {"matchLabels": {"team": "a"}},
    {"matchLabels": {"example.com/team": "ok-1.2_3", "role": ""}},
    {"matchLabels": {"batch.kubernetes.io/job-name": "run-1"}},
    {"matchLabels": {}},
    {"matchLabels": {"my key": "a"}},
    {"matchLabels": {"team": "a b"}},
    {},
]
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
                    {},
                    optional={
                        "enabled": st.booleans(),
                        "size": st.sampled_from(SIZES),
                        "emptyDirSizeLimit": st.sampled_from(EMPTY_DIR_SIZES),
                    },
                ),
                "maxSeriesPerDatabase": st.sampled_from([1_000, 200_000, 10_000_000, 999, 10_000_001]),
                "maxValuesPerTag": st.sampled_from([100, 10_000, 1_000_000, 99]),
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
                "runnerPodSelector": st.sampled_from(RUNNER_SELECTORS),
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
