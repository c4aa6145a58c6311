"""The typed LoadtestMonitor spec: parsing, defaults and the checks only the operator can make.

The CRD schema rejects most bad input at `kubectl apply`; `render` runs the same schema and CEL
rules offline (spec/crd_check.py). What the CRD cannot judge is checked here, the way Kubernetes checks
it when the operator applies the children (spec/kube_rules.py): quantities, CIDRs, label and annotation
keys, tolerations, resource names, Secret names and keys. What only the operator can judge (an
InfluxDB image that is not 1.x, a base HOCON config it can merge, a prefix that collides with a
measurement) is checked here too. Problems are collected (up to MAX_PROBLEMS) and raised as one
`SpecError` whose `field` and `message` are the first problem's, and whose text lists them all,
one short sentence each with the field path. Every default lives here as well as in the CRD (a unit
test keeps them equal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from loadtest_monitor.spec import kube_rules
from loadtest_monitor.spec.archive import ArchiveSpec, parse_archive
from loadtest_monitor.spec.base_config import base_config_problem
from loadtest_monitor.spec.reader import Problems, Reader, short

DEFAULT_INFLUXDB_IMAGE = "influxdb:1.12.4"
DEFAULT_GRAFANA_IMAGE = "grafana/grafana:13.2.1"

SERVICE_TYPES = ("LoadBalancer", "ClusterIP", "NodePort")
LB_SCHEMES = ("internal", "internet-facing")
GRAPHITE_PROTOCOLS = ("tcp", "udp")
GRAPHITE_EXPOSURES = ("ClusterIP", "InternalLoadBalancer")

# Measurement names the templates produce besides the request measurement (the root prefix).
RESERVED_MEASUREMENTS = ("users",)

#: Longest monitor name: child Service names add at most "-graphite" (9) and stay within 63.
MAX_MONITOR_NAME = 54
#: Shown in status, Events and the CLI: enough to fix several mistakes at once, never a wall of text.
MAX_PROBLEMS = 5
MAX_MESSAGE_CHARS = 1024

# Retention: whole hours, days or weeks from 1h up to 5200 weeks (100 years). InfluxQL durations are
# int64 nanoseconds and overflow near 15,250 weeks (30502w silently wraps to 10 days); 5200w leaves
# room for the shard duration arithmetic. The CRD holds the same bounds as RETENTION_PATTERN.
RETENTION_MAX_HOURS = 5200 * 7 * 24
_RETENTION_HOURS = {"h": 1, "d": 24, "w": 7 * 24}
RETENTION_PATTERN = (
    r"INF|([1-9][0-9]{0,4}|[1-7][0-9]{5}|8[0-6][0-9]{4}|87[0-2][0-9]{3}|873[0-5][0-9]{2}|873600)h"
    r"|([1-9][0-9]{0,3}|[12][0-9]{4}|3[0-5][0-9]{3}|36[0-3][0-9]{2}|36400)d"
    r"|([1-9][0-9]{0,2}|[1-4][0-9]{3}|5[01][0-9]{2}|5200)w"
)
# Storage sizes: a whole number of Mi/Gi/Ti (or M/G/T). The CRD's "can only grow" rule compares two
# sizes with plain CEL string and integer functions, which every Kubernetes from 1.27 on has
# (the quantity() CEL library does not exist before 1.29); this grammar keeps that comparison exact.
STORAGE_SIZE_PATTERN = r"[1-9][0-9]{0,5}(Mi|Gi|Ti|M|G|T)"
# Image references: the grammar of the distribution library the kubelet parses them with (anything
# else ends in InvalidImageName on every pod): [host[:port]/]path[:tag][@sha256:digest]. Host
# components may hold capitals, path components are lowercase with '.', '_', '__' or dashes between,
# a tag is at most 128 word characters, '.' and '-'. Only sha256 digests. No (?:) or \w: the same
# text must mean the same thing to Python, RE2 (the API server's CEL) and ECMA.
_HOST_PART = "[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH_PART = "[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*"
IMAGE_NAME_PATTERN = f"({_HOST_PART}([.]{_HOST_PART})*(:[0-9]+)?/)?{_PATH_PART}(/{_PATH_PART})*"
IMAGE_TAG_PATTERN = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
IMAGE_DIGEST_PATTERN = "sha256:[a-f0-9]{64}"
IMAGE_PATTERN = f"({IMAGE_NAME_PATTERN})(:({IMAGE_TAG_PATTERN}))?(@{IMAGE_DIGEST_PATTERN})?"
# 64 hex digits alone are an image ID, not a name: refused by the same parser.
IMAGE_ID_PATTERN = "[a-f0-9]{64}"
#: The kubelet also refuses a name (the part before the tag) longer than this, which a pattern cannot say.
IMAGE_NAME_MAX = 255
# The emptyDir that holds InfluxDB's data when storage is off: whole Mi or Gi from 100Mi to 1024Gi
# (1048576Mi), bounds in the grammar itself so the CRD states them with one regular expression.
# Without a limit one runaway test fills the node's disk; past the limit the kubelet evicts the pod
# (the data was in an emptyDir anyway) and the Deployment starts a fresh one.
EMPTY_DIR_SIZE_PATTERN = (
    r"([1-9][0-9]{2,5}|10[0-3][0-9]{4}|104[0-7][0-9]{3}|1048[0-4][0-9]{2}|10485[0-6][0-9]|104857[0-6])Mi"
    r"|([1-9][0-9]{0,2}|10[01][0-9]|102[0-4])Gi"
)
# InfluxDB's own defaults (1,000,000 series, 100,000 values per tag) let one bad test (a request
# name with an id in it) grow the in-memory index past the default 2Gi memory limit: the pod is
# OOM-killed and restarts into the same index, a crash loop. InfluxData sizes 2-4 GB of memory for
# fewer than 250,000 series; 200,000 stays below that and holds a week of runs at the default
# retention (series add up over runs, as every runner pod has its own name: 20 runners x 200
# requests x 3 statuses is 12,000 series a run; a typical run has a few hundred). 10,000 values of
# one tag is far more request or runner names than a retention's worth of runs has. Past a limit
# InfluxDB refuses the new series of a batch (logging "Failed to write point batch ... exceeded");
# the existing ones keep arriving (tests/e2e/test_influxdb_limits.py).
SERIES_LIMIT_DEFAULT, SERIES_LIMIT_MIN, SERIES_LIMIT_MAX = 200_000, 1_000, 10_000_000
TAG_VALUES_LIMIT_DEFAULT, TAG_VALUES_LIMIT_MIN, TAG_VALUES_LIMIT_MAX = 10_000, 100, 1_000_000

_DATABASE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_RETENTION_RE = re.compile(r"(INF)|([1-9][0-9]{0,8})([hdw])")  # digits bounded: int() of any length
_PREFIX_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_STORAGE_SIZE_RE = re.compile(STORAGE_SIZE_PATTERN)
_EMPTY_DIR_SIZE_RE = re.compile(EMPTY_DIR_SIZE_PATTERN)
_IMAGE_RE = re.compile(IMAGE_PATTERN)
_IMAGE_ID_RE = re.compile(IMAGE_ID_PATTERN)
# The tag's group: IMAGE_PATTERN's groups are counted, so the number follows from its parts.
_TAG_GROUP = 1 + re.compile(IMAGE_NAME_PATTERN).groups + 2
_MONITOR_NAME_RE = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")

Resources = dict[str, dict[str, str]]


class SpecError(ValueError):
    """Spec values the operator cannot use. `field` and `message` are the first problem's (the path a
    user sees in the YAML, and how to fix it); `problems` holds every one found; the text shows at
    most MAX_PROBLEMS of them."""

    def __init__(self, field_path: str, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems) or ((field_path, message),)
        self.field = field_path
        self.message = message
        super().__init__(format_problems(self.problems))

    def lines(self) -> list[str]:
        """One line per problem, capped, for the CLI."""
        return problem_lines(self.problems)


def problem_lines(problems: Sequence[tuple[str, str]]) -> list[str]:
    """`field: fix` lines, at most MAX_PROBLEMS, then `and N more`; each on one line."""
    shown = [f"{path}: {' '.join(text.split())}" for path, text in problems[:MAX_PROBLEMS]]
    more = len(problems) - len(shown)
    return shown + ([f"and {more} more"] if more else [])


def format_problems(problems: Sequence[tuple[str, str]]) -> str:
    """The problems on one line (status, Events): `field: fix; field: fix; and N more`, at most
    MAX_MESSAGE_CHARS."""
    text = "; ".join(problem_lines(problems))
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


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
    enabled: bool = False
    size: str = "10Gi"
    storage_class_name: str | None = None
    keep_on_delete: bool = False
    empty_dir_size_limit: str = "2Gi"


@dataclass(frozen=True)
class InfluxDBSpec:
    image: str = DEFAULT_INFLUXDB_IMAGE
    database: str = "gatling"
    retention: str = "7d"
    storage: StorageSpec = field(default_factory=StorageSpec)
    max_series_per_database: int = SERIES_LIMIT_DEFAULT
    max_values_per_tag: int = TAG_VALUES_LIMIT_DEFAULT
    resources: Resources = field(
        default_factory=lambda: {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"memory": "2Gi"},
        }
    )


@dataclass(frozen=True)
class AdminSecretRef:
    name: str
    user_key: str = "admin-user"
    password_key: str = "admin-password"


@dataclass(frozen=True)
class GrafanaServiceSpec:
    type: str = "LoadBalancer"
    scheme: str = "internal"
    load_balancer_source_ranges: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GrafanaSpec:
    image: str = DEFAULT_GRAFANA_IMAGE
    service: GrafanaServiceSpec = field(default_factory=GrafanaServiceSpec)
    admin_secret_ref: AdminSecretRef | None = None
    anonymous_viewing: bool = False
    resources: Resources = field(
        default_factory=lambda: {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        }
    )


@dataclass(frozen=True)
class GraphiteSpec:
    protocol: str = "tcp"
    exposure: str = "ClusterIP"
    allowed_source_ranges: tuple[str, ...] = ()
    allowed_namespaces: tuple[str, ...] = ()
    # matchLabels of the runner pods that may send Graphite lines (empty: every pod of the
    # allowed namespaces); it narrows the pods, never the CIDRs.
    runner_pod_selector: dict[str, str] = field(default_factory=dict)
    # Governs every NetworkPolicy of the monitor (InfluxDB's and Grafana's).
    network_policy: bool = True


@dataclass(frozen=True)
class GatlingSpec:
    light: bool = False
    write_period: int = 1
    root_path_prefix: str = "gatling"
    max_group_depth: int = 3
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


def image_problem(image: str) -> str | None:
    """Why the kubelet would refuse `image` (InvalidImageName), or None."""
    match = _IMAGE_RE.fullmatch(image)
    if match is None:
        return (
            f"{short(image)} is not an image reference: use [registry[:port]/]name[:tag][@sha256:<64 hex>] "
            "with a lowercase name, such as grafana/grafana:13.2.1 (one ':' before the tag, no spaces)"
        )
    if _IMAGE_ID_RE.fullmatch(image):
        return f"{short(image)} is an image ID, which the kubelet refuses: use [registry[:port]/]name[:tag]"
    if len(match.group(1)) > IMAGE_NAME_MAX:
        return f"the name before the tag is longer than {IMAGE_NAME_MAX} characters, which the kubelet refuses"
    return None


def image_tag(image: str) -> str:
    """The tag of a valid image reference ('' when it has none, digest or not)."""
    match = _IMAGE_RE.fullmatch(image)
    return (match.group(_TAG_GROUP) or "") if match else ""


def _parse_influxdb(r: Reader) -> InfluxDBSpec:
    defaults = InfluxDBSpec()
    image = _image(r, defaults.image)
    _check_influxdb_image(image, r)
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
            _DATABASE_RE,
            "use letters, digits and underscores, starting with a letter or underscore (e.g. gatling)",
        ),
        retention=_retention(r, defaults.retention),
        storage=StorageSpec(
            enabled=storage.boolean("enabled", base.enabled),
            size=storage.matching(
                "size", base.size, _STORAGE_SIZE_RE, "use a whole number of Mi, Gi or Ti (or M, G, T), such as 10Gi"
            ),
            storage_class_name=class_name,
            keep_on_delete=storage.boolean("keepOnDelete", base.keep_on_delete),
            empty_dir_size_limit=_empty_dir_size(storage, base.empty_dir_size_limit),
        ),
        max_series_per_database=r.integer(
            "maxSeriesPerDatabase", defaults.max_series_per_database, SERIES_LIMIT_MIN, SERIES_LIMIT_MAX
        ),
        max_values_per_tag=r.integer(
            "maxValuesPerTag", defaults.max_values_per_tag, TAG_VALUES_LIMIT_MIN, TAG_VALUES_LIMIT_MAX
        ),
        resources=_parse_resources(r, defaults.resources),
    )


def _empty_dir_size(storage: Reader, default: str) -> str:
    hint = "use a whole number of Mi or Gi from 100Mi to 1024Gi, such as 2Gi"
    return storage.matching("emptyDirSizeLimit", default, _EMPTY_DIR_SIZE_RE, hint)


def retention_hours(retention: str) -> int | None:
    """Hours of a retention such as 7d; None for INF (keep forever)."""
    match = _RETENTION_RE.fullmatch(retention)
    if match is None or match.group(1):
        return None
    return int(match.group(2)) * _RETENTION_HOURS[match.group(3)]


def _retention(r: Reader, default: str) -> str:
    value = r.string("retention", default)
    match = _RETENTION_RE.fullmatch(value)
    hint = "use a whole number of hours, days or weeks from 1h to 5200w (e.g. 24h, 7d, 2w), or INF to keep data forever"
    if match is None:
        r.problem("retention", f"{short(value)} is not valid: {hint}")
        return default
    hours = retention_hours(value)
    if hours is not None and hours > RETENTION_MAX_HOURS:
        r.problem("retention", f"{short(value)} is too long for InfluxDB: {hint}")
        return default
    return value


def _check_influxdb_image(image: str, r: Reader) -> None:
    """Only InfluxDB 1.x has the Graphite listener; `latest` and 2.x/3.x silently lose all data.

    A digest pins the bytes but does not say which version they are, so a digest-pinned reference is
    judged by the tag beside it (name:1.12.4@sha256:...; the digest is what gets pulled), and a bare
    name@sha256:... is refused: nothing the operator can read vouches for 1.x.
    """
    if _IMAGE_RE.fullmatch(image) is None:
        return  # reported as not an image reference
    tag = image_tag(image)
    if not tag and "@" in image:
        name = image.split("@", 1)[0]
        r.problem(
            "image",
            f"{short(image)} is pinned by digest without a tag, so nothing shows it is InfluxDB 1.x; put the 1.x "
            f"tag beside the digest, such as {name}:{DEFAULT_INFLUXDB_IMAGE.split(':', 1)[1]}@sha256:...",
        )
    elif not tag:
        r.problem(
            "image",
            f"{image!r} has no tag, which means latest (InfluxDB 2.x or newer, without the Graphite "
            f"listener); pin a 1.x tag such as {DEFAULT_INFLUXDB_IMAGE}",
        )
    elif not re.match(r"1\.[0-9]+", tag):
        r.problem(
            "image",
            f"tag {tag!r} is not InfluxDB 1.x; only 1.x has the Graphite listener that Gatling "
            f"writes to; use a 1.x tag such as {DEFAULT_INFLUXDB_IMAGE}",
        )


def _parse_resources(r: Reader, default: Resources) -> Resources:
    """requests/limits as the API server checks a container's: names, quantities, limit >= request."""
    if not r.has("resources"):
        return default
    res = r.child("resources")
    for extra in sorted(set(res.raw) - {"requests", "limits"}, key=str):
        res.problem(str(extra), "is not requests or limits")
    out: Resources = {}
    amounts: dict[str, dict[str, Decimal]] = {}
    for part in ("requests", "limits"):
        values = res.raw.get(part) or {}
        if not isinstance(values, Mapping):
            res.problem(part, "must be a map such as {cpu: 500m, memory: 1Gi}")
            continue
        parsed: dict[str, str] = {}
        amounts[part] = {}
        for key, value in sorted(values.items(), key=lambda kv: str(kv[0])):
            path = f"{res.at(part)}.{key}"
            name_problem = kube_rules.resource_name(str(key))
            if name_problem:
                r.problems.add(path, f"{short(str(key))} {name_problem}")
                continue
            text, problem = kube_rules.quantity(value)
            amount = kube_rules.parse_quantity(text) if text is not None else None
            if text is None or amount is None:
                r.problems.add(path, problem or "is not a quantity")
                continue
            problem = kube_rules.resource_quantity_problem(str(key), amount)
            if problem:
                r.problems.add(path, problem)
                continue
            parsed[str(key)] = text
            amounts[part][str(key)] = amount
        if parsed:
            out[part] = parsed
    _check_requests_within_limits(res, amounts)
    return out


