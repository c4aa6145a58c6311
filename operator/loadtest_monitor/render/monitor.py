"""Every object one LoadtestMonitor needs, in apply order, plus the gatling ConfigMap."""

from __future__ import annotations

from loadtest_monitor.identity import GATLING_CONF_KEY, GRAPHITE_PORT, JAVA_PROPERTIES_KEY
from loadtest_monitor.render import grafana, influxdb
from loadtest_monitor.render.common import Obj, RenderContext, config_map
from loadtest_monitor.render.gatling import java_system_properties, render_gatling_conf

GATLING_APP = "gatling-config"
GATLING_COMPONENT = "runner-config"


def graphite_host(ctx: RenderContext) -> str:
    """The in-cluster DNS name runners resolve: fully qualified, so any namespace can use it."""
    return ctx.names.service_fqdn(ctx.names.graphite_service, ctx.cluster_domain)


def gatling_config_map(ctx: RenderContext) -> Obj:
    host = graphite_host(ctx)
    return config_map(
        ctx,
        ctx.names.gatling_config,
        GATLING_APP,
        GATLING_COMPONENT,
        {
            GATLING_CONF_KEY: render_gatling_conf(ctx.spec, host, GRAPHITE_PORT),
            JAVA_PROPERTIES_KEY: java_system_properties(ctx.spec, host, GRAPHITE_PORT),
        },
    )


def render_all(ctx: RenderContext, admin_password: str | None) -> list[Obj]:
    """Objects in the order they are applied: config and storage before the pods that use them.

    `admin_password` is the existing (or newly generated) Grafana admin password; None when the
    user brings their own Secret through spec.grafana.adminSecretRef.
    """
    spec = ctx.spec
    influx_config = influxdb.influxdb_config_map(ctx)
    provisioning = [
        grafana.datasources_config_map(ctx),
        grafana.dashboard_providers_config_map(ctx),
        grafana.dashboards_config_map(ctx),
    ]
    objects: list[Obj] = [influx_config]
    if spec.influxdb.storage.enabled:
        objects.append(influxdb.influxdb_pvc(ctx))
    objects += [
        influxdb.influxdb_deployment(ctx, influx_config),
        influxdb.graphite_service(ctx),
        influxdb.influxdb_http_service(ctx),
    ]
    if spec.graphite.network_policy:
        objects.append(influxdb.influxdb_network_policy(ctx))
    if spec.grafana.admin_secret_ref is None:
        if admin_password is None:
            raise ValueError("admin_password is required when no adminSecretRef is given")
        objects.append(grafana.admin_secret(ctx, admin_password))
    objects += provisioning
    objects += [grafana.grafana_deployment(ctx, provisioning, admin_password), grafana.grafana_service(ctx)]
    objects.append(gatling_config_map(ctx))
    return objects
