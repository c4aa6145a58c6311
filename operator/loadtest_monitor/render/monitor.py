"""Every object one LoadtestMonitor needs, in apply order, plus the gatling ConfigMap."""

from __future__ import annotations

from collections.abc import Mapping

from loadtest_monitor.identity import (
    ADMIN_PASSWORD_KEY,
    GATLING_CONF_KEY,
    GRAPHITE_PORT,
    JAVA_PROPERTIES_KEY,
    READER_PASSWORD_KEY,
)
from loadtest_monitor.obj import Obj
from loadtest_monitor.render import grafana, influxdb
from loadtest_monitor.render.common import RenderContext, config_map
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


def generated_secrets(ctx: RenderContext) -> dict[str, tuple[str, ...]]:
    """Secret name -> the keys the operator generates for it (random, made once, then kept).

    The caller reads each Secret by name, keeps the values it already holds, generates the
    missing ones and passes them all to render_all; user names are fixed and rendered here.
    """
    out: dict[str, tuple[str, ...]] = {ctx.names.influxdb_auth_secret: influxdb.GENERATED_KEYS}
    if ctx.spec.grafana.admin_secret_ref is None:
        out[ctx.names.grafana_admin_secret] = grafana.GENERATED_KEYS
    return out


def offline_credentials(ctx: RenderContext) -> dict[str, dict[str, str]]:
    """Empty values for every generated key: for rendering without a cluster (Secrets left out)."""
    return {name: dict.fromkeys(keys, "") for name, keys in generated_secrets(ctx).items()}


def _checked(ctx: RenderContext, credentials: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, keys in generated_secrets(ctx).items():
        given = credentials.get(name) or {}
        missing = [k for k in keys if given.get(k) is None]
        if missing:
            raise ValueError(f"credentials for Secret {name!r} lack {missing}: pass every key of generated_secrets()")
        out[name] = {k: given[k] for k in keys}
    return out


def render_all(ctx: RenderContext, credentials: Mapping[str, Mapping[str, str]]) -> list[Obj]:
    """Objects in the order they are applied: config and storage before the pods that use them.

    `credentials`: Secret name -> key -> value for every key of generated_secrets(ctx) (existing
    values kept by the caller, missing ones newly generated).
    """
    spec = ctx.spec
    names = ctx.names
    creds = _checked(ctx, credentials)
    influx_passwords = creds[names.influxdb_auth_secret]
    admin_passwords = creds.get(names.grafana_admin_secret, {})
    influx_config = influxdb.influxdb_config_map(ctx)
    provisioning = [
        grafana.datasources_config_map(ctx),
        grafana.dashboard_providers_config_map(ctx),
        grafana.dashboards_config_map(ctx),
    ]
    objects: list[Obj] = [influx_config, influxdb.influxdb_auth_secret(ctx, influx_passwords)]
    if spec.influxdb.storage.enabled:
        objects.append(influxdb.influxdb_pvc(ctx))
    objects += [
        influxdb.influxdb_deployment(ctx, influx_config, influx_passwords),
        influxdb.graphite_service(ctx),
        influxdb.influxdb_http_service(ctx),
    ]
    if spec.graphite.network_policy:
        # Before Grafana's pod, so it never runs unfenced while the switch is on.
        objects += [influxdb.influxdb_network_policy(ctx), grafana.grafana_network_policy(ctx)]
    if spec.grafana.admin_secret_ref is None:
        objects.append(grafana.admin_secret(ctx, admin_passwords[ADMIN_PASSWORD_KEY]))
    objects += provisioning
    if spec.influxdb.storage.enabled:
        objects.append(grafana.grafana_pvc(ctx))
    grafana_passwords = {**admin_passwords, READER_PASSWORD_KEY: influx_passwords[READER_PASSWORD_KEY]}
    objects += [grafana.grafana_deployment(ctx, provisioning, grafana_passwords), grafana.grafana_service(ctx)]
    objects.append(gatling_config_map(ctx))
    return objects
