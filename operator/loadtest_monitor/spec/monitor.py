"""The typed LoadtestMonitor spec: parsing, defaults and the checks only the operator can make.

The CRD is the one source of what it states: every default, enum, bound and pattern used here is
read from it (spec/schema.py), the dataclass defaults included; nothing of it is restated. The API
server enforces it at `kubectl apply`; `render` runs the same schema and CEL rules offline
(spec/crd_check.py); parse_spec checks the same facts again for the objects it reads, so a value the
schema refuses never reaches a renderer, whatever the CRD installed when the object was stored.
What the schema cannot express is checked here, the way Kubernetes checks it when the operator
applies the children (spec/kube_rules.py): quantities, CIDRs, label and annotation keys,
tolerations, resource names, Secret names and keys; and what only the operator can judge: an
InfluxDB image that is not 1.x (spec/image.py), a base HOCON config it can merge
(spec/base_config.py), a prefix that collides with a measurement (loadtest_monitor.graphite).
Problems are collected and raised as one SpecError (spec/problems.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtest_monitor import graphite
from loadtest_monitor.load_balancer import nlb_annotations
from loadtest_monitor.spec import kube_rules, schema
from loadtest_monitor.spec.archive import ArchiveSpec, parse_archive
from loadtest_monitor.spec.base_config import base_config_problem
from loadtest_monitor.spec.image import image_problem as image_problem
from loadtest_monitor.spec.image import influxdb_1x_problem
from loadtest_monitor.spec.problems import MAX_MESSAGE_CHARS as MAX_MESSAGE_CHARS
from loadtest_monitor.spec.problems import SpecError as SpecError
from loadtest_monitor.spec.problems import problem_lines as problem_lines
from loadtest_monitor.spec.reader import Problems, Reader, short
from loadtest_monitor.spec.resources import Resources, parse_resources


def _default(path: str) -> Any:
    """The CRD's default of the field at `path` (spec/schema.py raises at import if it has none)."""
    return schema.at(path).default


DEFAULT_INFLUXDB_IMAGE: str = _default("spec.influxdb.image")
DEFAULT_GRAFANA_IMAGE: str = _default("spec.grafana.image")

# Measurement names the InfluxDB templates produce besides the request measurement (the root
# prefix). The CRD's CEL rule on rootPathPrefix states the same list (tests/unit/test_crd.py).
RESERVED_MEASUREMENTS = (graphite.USERS,)
#: Roots of the whole-run summary's lines (graphite.py): a prefix of that name would mix with them.
SUMMARY_ROOTS = (graphite.SUMMARY_ROOT, graphite.SPAN_ROOT)

#: Longest monitor name: child Service names add at most "-graphite" (9) and stay within 63. The
#: CRD's root CEL rules state this bound and the name grammar (tests/unit/test_crd.py checks them).
MAX_MONITOR_NAME = 54
MONITOR_NAME_PATTERN = "[a-z]([-a-z0-9]*[a-z0-9])?"
_MONITOR_NAME_RE = re.compile(MONITOR_NAME_PATTERN)

_RETENTION_HOURS = {"h": 1, "d": 24, "w": 7 * 24}


def monitor_name_problem(name: Any) -> str | None:
    """The monitor's name names every child; the CRD holds the same rule."""
    if not isinstance(name, str) or not name:
        return "is required"
    if len(name) > MAX_MONITOR_NAME:
        return f"must be at most {MAX_MONITOR_NAME} characters: the Services get suffixes such as -graphite"
    if not _MONITOR_NAME_RE.fullmatch(name):
        return "must start with a letter and contain only lowercase letters, digits and '-' (it names Services)"
    return None


@dataclass(frozen=True)
class StorageSpec:
    enabled: bool = _default("spec.influxdb.storage.enabled")
    size: str = _default("spec.influxdb.storage.size")
    storage_class_name: str | None = None
    keep_on_delete: bool = _default("spec.influxdb.storage.keepOnDelete")
    empty_dir_size_limit: str = _default("spec.influxdb.storage.emptyDirSizeLimit")


@dataclass(frozen=True)
class InfluxDBSpec:
    image: str = DEFAULT_INFLUXDB_IMAGE
    database: str = _default("spec.influxdb.database")
    retention: str = _default("spec.influxdb.retention")
    storage: StorageSpec = field(default_factory=StorageSpec)
    max_series_per_database: int = _default("spec.influxdb.maxSeriesPerDatabase")
    max_values_per_tag: int = _default("spec.influxdb.maxValuesPerTag")
    # The operator's own: the CRD states no default for resources.
    resources: Resources = field(
        default_factory=lambda: {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"memory": "2Gi"},
        }
    )


