"""`loadtest-monitor doctor [-n NS] [MONITOR]`: is this cluster ready for load-test monitors, and is
this monitor working? One line per check (✓, ! a warning, ✗ with its fix); exit code 1 when a
check fails, 0 otherwise (warnings block nothing). It only reads: GETs, LISTs and
SelfSubjectAccessReviews; it opens no connection into the cluster and needs no AWS API (what AWS
alone knows, it reads from the objects the add-ons leave in the cluster).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_monitor.cli.connection import add_connection_args, api_client
from loadtest_monitor.doctor import cluster as cc
from loadtest_monitor.doctor import eks
from loadtest_monitor.doctor import monitor as mc
from loadtest_monitor.doctor.facts import (
    TOPIC_CRD,
    TOPIC_LOAD_BALANCERS,
    TOPIC_MONITORS,
    TOPIC_NETWORK_POLICY,
    TOPIC_OPERATOR,
    TOPIC_PODS,
    TOPIC_STORAGE,
    ClusterFacts,
    MonitorFacts,
    read_cluster,
    read_monitor,
)
from loadtest_monitor.doctor.result import Check, as_json, blocking, fail, line, warn
from loadtest_monitor.identity import CRD_NAME
from loadtest_monitor.kube.rest import Rest, RestError


def _spec(monitor: Mapping[str, Any], *keys: str) -> Any:
    node: Any = monitor.get("spec") or {}
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def storage_wanted(monitors: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
    """Monitor ref -> storageClassName (None: the default) of the monitors with storage on."""
    out: dict[str, str | None] = {}
    for m in monitors:
        if _spec(m, "influxdb", "storage", "enabled") is True:
            ns, name = mc.monitor_ref(m)
            out[f"{ns}/{name}"] = _spec(m, "influxdb", "storage", "storageClassName")
    return out


def load_balancer_needed(monitors: Sequence[Mapping[str, Any]]) -> bool:
    """A monitor wants an NLB (Grafana's Service defaults to LoadBalancer); no monitor yet: the
    default monitor would."""
    if not monitors:
        return True
    return any(
        (_spec(m, "grafana", "service", "type") or "LoadBalancer") == "LoadBalancer"
        or _spec(m, "graphite", "exposure") == "InternalLoadBalancer"
        for m in monitors
    )


def _unless_refused(facts: ClusterFacts, topic: str, title: str, checks: list[Check]) -> list[Check]:
    """The checks, or one warning when a refused read left their topic unknown: an object doctor
    could not see is never reported missing."""
    if topic in facts.refused:
        return [
            warn(title, "cannot tell: a read was refused (see the cannot-read line)", "doctor needs get/list on it")
        ]
    return checks


def cluster_checks(facts: ClusterFacts) -> list[Check]:
    auto_mode = eks.AUTO_MODE_CRD in facts.crds_present
    restarts = cc.operator_restarts(facts.operator_pods)
    load_balancers = eks.load_balancers(
        cc.load_balancer_mode(facts.operator),
        facts.lb_controller,
        facts.crds_present,
        load_balancer_needed(facts.monitors),
    )
    storage = eks.storage_classes(facts.storage_classes, facts.csi_drivers, storage_wanted(facts.monitors))
    pods = [*cc.images_pullable(facts.pods), *cc.containers_running(facts.pods)]
    return [
        cc.kubernetes_version(facts.version),
        *_unless_refused(
            facts, TOPIC_CRD, f"CRD {CRD_NAME}", [cc.crd_installed(facts.crd, facts.packaged_crd, facts.fenced)]
        ),
        *_unless_refused(
            facts, TOPIC_OPERATOR, "operator", [*cc.operator_running(facts.operators), *filter(None, [restarts])]
        ),
        cc.install_permissions(facts.denied),
        *_unless_refused(facts, TOPIC_LOAD_BALANCERS, "load balancers", [load_balancers]),
        *_unless_refused(facts, TOPIC_STORAGE, "StorageClass", storage),
        *_unless_refused(
            facts,
            TOPIC_NETWORK_POLICY,
            "NetworkPolicy enforcement",
            [eks.network_policies(facts.daemonsets, facts.vpc_cni_config, auto_mode)],
        ),
        *_unless_refused(facts, TOPIC_PODS, "images pullable", pods),
    ]


def monitor_checks(found: MonitorFacts) -> list[Check]:
    monitor = found.monitor
    ns, name = mc.monitor_ref(monitor)
    out = mc.conditions(monitor)
    if found.spec_problem:
        return out  # the Ready condition says InvalidSpec: no children can be expected from this spec
    out.append(mc.children(monitor, found.desired, found.live))
    volume = mc.volume(found.live.get(("PersistentVolumeClaim", f"{name}-influxdb-data")))
    if volume is not None:
        out.append(volume)
    address = str(((monitor.get("status") or {}).get("graphite") or {}).get("address", ""))
    out.append(mc.graphite_endpoints(name, ns, found.graphite_slices, address))
    out.append(mc.grafana_address(monitor, str(_spec(monitor, "grafana", "service", "type") or "LoadBalancer")))
    out.append(mc.metrics_arriving(monitor))
    return out


def run_checks(rest: Rest, namespace: str | None, name: str | None) -> list[Check]:
    facts = read_cluster(rest, namespace, name)
    checks = cluster_checks(facts)
    if name is not None:
        ns = namespace or "default"
        if TOPIC_MONITORS in facts.refused:
            checks += _unless_refused(facts, TOPIC_MONITORS, f"monitor {ns}/{name}", [])
        elif not facts.monitors:
            checks.append(mc.missing_monitor(ns, name))
        else:
            watches = cc.operator_watches(facts.operators, ns)
            checks += [watches] if watches is not None else []
            checks += monitor_checks(read_monitor(rest, facts, facts.monitors[0]))
    return checks + facts.unreadable


def _ascii_only(args: argparse.Namespace) -> bool:
    """--ascii, or a stdout that cannot print ✓ and ✗ (LANG=C, some CI logs)."""
    if args.ascii:
        return True
    try:
        "✓✗—".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return True
    return False


def cmd_doctor(args: argparse.Namespace) -> int:
    # With a monitor and no -n, the monitor is looked for in "default", as `down` does.
    namespace = args.namespace or ("default" if args.monitor else None)
    from kubernetes.config.config_exception import ConfigException

    try:
        checks = run_checks(Rest(api_client(args)), namespace, args.monitor)
    except (RestError, ConfigException) as err:  # no cluster to ask: one line, no traceback
        checks = [
            fail("API server", str(err), "check KUBECONFIG and its current context, or --aws-profile/--eks-cluster")
        ]
    if args.output == "json":
        sys.stdout.write(as_json(checks) + "\n")
    else:
        ascii_only = _ascii_only(args)
        for check in checks:
            sys.stdout.write(line(check, ascii_only) + "\n")
    return 1 if blocking(checks) else 0


def register(sub: Any) -> None:
    """Adds `doctor` to the CLI's subcommands."""
    doctor = sub.add_parser(
        "doctor",
        help="check the cluster (and a monitor) for what loadtest-monitor needs; exit 1 when something blocks",
    )
    doctor.add_argument("monitor", nargs="?", help="also check this LoadtestMonitor")
    doctor.add_argument(
        "-n", "--namespace", help="the monitor's namespace (default: default); without a monitor, the monitors checked"
    )
    doctor.add_argument("-o", "--output", choices=("text", "json"), default="text", help="text lines or JSON")
    doctor.add_argument("--ascii", action="store_true", help="ASCII marks (+ ! x) instead of ✓ ! ✗")
    add_connection_args(doctor)
    doctor.set_defaults(func=cmd_doctor)
