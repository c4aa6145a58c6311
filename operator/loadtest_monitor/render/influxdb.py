"""InfluxDB 1.x: influxdb.conf with the Graphite listeners, Deployment, PVC, Services, NetworkPolicy."""

from __future__ import annotations

import json
from collections.abc import Mapping

from loadtest_monitor.identity import (
    ADMIN_PASSWORD_KEY,
    ADMIN_USER_KEY,
    GRAPHITE_PORT,
    INFLUXDB_HTTP_PORT,
    INFLUXDB_RPC_BIND,
    OPERATOR_POD_LABELS,
    READER_PASSWORD_KEY,
    READER_USER_KEY,
    selector_labels,
)
from loadtest_monitor.obj import Obj
from loadtest_monitor.render import archive, bootstrap
from loadtest_monitor.render.common import (
    RenderContext,
    config_map,
    container_security_context,
    content_hash,
    dns_egress_rule,
    http_probes,
    load_balancer,
    metadata,
    secret,
    secret_env,
    single_pod_deployment,
)
from loadtest_monitor.render.gatling import graphite_templates
from loadtest_monitor.spec.monitor import MonitorSpec

APP = "influxdb"
COMPONENT = "metrics-store"
# Newer official 1.x images declare user `influxdb` (1500) by name; restricted pods need the number.
INFLUXDB_UID = 1500
DATA_DIR = "/var/lib/influxdb"
CONFIG_DIR = "/etc/influxdb"
CONF_KEY = "influxdb.conf"
ADMIN_USER = "admin"
READER_USER = "grafana"
# Keys of <monitor>-influxdb-auth the operator generates (the user names are fixed).
GENERATED_KEYS = (ADMIN_PASSWORD_KEY, READER_PASSWORD_KEY)

# Graphite batching: size and pending are InfluxDB's defaults; the timeout is shorter (bench/ingest_bench.py).
GRAPHITE_BATCH_SIZE = 5000
GRAPHITE_BATCH_PENDING = 10
GRAPHITE_BATCH_TIMEOUT = "100ms"  # bench: freshness ~1 s -> ~0.1 s at equal throughput
# /tmp of the pod: the bootstrap's and influxd's scratch files only.
TMP_SIZE_LIMIT = "256Mi"


def canonical_size(size: str) -> str:
    """A whole Mi/Gi size the way the API server prints it back (1024Mi is 1Gi, 1024Gi is 1Ti), so
    the live object equals what was applied and a size the user wrote is no drift on every pass."""
    units = ("Mi", "Gi", "Ti")
    number, unit = int(size[:-2]), units.index(size[-2:])
    while number % 1024 == 0 and unit < len(units) - 1:
        number, unit = number // 1024, unit + 1
    return f"{number}{units[unit]}"


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _graphite_block(spec: MonitorSpec, protocol: str, bind: str) -> str:
    templates = ",\n".join(f"    {_toml_string(t)}" for t in graphite_templates(spec.gatling))
    return (
        "[[graphite]]\n"
        "  enabled = true\n"
        f"  bind-address = {_toml_string(bind)}\n"
        f"  database = {_toml_string(spec.influxdb.database)}\n"
        f"  protocol = {_toml_string(protocol)}\n"
        '  consistency-level = "one"\n'
        f"  batch-size = {GRAPHITE_BATCH_SIZE}\n"
        f"  batch-pending = {GRAPHITE_BATCH_PENDING}\n"
        f"  batch-timeout = {_toml_string(GRAPHITE_BATCH_TIMEOUT)}\n"
        '  separator = "."\n'
        f"  templates = [\n{templates}\n  ]\n"
    )


def render_influxdb_conf(
    spec: MonitorSpec,
    data_dir: str = DATA_DIR,
    http_bind: str = f":{INFLUXDB_HTTP_PORT}",
    graphite_bind: str = f":{GRAPHITE_PORT}",
    rpc_bind: str = INFLUXDB_RPC_BIND,
) -> str:
    """influxdb.conf with one Graphite listener per protocol on the same port (TCP and UDP).

    rpc_bind is the backup/restore service, loopback only in the pod; tests move it to a free port."""
    return (
        "# Rendered by loadtest-monitor for InfluxDB 1.x.\n"
        "reporting-disabled = true\n"
        f"bind-address = {_toml_string(rpc_bind)}\n\n"
        "[meta]\n"
        f"  dir = {_toml_string(data_dir + '/meta')}\n"
        "  retention-autocreate = true\n\n"
        "[data]\n"
        f"  dir = {_toml_string(data_dir + '/data')}\n"
        f"  wal-dir = {_toml_string(data_dir + '/wal')}\n"
        "  query-log-enabled = false\n"
        # Series and tag values guard the in-memory index (spec/monitor.py says why these defaults).
        f"  max-series-per-database = {spec.influxdb.max_series_per_database}\n"
        f"  max-values-per-tag = {spec.influxdb.max_values_per_tag}\n\n"
        "[http]\n"
        "  enabled = true\n"
        f"  bind-address = {_toml_string(http_bind)}\n"
        # Queries and writes over HTTP need a user (the Graphite listeners have no authentication
        # in InfluxDB: the NetworkPolicy guards them); /ping stays open for the probes.
        "  auth-enabled = true\n"
        "  pprof-enabled = false\n"
        "  log-enabled = false\n\n"
        "[monitor]\n"
        "  store-enabled = true\n"
        '  store-database = "_internal"\n'
        '  store-interval = "10s"\n\n'
        + _graphite_block(spec, "tcp", graphite_bind)
        + "\n"
        + _graphite_block(spec, "udp", graphite_bind)
    )


