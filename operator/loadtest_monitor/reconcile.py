"""One reconcile of one LoadtestMonitor: parse, render, apply what drifted, prune, report.

Level-triggered and idempotent: it reads the monitor and its children, writes only what differs
from the rendered objects, and writes status only when status changed. Running it again (after
a crash, a restart, or for an event it caused itself) creates nothing twice and writes nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtest_monitor import status as st
from loadtest_monitor.drift import contains
from loadtest_monitor.identity import (
    API_VERSION,
    GATLING_CONF_KEY,
    GRAFANA_PORT,
    GRAPHITE_PORT,
    JAVA_PROPERTIES_KEY,
    KIND,
    LABEL_INSTANCE,
    MANAGED_SELECTOR,
)
from loadtest_monitor.kube import Kube, KubeError, Obj
from loadtest_monitor.render.common import LB_MODE_CONTROLLER, Owner, RenderContext
from loadtest_monitor.render.grafana import admin_secret_location
from loadtest_monitor.render.monitor import generated_secrets, graphite_host, render_all
from loadtest_monitor.spec import MonitorSpec, SpecError, parse_spec

log = logging.getLogger(__name__)

# Kinds that can stop being wanted when the spec changes (storage, NetworkPolicy, own Secret).
PRUNABLE = (
    ("v1", "PersistentVolumeClaim"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("v1", "Secret"),
)
PASSWORD_BYTES = 24  # token_urlsafe(24) gives 32 characters


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    return obj["apiVersion"], obj["kind"], obj["metadata"]["name"]


def _owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])


@dataclass
class Outcome:
    """What one reconcile did; handlers log it, tests and benchmarks read it."""

    applied: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    status_written: bool = False
    invalid: str = ""


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        cluster_domain: str = "cluster.local",
        now: Callable[[], str] = _now,
        load_balancer_state: Callable[[str], str] | None = None,
        load_balancer_mode: str = LB_MODE_CONTROLLER,
    ) -> None:
        self.kube = kube
        self.cluster_domain = cluster_domain
        self.load_balancer_mode = load_balancer_mode
        self.now = now
        # Optional: DNS name of a load balancer -> its state (aws.load_balancers on EKS).
        self.load_balancer_state = load_balancer_state
        self._guard = threading.Lock()
        self._running: set[tuple[str, str]] = set()
        self._pending: set[tuple[str, str]] = set()

    def request(self, namespace: str, name: str) -> None:
        """Reconcile now, or once more after the reconcile already running for this monitor.

        Bursts of events (the initial listing, a rollout's status updates) collapse into at most
        one extra pass instead of one pass per event.
        """
        key = (namespace, name)
        with self._guard:
            if key in self._running:
                self._pending.add(key)
                return
            self._running.add(key)
        try:
            while True:
                self.reconcile(namespace, name)
                with self._guard:
                    if key not in self._pending:
                        break
                    self._pending.discard(key)
        finally:
            with self._guard:
                self._running.discard(key)
                self._pending.discard(key)

    def reconcile(self, namespace: str, name: str) -> Outcome:
        outcome = Outcome()
        monitor = self.kube.get(API_VERSION, KIND, namespace, name)
        if monitor is None or monitor["metadata"].get("deletionTimestamp"):
            return outcome  # children go with the garbage collector
        try:
            spec = parse_spec(monitor.get("spec"))
        except SpecError as err:
            outcome.invalid = str(err)
            self._report_invalid(monitor, str(err), outcome)
            return outcome
        ctx = RenderContext(
            Owner(name, namespace, monitor["metadata"]["uid"]), spec, self.cluster_domain, self.load_balancer_mode
        )
        live = self._apply_children(ctx, outcome)
        self._prune(ctx, live, outcome)
        self._report(monitor, ctx, live, outcome)
        return outcome

    # --- children -------------------------------------------------------------------------

    def _credentials(self, ctx: RenderContext) -> dict[str, dict[str, str]]:
        """Generated Secrets' values: read by name, kept when present, generated when missing."""
        out: dict[str, dict[str, str]] = {}
        for name, keys in generated_secrets(ctx).items():
            current = self.kube.get("v1", "Secret", ctx.owner.namespace, name)
            data = (current or {}).get("data") or {}
            out[name] = {
                k: base64.b64decode(data[k]).decode() if data.get(k) else secrets.token_urlsafe(PASSWORD_BYTES)
                for k in keys
            }
        return out

    def _apply_children(self, ctx: RenderContext, outcome: Outcome) -> dict[tuple[str, str, str], Obj]:
        live: dict[tuple[str, str, str], Obj] = {}
        for desired in render_all(ctx, self._credentials(ctx)):
            key = _key(desired)
            current = self.kube.get(desired["apiVersion"], desired["kind"], ctx.owner.namespace, key[2])
            if current is not None and contains(desired, current):
                live[key] = current
                continue
            try:
                live[key] = self.kube.apply(desired)
                outcome.applied.append(f"{key[1]}/{key[2]}")
            except KubeError as err:
                outcome.errors.append(f"{key[1]} {key[2]}: {err}")
        return live

    def _prune(self, ctx: RenderContext, live: Mapping[tuple[str, str, str], Obj], outcome: Outcome) -> None:
        selector = f"{MANAGED_SELECTOR},{LABEL_INSTANCE}={ctx.owner.name}"
        for api_version, kind in PRUNABLE:
            for obj in self.kube.list(api_version, kind, ctx.owner.namespace, selector):
                obj_name = obj["metadata"]["name"]
                # Only what this monitor owns (a PVC kept on delete has no ownerReference), and
                # only once: a claim still in use stays, terminating, behind its protection finalizer.
                if (
                    (api_version, kind, obj_name) in live
                    or not _owned_by(obj, ctx.owner.uid)
                    or obj["metadata"].get("deletionTimestamp")
                ):
                    continue
                try:
                    self.kube.delete(api_version, kind, ctx.owner.namespace, obj_name)
                    outcome.pruned.append(f"{kind}/{obj_name}")
                except KubeError as err:
                    outcome.errors.append(f"{kind} {obj_name}: {err}")

    # --- status ---------------------------------------------------------------------------

    def _write_status(self, monitor: Obj, status: Obj, outcome: Outcome) -> None:
        current = monitor.get("status") or {}
        if all(current.get(k) == v for k, v in status.items()):
            return
        meta = monitor["metadata"]
        self.kube.patch_status(meta["namespace"], meta["name"], status)
        outcome.status_written = True

    def _condition_changed(self, monitor: Obj, cond_type: str, new: list[Obj]) -> bool:
        old = {c.get("type"): c for c in (monitor.get("status") or {}).get("conditions") or []}
        mine = next(c for c in new if c["type"] == cond_type)
        before = old.get(cond_type) or {}
        return any(before.get(k) != mine[k] for k in ("status", "reason", "message"))

    def _report_invalid(self, monitor: Obj, message: str, outcome: Outcome) -> None:
        generation = int(monitor["metadata"].get("generation", 0))
        previous = (monitor.get("status") or {}).get("conditions") or []
        conditions = st.merge_conditions(previous, st.invalid_spec_conditions(message), generation, self.now())
        changed = self._condition_changed(monitor, st.READY, conditions)
        self._write_status(monitor, {"observedGeneration": generation, "conditions": conditions}, outcome)
        if changed:
            self.kube.post_event(monitor, "Warning", st.REASON_INVALID_SPEC, message)

    def _admin_secret_condition(self, ctx: RenderContext) -> st.Condition | None:
        ref = ctx.spec.grafana.admin_secret_ref
        if ref is None:
            return None
        secret = self.kube.get("v1", "Secret", ctx.owner.namespace, ref.name)
        data = (secret or {}).get("data") or {}
        missing = [k for k in (ref.user_key, ref.password_key) if k not in data]
        if secret is None or missing:
            what = f"Secret {ref.name!r} " + ("does not exist" if secret is None else f"has no key(s) {missing}")
            return st.Condition(
                st.GRAFANA_READY,
                "False",
                st.REASON_ADMIN_SECRET_MISSING,
                f"spec.grafana.adminSecretRef: {what}; create it or remove adminSecretRef to get a generated one",
            )
        return None

    def _component_conditions(
        self, ctx: RenderContext, live: Mapping[tuple[str, str, str], Obj], outcome: Outcome
    ) -> list[st.Condition]:
        names = ctx.names
        influx = st.deployment_condition(
            st.INFLUXDB_READY, live.get(("apps/v1", "Deployment", names.influxdb_deployment))
        )
        grafana = self._admin_secret_condition(ctx) or st.deployment_condition(
            st.GRAFANA_READY, live.get(("apps/v1", "Deployment", names.grafana_deployment))
        )
        if ("v1", "ConfigMap", names.gatling_config) in live:
            published = st.Condition(
                st.CONFIG_PUBLISHED,
                "True",
                st.REASON_PUBLISHED,
                f"ConfigMap {names.gatling_config} holds {GATLING_CONF_KEY}",
            )
        else:
            published = st.Condition(st.CONFIG_PUBLISHED, "False", st.REASON_APPLY_FAILED, "ConfigMap not applied")
        parts = [influx, grafana, published]
        if outcome.errors:
            failed = st.Condition(st.READY, "False", st.REASON_APPLY_FAILED, "; ".join(outcome.errors))
            return [failed, *parts]
        return [st.ready_condition(parts), *parts]

    def _report(
        self, monitor: Obj, ctx: RenderContext, live: Mapping[tuple[str, str, str], Obj], outcome: Outcome
    ) -> None:
        generation = int(monitor["metadata"].get("generation", 0))
        previous = (monitor.get("status") or {}).get("conditions") or []
        conditions = st.merge_conditions(
            previous, self._component_conditions(ctx, live, outcome), generation, self.now()
        )
        status: Obj = {"observedGeneration": generation, "conditions": conditions, **self._addresses(ctx, live)}
        ready_changed = self._condition_changed(monitor, st.READY, conditions)
        self._write_status(monitor, status, outcome)
        if outcome.applied or outcome.pruned:
            parts = []
            if outcome.applied:
                parts.append("applied " + ", ".join(outcome.applied))
            if outcome.pruned:
                parts.append("removed " + ", ".join(outcome.pruned))
            self.kube.post_event(monitor, "Normal", "Reconciled", "; ".join(parts))
        if outcome.errors and ready_changed:
            self.kube.post_event(monitor, "Warning", st.REASON_APPLY_FAILED, "; ".join(outcome.errors))
        elif ready_changed and conditions[0]["status"] == "True":
            self.kube.post_event(monitor, "Normal", "Ready", conditions[0]["message"])

    def _addresses(self, ctx: RenderContext, live: Mapping[tuple[str, str, str], Obj]) -> Obj:
        names = ctx.names
        spec: MonitorSpec = ctx.spec
        grafana_svc = live.get(("v1", "Service", names.grafana_service))
        internal_url = f"http://{names.service_fqdn(names.grafana_service, ctx.cluster_domain)}:{GRAFANA_PORT}"
        lb_host = st.load_balancer_address(grafana_svc)
        if spec.grafana.service.type == "LoadBalancer":
            url = f"http://{lb_host}:{GRAFANA_PORT}" if lb_host else ""
        else:
            url = internal_url
        secret_name, user_key, password_key = admin_secret_location(ctx)
        host = graphite_host(ctx)
        graphite: Obj = {
            "host": host,
            "port": GRAPHITE_PORT,
            "protocol": spec.graphite.protocol,
            "address": f"{host}:{GRAPHITE_PORT}",
        }
        graphite_lb = st.load_balancer_address(live.get(("v1", "Service", names.graphite_service)))
        if spec.graphite.exposure == "InternalLoadBalancer" and graphite_lb:
            graphite["externalAddress"] = f"{graphite_lb}:{GRAPHITE_PORT}"
        grafana: Obj = {
            "url": url,
            "internalUrl": internal_url,
            "service": names.grafana_service,
            "adminSecret": {"name": secret_name, "userKey": user_key, "passwordKey": password_key},
        }
        if lb_host and self.load_balancer_state is not None:
            grafana["loadBalancerState"] = self.load_balancer_state(lb_host)
        return {
            "grafana": grafana,
            "graphite": graphite,
            "influxdb": {
                "url": f"http://{names.service_fqdn(names.influxdb_service, ctx.cluster_domain)}:8086",
                "database": spec.influxdb.database,
            },
            "gatlingConfig": {
                "configMap": names.gatling_config,
                "key": GATLING_CONF_KEY,
                "javaSystemPropertiesKey": JAVA_PROPERTIES_KEY,
            },
        }