def _check_requests_within_limits(res: Reader, amounts: dict[str, dict[str, Decimal]]) -> None:
    requests, limits = amounts.get("requests", {}), amounts.get("limits", {})
    for name, request in requests.items():
        limit = limits.get(name)
        overcommit = name in kube_rules.STANDARD_RESOURCES
        if limit is not None and request > limit:
            res.problems.add(f"{res.at('requests')}.{name}", f"must not be more than the limit {name}")
        elif not overcommit and (limit is None or limit != request):
            res.problems.add(
                f"{res.at('limits')}.{name}", f"must be given and equal to the request: {name} cannot be overcommitted"
            )
    if any(n.startswith("hugepages-") for n in (*requests, *limits)) and not {"cpu", "memory"} & {
        *requests,
        *limits,
    }:
        res.problems.add(res.path, "hugepages need a cpu or memory request or limit as well")


def _parse_grafana(r: Reader) -> GrafanaSpec:
    defaults = GrafanaSpec()
    svc = r.child("service")
    svc_defaults = GrafanaServiceSpec()
    ranges = svc.string_list("loadBalancerSourceRanges")
    _check_cidrs(ranges, svc, "loadBalancerSourceRanges")
    service_type = svc.choice("type", svc_defaults.type, SERVICE_TYPES)
    scheme = svc.choice("scheme", svc_defaults.scheme, LB_SCHEMES)
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
    applied = {**(_lb_default_annotations(scheme) if service_type == "LoadBalancer" else {}), **annotations}
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
            user_key=_secret_key(ref, "userKey", "admin-user"),
            password_key=_secret_key(ref, "passwordKey", "admin-password"),
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
        resources=_parse_resources(r, defaults.resources),
    )


