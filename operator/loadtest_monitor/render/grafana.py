"""Grafana: admin Secret, provisioning ConfigMaps (datasource, dashboard provider, dashboard),
Deployment and the LoadBalancer Service (an NLB through the AWS Load Balancer Controller)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import yaml

from loadtest_monitor.identity import (
    ADMIN_PASSWORD_KEY,
    ADMIN_USER_KEY,
    GRAFANA_PORT,
    INFLUXDB_HTTP_PORT,
    READER_PASSWORD_KEY,
    READER_USER_KEY,
    selector_labels,
)
from loadtest_monitor.obj import Obj
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
from loadtest_monitor.render.dashboard import DATASOURCE_UID, build_gatling_dashboard
from loadtest_monitor.render.gatling import USERS_MEASUREMENT, requests_measurement
from loadtest_monitor.render.influxdb import APP as INFLUXDB_APP

APP = "grafana"
COMPONENT = "dashboards"
GRAFANA_UID = 472
DASHBOARD_FILE = "gatling.json"
ADMIN_USER = "admin"
PROVISIONING_DIR = "/etc/grafana/provisioning"
DASHBOARDS_DIR = "/etc/grafana/dashboards"
ADMIN_SECRET_DIR = "/etc/grafana/admin"
# File names of the two admin keys inside ADMIN_SECRET_DIR, whatever the keys are called.
ADMIN_USER_FILE = "user"
ADMIN_PASSWORD_FILE = "password"
# The InfluxDB reader's credentials reach Grafana as environment variables (from the Secret);
# the provisioning file only names them (Grafana expands ${VAR} in provisioning files).
ENV_READER_USER = "LTM_INFLUXDB_READER_USER"
ENV_READER_PASSWORD = "LTM_INFLUXDB_READER_PASSWORD"
# Keys of the generated admin Secret the operator generates (the user name is fixed).
GENERATED_KEYS = (ADMIN_PASSWORD_KEY,)
# Grafana's sqlite database, sessions and rendered images (an emptyDir without storage, a claim of
# this size with it: a few MB for dashboards and annotations); /tmp is scratch only.
STORAGE_SIZE_LIMIT = "1Gi"
STORAGE_SIZE = "1Gi"
TMP_SIZE_LIMIT = "256Mi"
# Grafana calls nobody on its own: no plugin downloads at start (Grafana 12+ preinstalls and
# updates plugins from grafana.com in the background unless told not to; the image's bundled ones
# still load), no update checks, no usage reports, no Gravatar images, no news feed. The
# NetworkPolicy blocks all of it anyway; these keep the logs free of failed calls when it is on
# and the pod quiet when it is off or not enforced.
QUIET_SETTINGS = (
    ("GF_PLUGINS_PREINSTALL_DISABLED", "true"),
    ("GF_ANALYTICS_REPORTING_ENABLED", "false"),
    ("GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
    ("GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", "false"),
    ("GF_SECURITY_DISABLE_GRAVATAR", "true"),
    ("GF_NEWS_NEWS_FEED_ENABLED", "false"),
)


def admin_secret(ctx: RenderContext, password: str) -> Obj:
    """The generated admin Secret. The password is made once by the caller and then kept."""
    return secret(
        ctx,
        ctx.names.grafana_admin_secret,
        APP,
        COMPONENT,
        {ADMIN_USER_KEY: ADMIN_USER, ADMIN_PASSWORD_KEY: password},
    )


def admin_secret_location(ctx: RenderContext) -> tuple[str, str, str]:
    """(Secret name, user key, password key) Grafana reads: the user's own Secret or ours."""
    ref = ctx.spec.grafana.admin_secret_ref
    if ref is not None:
        return ref.name, ref.user_key, ref.password_key
    return ctx.names.grafana_admin_secret, ADMIN_USER_KEY, ADMIN_PASSWORD_KEY