@dataclass(frozen=True)
class AdminSecretRef:
    name: str
    user_key: str = _default("spec.grafana.adminSecretRef.userKey")
    password_key: str = _default("spec.grafana.adminSecretRef.passwordKey")


@dataclass(frozen=True)
class GrafanaServiceSpec:
    type: str = _default("spec.grafana.service.type")
    scheme: str = _default("spec.grafana.service.scheme")
    load_balancer_source_ranges: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GrafanaSpec:
    image: str = DEFAULT_GRAFANA_IMAGE
    service: GrafanaServiceSpec = field(default_factory=GrafanaServiceSpec)
    admin_secret_ref: AdminSecretRef | None = None
    anonymous_viewing: bool = _default("spec.grafana.anonymousViewing")
    # The operator's own: the CRD states no default for resources.
    resources: Resources = field(
        default_factory=lambda: {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        }
    )


@dataclass(frozen=True)
class GraphiteSpec:
    protocol: str = _default("spec.graphite.protocol")
    exposure: str = _default("spec.graphite.exposure")
    allowed_source_ranges: tuple[str, ...] = tuple(_default("spec.graphite.allowedSourceRanges"))
    allowed_namespaces: tuple[str, ...] = tuple(_default("spec.graphite.allowedNamespaces"))
    # matchLabels of the runner pods that may send Graphite lines (empty: every pod of the
    # allowed namespaces); it narrows the pods, never the CIDRs.
    runner_pod_selector: dict[str, str] = field(default_factory=dict)
    # Governs every NetworkPolicy of the monitor (InfluxDB's and Grafana's).
    network_policy: bool = _default("spec.graphite.networkPolicy")


@dataclass(frozen=True)
class GatlingSpec:
    light: bool = _default("spec.gatling.light")
    write_period: int = _default("spec.gatling.writePeriod")
    root_path_prefix: str = _default("spec.gatling.rootPathPrefix")
    max_group_depth: int = _default("spec.gatling.maxGroupDepth")
    base_config: str = ""


@dataclass(frozen=True)
class PlacementSpec:
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class MonitorSpec:
    influxdb: InfluxDBSpec = field(default_factory=InfluxDBSpec)
    grafana: GrafanaSpec = field(default_factory=GrafanaSpec)
    graphite: GraphiteSpec = field(default_factory=GraphiteSpec)
    gatling: GatlingSpec = field(default_factory=GatlingSpec)
    placement: PlacementSpec = field(default_factory=PlacementSpec)
    archive: ArchiveSpec | None = None  # spec/archive.py


def parse_spec(raw: Mapping[str, Any] | None) -> MonitorSpec:
    """Turns `.spec` of a LoadtestMonitor into a MonitorSpec, or raises SpecError."""
    problems = Problems()
    root = Reader(raw, "spec", problems)
    spec = MonitorSpec(
        influxdb=_parse_influxdb(root.child("influxdb")),
        grafana=_parse_grafana(root.child("grafana")),
        graphite=_parse_graphite(root.child("graphite")),
        gatling=_parse_gatling(root.child("gatling")),
        placement=_parse_placement(root.child("placement")),
        archive=parse_archive(root),
    )
    if problems.found:
        first_path, first_message = problems.found[0]
        raise SpecError(first_path, first_message, problems.found)
    return spec


def _image(r: Reader, default: str) -> str:
    image = r.string("image", default)
    problem = image_problem(image)
    if problem:
        r.problem("image", problem)
        return default
    return image


