"""InfluxDB 1.x: influxdb.conf with the Graphite listeners, Deployment, PVC, Services, NetworkPolicy."""

from __future__ import annotations

import json

from loadtest_monitor.identity import (
    CONFIG_HASH_ANNOTATION,
    GRAPHITE_PORT,
    INFLUXDB_HTTP_PORT,
    LABEL_INSTANCE,
    LABEL_NAME,
    selector_labels,
)
from loadtest_monitor.render.common import (
    Obj,
    RenderContext,
    config_map,
    container_security_context,
    content_hash,
    metadata,
    nlb_annotations,
    placement,
    pod_security_context,
)
from loadtest_monitor.render.gatling import graphite_templates
from loadtest_monitor.spec import MonitorSpec

APP = "influxdb"
COMPONENT = "metrics-store"
# Newer official 1.x images declare user `influxdb` (1500) by name; restricted pods need the number.
INFLUXDB_UID = 1500
DATA_DIR = "/var/lib/influxdb"
CONFIG_DIR = "/etc/influxdb"
RETENTION_SCRIPT = "apply-retention.sh"

# Graphite batching: size and pending are InfluxDB's defaults; the timeout is shorter (bench/ingest_bench.py).
GRAPHITE_BATCH_SIZE = 5000
GRAPHITE_BATCH_PENDING = 10
GRAPHITE_BATCH_TIMEOUT = "100ms"  # bench: freshness ~1 s -> ~0.1 s at equal throughput


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
    rpc_bind: str = "127.0.0.1:8088",
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
        "  query-log-enabled = false\n\n"
        "[http]\n"
        "  enabled = true\n"
        f"  bind-address = {_toml_string(http_bind)}\n"
        "  log-enabled = false\n\n"
        "[monitor]\n"
        "  store-enabled = true\n"
        '  store-database = "_internal"\n'
        '  store-interval = "10s"\n\n'
        + _graphite_block(spec, "tcp", graphite_bind)
        + "\n"
        + _graphite_block(spec, "udp", graphite_bind)
    )


def render_retention_script(spec: MonitorSpec) -> str:
    """Creates the database and sets its default retention once influxd answers (postStart hook)."""
    db = spec.influxdb.database
    duration = spec.influxdb.retention
    return (
        "#!/bin/sh\n"
        "# Waits up to 120 s for influxd, then makes the retention of the default policy match the spec.\n"
        "i=0\n"
        "until influx -execute 'SHOW DATABASES' >/dev/null 2>&1; do\n"
        '  i=$((i+1)); [ "$i" -ge 120 ] && exit 1; sleep 1\n'
        "done\n"
        f"influx -execute 'CREATE DATABASE \"{db}\"'\n"
        f'influx -execute \'ALTER RETENTION POLICY "autogen" ON "{db}" DURATION {duration} DEFAULT\'\n'
    )


def influxdb_config_map(ctx: RenderContext) -> Obj:
    return config_map(
        ctx,
        ctx.names.influxdb_config,
        APP,
        COMPONENT,
        {"influxdb.conf": render_influxdb_conf(ctx.spec), RETENTION_SCRIPT: render_retention_script(ctx.spec)},
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


def influxdb_deployment(ctx: RenderContext, config: Obj) -> Obj:
    spec = ctx.spec
    names = ctx.names
    data_volume: Obj = (
        {"name": "data", "persistentVolumeClaim": {"claimName": names.influxdb_pvc}}
        if spec.influxdb.storage.enabled
        else {"name": "data", "emptyDir": {}}
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
        "env": [{"name": "INFLUXDB_CONFIG_PATH", "value": f"{CONFIG_DIR}/influxdb.conf"}],
        "readinessProbe": {
            "httpGet": {"path": "/ping", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/ping", "port": "http"},
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
            "failureThreshold": 6,
        },
        "lifecycle": {"postStart": {"exec": {"command": ["/bin/sh", f"{CONFIG_DIR}/{RETENTION_SCRIPT}"]}}},
        "resources": spec.influxdb.resources,
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(ctx, names.influxdb_deployment, APP, COMPONENT),
        "spec": {
            "replicas": 1,
            # One writer per data directory: a rolling update would start a second influxd on it.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector_labels(ctx.owner.name, APP)},
            "template": {
                "metadata": {
                    "labels": metadata(ctx, "", APP, COMPONENT)["labels"],
                    "annotations": {CONFIG_HASH_ANNOTATION: content_hash(config["data"])},
                },
                "spec": {
                    **placement(ctx),
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(INFLUXDB_UID),
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": names.influxdb_config, "defaultMode": 0o555}},
                        data_volume,
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


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
            annotations=nlb_annotations("internal") if internal_lb else None,
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


def influxdb_network_policy(ctx: RenderContext) -> Obj:
    """Graphite from this namespace, listed namespaces and CIDRs; HTTP from this namespace only."""
    graphite = ctx.spec.graphite
    same_namespace: Obj = {"podSelector": {}}
    graphite_peers: list[Obj] = [same_namespace]
    graphite_peers += [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
        for ns in graphite.allowed_namespaces
    ]
    graphite_peers += [{"ipBlock": {"cidr": cidr}} for cidr in graphite.allowed_source_ranges]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(ctx, ctx.names.network_policy, APP, COMPONENT),
        "spec": {
            "podSelector": {
                "matchLabels": {LABEL_NAME: APP, LABEL_INSTANCE: ctx.owner.name},
            },
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": graphite_peers,
                    "ports": [
                        {"port": GRAPHITE_PORT, "protocol": "TCP"},
                        {"port": GRAPHITE_PORT, "protocol": "UDP"},
                    ],
                },
                {"from": [same_namespace], "ports": [{"port": INFLUXDB_HTTP_PORT, "protocol": "TCP"}]},
            ],
        },
    }
