"""The typed LoadtestMonitor spec: parsing, defaults and the checks only the operator can make.

The CRD schema rejects most bad input at `kubectl apply`. What it cannot judge (an InfluxDB image
that is not 1.x, a base HOCON config that does not parse, a prefix that collides with a measurement)
is caught here with a `SpecError` that names the field and says how to fix it. `render` also uses
this module offline, so every default lives here as well as in the CRD (a unit test keeps them equal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyhocon import ConfigFactory
from pyhocon.exceptions import ConfigException

DEFAULT_INFLUXDB_IMAGE = "influxdb:1.12.4"
DEFAULT_GRAFANA_IMAGE = "grafana/grafana:11.6.1"

SERVICE_TYPES = ("LoadBalancer", "ClusterIP", "NodePort")
LB_SCHEMES = ("internal", "internet-facing")
GRAPHITE_PROTOCOLS = ("tcp", "udp")
GRAPHITE_EXPOSURES = ("ClusterIP", "InternalLoadBalancer")

# Measurement names the templates produce besides the request measurement (the root prefix).
RESERVED_MEASUREMENTS = ("users",)

_DATABASE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_RETENTION_RE = re.compile(r"^(INF|[1-9][0-9]{0,5}[hdw])$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_CIDR_RE = re.compile(r"^[0-9a-fA-F:.]+/[0-9]{1,3}$")
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SECRET_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")

Resources = dict[str, dict[str, str]]


class SpecError(ValueError):
    """A spec value the operator cannot use. `field` is the path a user sees in the YAML."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.message = message


@dataclass(frozen=True)
class StorageSpec:
    enabled: bool = False
    size: str = "10Gi"
    storage_class_name: str | None = None
    keep_on_delete: bool = False


@dataclass(frozen=True)
class InfluxDBSpec:
    image: str = DEFAULT_INFLUXDB_IMAGE
    database: str = "gatling"
    retention: str = "7d"
    storage: StorageSpec = field(default_factory=StorageSpec)
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