def _lb_default_annotations(scheme: str) -> dict[str, str]:
    """The most the operator adds to the Grafana Service: the NLB set (EKS Auto Mode's is a subset)."""
    # Imported here because the renderer imports this module.
    from loadtest_monitor.render.common import nlb_annotations

    return nlb_annotations(scheme)


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
    exposure = r.choice("exposure", defaults.exposure, GRAPHITE_EXPOSURES)
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
        protocol=r.choice("protocol", defaults.protocol, GRAPHITE_PROTOCOLS),
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
        _PREFIX_RE,
        "use one path segment of letters, digits, '-' and '_' (no dots: the runner name follows it)",
    )
    if prefix in RESERVED_MEASUREMENTS:
        r.problem(
            "rootPathPrefix", f"{prefix!r} is also the measurement of Gatling's user counts; choose another prefix"
        )
        prefix = defaults.root_path_prefix
    base_config = r.string("baseConfig", defaults.base_config)
    problem = base_config_problem(base_config)
    if problem is not None:
        r.problem("baseConfig", problem)
        base_config = defaults.base_config
    return GatlingSpec(
        light=r.boolean("light", defaults.light),
        write_period=r.integer("writePeriod", defaults.write_period, 1, 60),
        root_path_prefix=prefix,
        max_group_depth=r.integer("maxGroupDepth", defaults.max_group_depth, 0, 8),
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