def _parse_influxdb(r: Reader) -> InfluxDBSpec:
    defaults = InfluxDBSpec()
    image = _image(r, defaults.image)
    problem = influxdb_1x_problem(image)
    if problem:
        r.problem("image", problem)
    storage = r.child("storage")
    base = StorageSpec()
    class_name = storage.string("storageClassName", "") or None
    if class_name is not None and kube_rules.dns1123_subdomain(class_name):
        storage.problem("storageClassName", f"{short(class_name)} {kube_rules.dns1123_subdomain(class_name)}")
    return InfluxDBSpec(
        image=image,
        database=r.matching(
            "database",
            defaults.database,
            "use letters, digits and underscores, starting with a letter or underscore (e.g. gatling)",
        ),
        retention=_retention(r, defaults.retention),
        storage=StorageSpec(
            enabled=storage.boolean("enabled", base.enabled),
            size=storage.matching("size", base.size, "use a whole number of Mi, Gi or Ti (or M, G, T), such as 10Gi"),
            storage_class_name=class_name,
            keep_on_delete=storage.boolean("keepOnDelete", base.keep_on_delete),
            empty_dir_size_limit=_empty_dir_size(storage, base.empty_dir_size_limit),
        ),
        max_series_per_database=r.integer("maxSeriesPerDatabase", defaults.max_series_per_database),
        max_values_per_tag=r.integer("maxValuesPerTag", defaults.max_values_per_tag),
        resources=parse_resources(r, defaults.resources),
    )


def _empty_dir_size(storage: Reader, default: str) -> str:
    hint = "use a whole number of Mi or Gi from 100Mi to 1024Gi, such as 2Gi"
    return storage.matching("emptyDirSizeLimit", default, hint)


def retention_hours(retention: str) -> int | None:
    """Hours of a valid retention such as 7d; None for INF (keep forever)."""
    if retention == "INF":
        return None
    return int(retention[:-1]) * _RETENTION_HOURS[retention[-1]]


def _retention(r: Reader, default: str) -> str:
    hint = "use a whole number of hours, days or weeks from 1h to 5200w (e.g. 24h, 7d, 2w), or INF to keep data forever"
    return r.matching("retention", default, hint)


def _parse_grafana(r: Reader) -> GrafanaSpec:
    defaults = GrafanaSpec()
    svc = r.child("service")
    svc_defaults = GrafanaServiceSpec()
    ranges = svc.string_list("loadBalancerSourceRanges")
    _check_cidrs(ranges, svc, "loadBalancerSourceRanges")
    service_type = svc.choice("type", svc_defaults.type)
    scheme = svc.choice("scheme", svc_defaults.scheme)
    if ranges and service_type != "LoadBalancer":
        svc.problem("loadBalancerSourceRanges", "only applies to type LoadBalancer")
    if scheme == "internet-facing" and service_type == "LoadBalancer" and not ranges:
        svc.problem(
            "loadBalancerSourceRanges",
            "is required with scheme internet-facing: list the CIDRs that may reach Grafana (e.g. 203.0.113.0/24)",
        )
    annotations = svc.string_map("annotations")
    # The limit is for the Service's annotations as applied: the user's plus the load balancer
    # defaults they do not override (without these, a spec just under it passed here and every
    # apply of the Service was refused: ApplyFailed for ever instead of InvalidSpec).
    applied = {**(nlb_annotations(scheme) if service_type == "LoadBalancer" else {}), **annotations}
    if sum(len(k.encode()) + len(v.encode()) for k, v in applied.items()) > kube_rules.ANNOTATIONS_MAX_BYTES:
        svc.problem(
            "annotations",
            "are larger than the 256 KiB Kubernetes allows for a Service's annotations "
            "(with the load balancer annotations the operator adds)",
        )
    for key in annotations:
        problem = kube_rules.qualified_name(key)
        if problem:
            svc.problems.add(f"{svc.at('annotations')}[{key!r}]", f"is not a valid annotation key: it {problem}")
    secret_ref: AdminSecretRef | None = None
    if r.has("adminSecretRef"):
        ref = r.child("adminSecretRef")
        name = ref.string("name", "")
        if not name:
            ref.problem("name", "give the name of an existing Secret in this namespace")
        elif kube_rules.dns1123_subdomain(name):
            ref.problem("name", f"{short(name)} is not a Secret name: it {kube_rules.dns1123_subdomain(name)}")
        secret_ref = AdminSecretRef(
            name=name,
            user_key=_secret_key(ref, "userKey", AdminSecretRef.user_key),
            password_key=_secret_key(ref, "passwordKey", AdminSecretRef.password_key),
        )
    return GrafanaSpec(
        image=_image(r, defaults.image),
        service=GrafanaServiceSpec(
            type=service_type,
            scheme=scheme,
            load_balancer_source_ranges=ranges,
            annotations=annotations,
        ),
        admin_secret_ref=secret_ref,
        anonymous_viewing=r.boolean("anonymousViewing", defaults.anonymous_viewing),
        resources=parse_resources(r, defaults.resources),
    )