class _Reader:
    """Reads one object of the spec with type checks; every error names the full field path."""

    def __init__(self, raw: Any, path: str) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise SpecError(path, f"must be an object, got {type(raw).__name__}")
        self.raw = raw
        self.path = path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def child(self, key: str) -> _Reader:
        return _Reader(self.raw.get(key), self.at(key))

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def string(self, key: str, default: str) -> str:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if not isinstance(value, str):
            raise SpecError(self.at(key), f"must be a string, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise SpecError(self.at(key), f"must be true or false, got {value!r}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(self.at(key), f"must be a whole number from {low} to {high}, got {value!r}")
        if not low <= value <= high:
            raise SpecError(self.at(key), f"must be from {low} to {high}, got {value}")
        return value

    def choice(self, key: str, default: str, allowed: Sequence[str]) -> str:
        value = self.string(key, default)
        if value not in allowed:
            raise SpecError(self.at(key), f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def matching(self, key: str, default: str, pattern: re.Pattern[str], hint: str) -> str:
        value = self.string(key, default)
        if not pattern.match(value):
            raise SpecError(self.at(key), f"{value!r} is not valid: {hint}")
        return value

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SpecError(self.at(key), "must be a list of strings")
        return tuple(value)

    def string_map(self, key: str) -> dict[str, str]:
        value = self.raw.get(key) or {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise SpecError(self.at(key), "must be a map of strings to strings")
        return dict(sorted(value.items()))


def parse_spec(raw: Mapping[str, Any] | None) -> MonitorSpec:
    """Turns `.spec` of a LoadtestMonitor into a MonitorSpec, or raises SpecError."""
    root = _Reader(raw, "spec")
    return MonitorSpec(
        influxdb=_parse_influxdb(root.child("influxdb")),
        grafana=_parse_grafana(root.child("grafana")),
        graphite=_parse_graphite(root.child("graphite")),
        gatling=_parse_gatling(root.child("gatling")),
        placement=_parse_placement(root.child("placement")),
    )


def _parse_influxdb(r: _Reader) -> InfluxDBSpec:
    defaults = InfluxDBSpec()
    image = r.string("image", defaults.image)
    _check_influxdb_image(image, r.at("image"))
    storage = r.child("storage")
    base = StorageSpec()
    class_name = storage.string("storageClassName", "") or None
    return InfluxDBSpec(
        image=image,
        database=r.matching(
            "database",
            defaults.database,
            _DATABASE_RE,
            "use letters, digits and underscores, starting with a letter or underscore (e.g. gatling)",
        ),
        retention=r.matching(
            "retention",
            defaults.retention,
            _RETENTION_RE,
            "use a whole number of hours, days or weeks (e.g. 24h, 7d, 2w) or INF to keep data forever",
        ),
        storage=StorageSpec(
            enabled=storage.boolean("enabled", base.enabled),
            size=storage.matching("size", base.size, _QUANTITY_RE, "use a Kubernetes quantity such as 10Gi"),
            storage_class_name=class_name,
            keep_on_delete=storage.boolean("keepOnDelete", base.keep_on_delete),
        ),
        resources=_parse_resources(r, defaults.resources),
    )


def _check_influxdb_image(image: str, path: str) -> None:
    """Only InfluxDB 1.x has the Graphite listener; `latest` and 2.x/3.x silently lose all data."""
    if "@" in image:
        return  # pinned by digest: the user vouches for the version
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    if not tag:
        raise SpecError(
            path,
            f"{image!r} has no tag, which means latest (InfluxDB 2.x or newer, without the Graphite "
            f"listener); pin a 1.x tag such as {DEFAULT_INFLUXDB_IMAGE}",
        )
    if not re.match(r"^1\.[0-9]+", tag):
        raise SpecError(
            path,
            f"tag {tag!r} is not InfluxDB 1.x; only 1.x has the Graphite listener that Gatling "
            f"writes to; use a 1.x tag such as {DEFAULT_INFLUXDB_IMAGE}",
        )


def _parse_resources(r: _Reader, default: Resources) -> Resources:
    if not r.has("resources"):
        return default
    res = r.child("resources")
    out: Resources = {}
    for part in ("requests", "limits"):
        values = res.raw.get(part) or {}
        if not isinstance(values, Mapping):
            raise SpecError(res.at(part), "must be a map such as {cpu: 500m, memory: 1Gi}")
        parsed: dict[str, str] = {}
        for key, value in sorted(values.items()):
            text = str(value)
            if isinstance(value, bool) or not _QUANTITY_RE.match(text):
                raise SpecError(f"{res.at(part)}.{key}", f"{value!r} is not a quantity such as 500m or 1Gi")
            parsed[str(key)] = text
        if parsed:
            out[part] = parsed
    return out


def _parse_grafana(r: _Reader) -> GrafanaSpec:
    defaults = GrafanaSpec()
    svc = r.child("service")
    svc_defaults = GrafanaServiceSpec()
    ranges = svc.string_list("loadBalancerSourceRanges")
    _check_cidrs(ranges, svc.at("loadBalancerSourceRanges"))
    secret_ref: AdminSecretRef | None = None
    if r.has("adminSecretRef"):
        ref = r.child("adminSecretRef")
        name = ref.string("name", "")
        if not _NAME_RE.match(name):
            raise SpecError(ref.at("name"), "give the name of an existing Secret in this namespace")
        key_hint = "use a Secret data key (letters, digits, '-', '_', '.')"
        secret_ref = AdminSecretRef(
            name=name,
            user_key=ref.matching("userKey", "admin-user", _SECRET_KEY_RE, key_hint),
            password_key=ref.matching("passwordKey", "admin-password", _SECRET_KEY_RE, key_hint),
        )
    return GrafanaSpec(
        image=r.string("image", defaults.image) or defaults.image,
        service=GrafanaServiceSpec(
            type=svc.choice("type", svc_defaults.type, SERVICE_TYPES),
            scheme=svc.choice("scheme", svc_defaults.scheme, LB_SCHEMES),
            load_balancer_source_ranges=ranges,
            annotations=svc.string_map("annotations"),
        ),
        admin_secret_ref=secret_ref,
        anonymous_viewing=r.boolean("anonymousViewing", defaults.anonymous_viewing),
        resources=_parse_resources(r, defaults.resources),
    )


def _check_cidrs(ranges: Sequence[str], path: str) -> None:
    for i, cidr in enumerate(ranges):
        if not _CIDR_RE.match(cidr):
            raise SpecError(f"{path}[{i}]", f"{cidr!r} is not a CIDR such as 10.0.0.0/16")


def _parse_graphite(r: _Reader) -> GraphiteSpec:
    defaults = GraphiteSpec()
    ranges = r.string_list("allowedSourceRanges")
    _check_cidrs(ranges, r.at("allowedSourceRanges"))
    namespaces = r.string_list("allowedNamespaces")
    for i, ns in enumerate(namespaces):
        if not _NAME_RE.match(ns):
            raise SpecError(f"{r.at('allowedNamespaces')}[{i}]", f"{ns!r} is not a namespace name")
    return GraphiteSpec(
        protocol=r.choice("protocol", defaults.protocol, GRAPHITE_PROTOCOLS),
        exposure=r.choice("exposure", defaults.exposure, GRAPHITE_EXPOSURES),
        allowed_source_ranges=ranges,
        allowed_namespaces=namespaces,
        network_policy=r.boolean("networkPolicy", defaults.network_policy),
    )


def _parse_gatling(r: _Reader) -> GatlingSpec:
    defaults = GatlingSpec()
    prefix = r.matching(
        "rootPathPrefix",
        defaults.root_path_prefix,
        _PREFIX_RE,
        "use one path segment of letters, digits, '-' and '_' (no dots: the runner name follows it)",
    )
    if prefix in RESERVED_MEASUREMENTS:
        raise SpecError(
            r.at("rootPathPrefix"),
            f"{prefix!r} is also the measurement of Gatling's user counts; choose another prefix",
        )
    base_config = r.string("baseConfig", defaults.base_config)
    if base_config.strip():
        try:
            ConfigFactory.parse_string(base_config, resolve=False)
        except (ConfigException, Exception) as err:  # pyhocon raises pyparsing errors too
            raise SpecError(r.at("baseConfig"), f"is not valid HOCON: {err}") from err
    return GatlingSpec(
        light=r.boolean("light", defaults.light),
        write_period=r.integer("writePeriod", defaults.write_period, 1, 60),
        root_path_prefix=prefix,
        max_group_depth=r.integer("maxGroupDepth", defaults.max_group_depth, 0, 8),
        base_config=base_config,
    )


def _parse_placement(r: _Reader) -> PlacementSpec:
    tolerations = r.raw.get("tolerations") or []
    if not isinstance(tolerations, list) or not all(isinstance(t, Mapping) for t in tolerations):
        raise SpecError(r.at("tolerations"), "must be a list of Kubernetes tolerations")
    return PlacementSpec(
        node_selector=r.string_map("nodeSelector"),
        tolerations=tuple(dict(t) for t in tolerations),
    )