def influxdb_config_map(ctx: RenderContext) -> Obj:
    return config_map(
        ctx,
        ctx.names.influxdb_config,
        APP,
        COMPONENT,
        {
            CONF_KEY: render_influxdb_conf(ctx.spec),
            bootstrap.CONF_KEY: bootstrap.render_bootstrap_conf(DATA_DIR),
            bootstrap.SCRIPT_KEY: bootstrap.render_bootstrap_script(
                ctx.spec, f"{CONFIG_DIR}/{bootstrap.CONF_KEY}", ctx.names.influxdb_auth_secret
            ),
        },
    )


def influxdb_auth_secret(ctx: RenderContext, passwords: Mapping[str, str]) -> Obj:
    """The InfluxDB users: an admin (bootstrap, humans) and a read-only one for Grafana."""
    return secret(
        ctx,
        ctx.names.influxdb_auth_secret,
        APP,
        COMPONENT,
        {
            ADMIN_USER_KEY: ADMIN_USER,
            ADMIN_PASSWORD_KEY: passwords[ADMIN_PASSWORD_KEY],
            READER_USER_KEY: READER_USER,
            READER_PASSWORD_KEY: passwords[READER_PASSWORD_KEY],
        },
    )


def influxdb_pvc(ctx: RenderContext) -> Obj:
    storage = ctx.spec.influxdb.storage
    pvc_spec: Obj = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage.size}},
    }
    if storage.storage_class_name:
        pvc_spec["storageClassName"] = storage.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(ctx, ctx.names.influxdb_pvc, APP, COMPONENT, owned=not storage.keep_on_delete),
        "spec": pvc_spec,
    }