def datasources_config_map(ctx: RenderContext) -> Obj:
    influx_url = ctx.influxdb_url
    provisioning = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "InfluxDB (Gatling)",
                "uid": DATASOURCE_UID,
                "type": "influxdb",
                "access": "proxy",
                "url": influx_url,
                "isDefault": True,
                "editable": False,
                "user": f"${{{ENV_READER_USER}}}",
                "secureJsonData": {"password": f"${{{ENV_READER_PASSWORD}}}"},
                "jsonData": {"dbName": ctx.spec.influxdb.database, "httpMode": "GET"},
            }
        ],
    }
    return config_map(
        ctx,
        ctx.names.grafana_datasources,
        APP,
        COMPONENT,
        {"datasources.yaml": yaml.safe_dump(provisioning, sort_keys=True)},
    )


def dashboard_providers_config_map(ctx: RenderContext) -> Obj:
    provisioning = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "loadtest-monitor",
                "folder": "Gatling",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": DASHBOARDS_DIR},
            }
        ],
    }
    return config_map(
        ctx,
        ctx.names.grafana_dashboard_providers,
        APP,
        COMPONENT,
        {"dashboards.yaml": yaml.safe_dump(provisioning, sort_keys=True)},
    )


def dashboards_config_map(ctx: RenderContext) -> Obj:
    dashboard = build_gatling_dashboard(
        requests_measurement=requests_measurement(ctx.spec.gatling),
        users_measurement=USERS_MEASUREMENT,
        datasource_uid=DATASOURCE_UID,
        write_period=ctx.spec.gatling.write_period,
    )
    return config_map(
        ctx,
        ctx.names.grafana_dashboards,
        APP,
        COMPONENT,
        {DASHBOARD_FILE: json.dumps(dashboard, sort_keys=True, indent=2)},
    )


def grafana_pvc(ctx: RenderContext) -> Obj:
    """Grafana's database (dashboard edits, annotations, users) when the monitor has storage: the
    same class and keepOnDelete as InfluxDB's claim, so what is kept of a run is kept together."""
    storage = ctx.spec.influxdb.storage
    pvc_spec: Obj = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": STORAGE_SIZE}},
    }
    if storage.storage_class_name:
        pvc_spec["storageClassName"] = storage.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(ctx, ctx.names.grafana_pvc, APP, COMPONENT, owned=not storage.keep_on_delete),
        "spec": pvc_spec,
    }