def _secret_key(ref: Reader, key: str, default: str) -> str:
    value = ref.string(key, default)
    problem = kube_rules.secret_key(value)
    if problem:
        ref.problem(key, f"{short(value)} is not a Secret data key: it {problem}")
        return default
    return value


def _check_cidrs(ranges: Sequence[str], r: Reader, key: str) -> None:
    for i, cidr in enumerate(ranges):
        problem = kube_rules.cidr(cidr)
        if problem:
            r.problems.add(f"{r.at(key)}[{i}]", problem)


def _parse_graphite(r: Reader) -> GraphiteSpec:
    defaults = GraphiteSpec()
    ranges = r.string_list("allowedSourceRanges")
    _check_cidrs(ranges, r, "allowedSourceRanges")
    namespaces = r.string_list("allowedNamespaces")
    for i, ns in enumerate(namespaces):
        problem = kube_rules.dns1123_label(ns)
        if problem:
            r.problems.add(f"{r.at('allowedNamespaces')}[{i}]", f"{short(ns)} is not a namespace name: it {problem}")
    exposure = r.choice("exposure", defaults.exposure)
    selector = r.child("runnerPodSelector")
    runner_labels = selector.string_map("matchLabels")
    _check_labels(runner_labels, selector, "matchLabels")
    if exposure == "InternalLoadBalancer" and not ranges:
        r.problem(
            "allowedSourceRanges",
            "is required with exposure InternalLoadBalancer (the runners' subnets): the Graphite port has no "
            "authentication",
        )
    return GraphiteSpec(
        protocol=r.choice("protocol", defaults.protocol),
        exposure=exposure,
        allowed_source_ranges=ranges,
        allowed_namespaces=namespaces,
        runner_pod_selector=runner_labels,
        network_policy=r.boolean("networkPolicy", defaults.network_policy),
    )


def _parse_gatling(r: Reader) -> GatlingSpec:
    defaults = GatlingSpec()
    prefix = r.matching(
        "rootPathPrefix",
        defaults.root_path_prefix,
        "use one path segment of letters, digits, '-' and '_' (no dots: the runner name follows it)",
    )
    if prefix in RESERVED_MEASUREMENTS:
        r.problem(
            "rootPathPrefix", f"{prefix!r} is also the measurement of Gatling's user counts; choose another prefix"
        )
        prefix = defaults.root_path_prefix
    elif prefix in SUMMARY_ROOTS:
        r.problem(
            "rootPathPrefix",
            f"{prefix!r} is a root of the whole-run summary the forwarder sends; choose another prefix",
        )
        prefix = defaults.root_path_prefix
    base_config = r.string("baseConfig", defaults.base_config)
    problem = base_config_problem(base_config)
    if problem is not None:
        r.problem("baseConfig", problem)
        base_config = defaults.base_config
    return GatlingSpec(
        light=r.boolean("light", defaults.light),
        write_period=r.integer("writePeriod", defaults.write_period),
        root_path_prefix=prefix,
        max_group_depth=r.integer("maxGroupDepth", defaults.max_group_depth),
        base_config=base_config,
    )


def _check_labels(labels: Mapping[str, str], r: Reader, key: str) -> None:
    """Label keys and values the way the API server checks them in a selector."""
    for name, value in labels.items():
        problem = kube_rules.qualified_name(name)
        if problem:
            r.problems.add(f"{r.at(key)}[{name!r}]", f"is not a valid label key: it {problem}")
        problem = kube_rules.label_value(value)
        if problem:
            r.problems.add(f"{r.at(key)}[{name!r}]", f"{short(value)} is not a valid label value: it {problem}")


def _parse_placement(r: Reader) -> PlacementSpec:
    node_selector = r.string_map("nodeSelector")
    _check_labels(node_selector, r, "nodeSelector")
    tolerations = r.raw.get("tolerations") or []
    if not isinstance(tolerations, list) or not all(isinstance(t, Mapping) for t in tolerations):
        r.problem("tolerations", "must be a list of Kubernetes tolerations")
        tolerations = []
    for i, toleration in enumerate(tolerations):
        for sub, problem in kube_rules.toleration(toleration):
            r.problems.add(f"{r.at('tolerations')}[{i}].{sub}", problem)
    return PlacementSpec(
        node_selector=node_selector,
        tolerations=tuple(dict(t) for t in tolerations),
    )