def _bootstrap_container(ctx: RenderContext) -> Obj:
    """Init container: database, retention and users before influxd serves (render/bootstrap.py).
    It always exits 0; its termination message says what happened."""
    auth = ctx.names.influxdb_auth_secret
    return {
        "name": bootstrap.CONTAINER_NAME,
        "image": ctx.spec.influxdb.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", f"{CONFIG_DIR}/{bootstrap.SCRIPT_KEY}"],
        "env": [
            secret_env(bootstrap.ENV_ADMIN_USER, auth, ADMIN_USER_KEY),
            secret_env(bootstrap.ENV_ADMIN_PASSWORD, auth, ADMIN_PASSWORD_KEY),
            secret_env(bootstrap.ENV_READER_USER, auth, READER_USER_KEY),
            secret_env(bootstrap.ENV_READER_PASSWORD, auth, READER_PASSWORD_KEY),
        ],
        "resources": ctx.spec.influxdb.resources,
        "securityContext": container_security_context(),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def influxdb_deployment(ctx: RenderContext, config: Obj, passwords: Mapping[str, str]) -> Obj:
    """`passwords` of the auth Secret enter the pod-template hash (not the template): a new
    password restarts the pod, and its bootstrap sets the password again."""
    spec = ctx.spec
    names = ctx.names
    data_volume: Obj = (
        {"name": "data", "persistentVolumeClaim": {"claimName": names.influxdb_pvc}}
        if spec.influxdb.storage.enabled
        else {"name": "data", "emptyDir": {"sizeLimit": canonical_size(spec.influxdb.storage.empty_dir_size_limit)}}
    )
    container: Obj = {
        "name": "influxdb",
        "image": spec.influxdb.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": "http", "containerPort": INFLUXDB_HTTP_PORT, "protocol": "TCP"},
            {"name": "graphite-tcp", "containerPort": GRAPHITE_PORT, "protocol": "TCP"},
            {"name": "graphite-udp", "containerPort": GRAPHITE_PORT, "protocol": "UDP"},
        ],
        "env": [{"name": "INFLUXDB_CONFIG_PATH", "value": f"{CONFIG_DIR}/{CONF_KEY}"}],
        **http_probes("/ping"),
        "resources": spec.influxdb.resources,
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    init_containers = [_bootstrap_container(ctx)]
    containers = [container]
    volumes: list[Obj] = [
        {"name": "config", "configMap": {"name": names.influxdb_config, "defaultMode": 0o555}},
        data_volume,
        {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
    ]
    pod_extra: Obj = {}
    if spec.archive is not None:  # spec.archive: render/archive.py
        init_containers.append(archive.init_container(ctx))
        containers.append(archive.archive_container(ctx))
        volumes += archive.volumes(ctx)
        pod_extra = archive.pod_fields(ctx)
        if spec.archive.on_delete:
            container["lifecycle"] = {"preStop": archive.influxd_pre_stop(ctx)}
            state = {"name": "archive-state", "mountPath": archive.STATE_DIR, "readOnly": True}
            container["volumeMounts"].append(state)
    return single_pod_deployment(
        ctx,
        names.influxdb_deployment,
        APP,
        COMPONENT,
        uid=INFLUXDB_UID,
        config_hash=content_hash(config["data"], dict(sorted(passwords.items()))),
        pod={
            **pod_extra,
            "initContainers": init_containers,
            "containers": containers,
            "volumes": volumes,
        },
    )


def graphite_service(ctx: RenderContext) -> Obj:
    """TCP and UDP 2003. The Graphite port has no authentication: ClusterIP unless asked otherwise."""
    graphite = ctx.spec.graphite
    internal_lb = graphite.exposure == "InternalLoadBalancer"
    svc_spec: Obj = {
        "type": "LoadBalancer" if internal_lb else "ClusterIP",
        "selector": selector_labels(ctx.owner.name, APP),
        "ports": [
            {"name": "graphite-tcp", "port": GRAPHITE_PORT, "targetPort": GRAPHITE_PORT, "protocol": "TCP"},
            {"name": "graphite-udp", "port": GRAPHITE_PORT, "targetPort": GRAPHITE_PORT, "protocol": "UDP"},
        ],
    }
    lb_annotations: dict[str, str] = {}
    if internal_lb:
        lb_annotations, lb_spec = load_balancer(ctx, "internal")
        svc_spec.update(lb_spec)
    if internal_lb and graphite.allowed_source_ranges:
        svc_spec["loadBalancerSourceRanges"] = list(graphite.allowed_source_ranges)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(
            ctx,
            ctx.names.graphite_service,
            APP,
            COMPONENT,
            annotations=lb_annotations or None,
        ),
        "spec": svc_spec,
    }


def influxdb_http_service(ctx: RenderContext) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(ctx, ctx.names.influxdb_service, APP, COMPONENT),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(ctx.owner.name, APP),
            "ports": [{"name": "http", "port": INFLUXDB_HTTP_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _graphite_peers(ctx: RenderContext) -> list[Obj]:
    """Who may send Graphite lines: pods of this namespace and of the allowed namespaces (only the
    runner pods when `runnerPodSelector` is given: a peer with both selectors matches a pod that
    passes both), and the allowed CIDRs (load balancer, runners outside the cluster) as they are."""
    graphite = ctx.spec.graphite
    pods: Obj = {"matchLabels": dict(graphite.runner_pod_selector)} if graphite.runner_pod_selector else {}
    peers: list[Obj] = [{"podSelector": pods}]
    for ns in graphite.allowed_namespaces:
        peer: Obj = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
        if graphite.runner_pod_selector:
            peer["podSelector"] = pods
        peers.append(peer)
    peers += [{"ipBlock": {"cidr": cidr}} for cidr in graphite.allowed_source_ranges]
    return peers


def _http_peers(ctx: RenderContext) -> list[Obj]:
    """Who may use the HTTP API (queries need a user anyway): pods of this namespace (Grafana), and
    the operator's pods when they run in another namespace: it reads the runs' results there
    (runs/results.py). Without a known operator namespace (an operator outside the cluster, or the
    offline render) nothing else is added."""
    peers: list[Obj] = [{"podSelector": {}}]
    operator_ns = ctx.operator_namespace
    if operator_ns and operator_ns != ctx.owner.namespace:
        peers.append(
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": operator_ns}},
                "podSelector": {"matchLabels": dict(OPERATOR_POD_LABELS)},
            }
        )
    return peers


def influxdb_network_policy(ctx: RenderContext) -> Obj:
    """In: Graphite from the allowed peers, HTTP from this namespace and the operator's pods. Out:
    DNS only (influxd calls nothing; its bootstrap talks to its own loopback, which no
    NetworkPolicy filters), and with spec.archive what the archive container calls (render/archive.py)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(ctx, ctx.names.network_policy, APP, COMPONENT),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(ctx.owner.name, APP)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": _graphite_peers(ctx),
                    "ports": [
                        {"port": GRAPHITE_PORT, "protocol": "TCP"},
                        {"port": GRAPHITE_PORT, "protocol": "UDP"},
                    ],
                },
                {"from": _http_peers(ctx), "ports": [{"port": INFLUXDB_HTTP_PORT, "protocol": "TCP"}]},
            ],
            "egress": [dns_egress_rule(), *(archive.egress_rules() if ctx.spec.archive is not None else [])],
        },
    }