def _grafana_env(ctx: RenderContext) -> list[Obj]:
    reader_secret = ctx.names.influxdb_auth_secret
    env: list[Obj] = [
        {"name": "GF_PATHS_PROVISIONING", "value": PROVISIONING_DIR},
        {"name": "GF_SECURITY_ADMIN_USER__FILE", "value": f"{ADMIN_SECRET_DIR}/{ADMIN_USER_FILE}"},
        {"name": "GF_SECURITY_ADMIN_PASSWORD__FILE", "value": f"{ADMIN_SECRET_DIR}/{ADMIN_PASSWORD_FILE}"},
        secret_env(ENV_READER_USER, reader_secret, READER_USER_KEY),
        secret_env(ENV_READER_PASSWORD, reader_secret, READER_PASSWORD_KEY),
        *({"name": name, "value": value} for name, value in QUIET_SETTINGS),
        {"name": "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "value": f"{DASHBOARDS_DIR}/{DASHBOARD_FILE}"},
    ]
    if ctx.spec.grafana.anonymous_viewing:
        env += [
            {"name": "GF_AUTH_ANONYMOUS_ENABLED", "value": "true"},
            {"name": "GF_AUTH_ANONYMOUS_ORG_ROLE", "value": "Viewer"},
        ]
    return env


def grafana_deployment(ctx: RenderContext, provisioning: list[Obj], passwords: Mapping[str, str]) -> Obj:
    """`provisioning` are the three ConfigMaps; their content hash rolls the pod when they change.

    `passwords` (the generated admin password, if any, and the InfluxDB reader's) enter that hash
    too: Grafana applies the admin password only when it initialises its database and reads the
    datasource password at start, so a running pod would keep the old ones. With storage on, the
    database outlives the pod: a changed admin password of an adminSecretRef is then not applied
    (Grafana keeps the one it was initialised with; change it in Grafana too).
    """
    names = ctx.names
    secret_name, user_key, password_key = admin_secret_location(ctx)
    storage_volume: Obj = (
        {"name": "storage", "persistentVolumeClaim": {"claimName": names.grafana_pvc}}
        if ctx.spec.influxdb.storage.enabled
        else {"name": "storage", "emptyDir": {"sizeLimit": STORAGE_SIZE_LIMIT}}
    )
    container: Obj = {
        "name": "grafana",
        "image": ctx.spec.grafana.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": GRAFANA_PORT, "protocol": "TCP"}],
        "env": _grafana_env(ctx),
        **http_probes("/api/health"),
        "resources": ctx.spec.grafana.resources,
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "admin", "mountPath": ADMIN_SECRET_DIR, "readOnly": True},
            {"name": "datasources", "mountPath": f"{PROVISIONING_DIR}/datasources", "readOnly": True},
            {"name": "dashboard-providers", "mountPath": f"{PROVISIONING_DIR}/dashboards", "readOnly": True},
            {"name": "dashboards", "mountPath": DASHBOARDS_DIR, "readOnly": True},
            {"name": "storage", "mountPath": "/var/lib/grafana"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    config_hash = content_hash(
        [cm["data"] for cm in provisioning], secret_name, user_key, password_key, dict(sorted(passwords.items()))
    )
    # Only the two keys of the admin Secret: a referenced Secret may hold more than Grafana needs.
    admin_items = [{"key": user_key, "path": ADMIN_USER_FILE}, {"key": password_key, "path": ADMIN_PASSWORD_FILE}]
    return single_pod_deployment(
        ctx,
        names.grafana_deployment,
        APP,
        COMPONENT,
        uid=GRAFANA_UID,
        config_hash=config_hash,
        pod={
            "containers": [container],
            "volumes": [
                {"name": "admin", "secret": {"secretName": secret_name, "items": admin_items}},
                {"name": "datasources", "configMap": {"name": names.grafana_datasources}},
                {"name": "dashboard-providers", "configMap": {"name": names.grafana_dashboard_providers}},
                {"name": "dashboards", "configMap": {"name": names.grafana_dashboards}},
                storage_volume,
                {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
            ],
        },
    )


def grafana_service(ctx: RenderContext) -> Obj:
    """Port 3000. Only fields we decide are set: the AWS webhook's loadBalancerClass stays its own."""
    svc = ctx.spec.grafana.service
    annotations: dict[str, str] = {}
    svc_spec: Obj = {
        "type": svc.type,
        "selector": selector_labels(ctx.owner.name, APP),
        "ports": [{"name": "http", "port": GRAFANA_PORT, "targetPort": "http", "protocol": "TCP"}],
    }
    if svc.type == "LoadBalancer":
        lb_annotations, lb_spec = load_balancer(ctx, svc.scheme)
        annotations.update(lb_annotations)
        svc_spec.update(lb_spec)
        if svc.load_balancer_source_ranges:
            svc_spec["loadBalancerSourceRanges"] = list(svc.load_balancer_source_ranges)
    annotations.update(svc.annotations)  # the user's own annotations win over our defaults
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(ctx, ctx.names.grafana_service, APP, COMPONENT, annotations=annotations),
        "spec": svc_spec,
    }


def grafana_network_policy(ctx: RenderContext) -> Obj:
    """In: port 3000 from anywhere (the load balancer's own addresses reach the pod, not the
    clients': the Service's loadBalancerSourceRanges filter those at the NLB). Out: this monitor's
    InfluxDB on 8086 and DNS, nothing else, so a datasource an admin points at the instance
    metadata address, another pod or the internet gets no connection."""
    influxdb_pods = {"podSelector": {"matchLabels": selector_labels(ctx.owner.name, INFLUXDB_APP)}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(ctx, ctx.names.grafana_network_policy, APP, COMPONENT),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(ctx.owner.name, APP)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"port": GRAFANA_PORT, "protocol": "TCP"}]}],
            "egress": [
                {"to": [influxdb_pods], "ports": [{"port": INFLUXDB_HTTP_PORT, "protocol": "TCP"}]},
                dns_egress_rule(),
            ],
        },
    }
