"""One reconcile of one LoadtestMonitor: read, render, apply what changed, prune, report.

Level-triggered and idempotent: the monitor and its children come from the watch-fed store,
only what differs from what we applied is written, and status only when it changed. Running it
again (after a crash, a restart, or for an event it caused itself) creates nothing twice and
writes nothing. A failure is never a deletion: what could not be applied stays as it is, and
the status names it.

Deleting: what may be deleted is decided from the spec alone, `prunable(ctx)` minus every child
rendered as desired this pass, never from what the pass happened to reach; and only a pass that
completed prunes (every desired child read and applied or unchanged, every credential read, no
deadline break, no exception). A pass cut short deletes nothing; the retry does what is left.
A conflict (somebody else's object holding a child's name) does not stop the prune: it waits for
a human, and the children it may delete are unwanted by the spec whatever the conflict.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtest_monitor.controller import status as st
from loadtest_monitor.controller.apply import (
    CONFLICT,
    FAILED,
    PRUNED,
    WRITES,
    Applier,
    ChildResult,
    Client,
    Lookup,
    NameCache,
    conflict_message,
    is_ours,
)
from loadtest_monitor.controller.store import Store
from loadtest_monitor.identity import ADMIN_SECRET_OPT_IN, API_VERSION, GATLING_CONF_KEY, KIND, LABEL_NAME
from loadtest_monitor.kube.client import KubeError, Obj
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.monitor import generated_secrets, render_all
from loadtest_monitor.settings import Settings
from loadtest_monitor.spec.monitor import SpecError, parse_spec

log = logging.getLogger(__name__)

PASSWORD_BYTES = 24  # token_urlsafe(24) gives 32 characters
Credentials = dict[str, dict[str, str]]  # Secret name -> key -> value


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def possible_secret_names(ctx: RenderContext) -> tuple[str, ...]:
    """Every Secret a monitor of this name can have, wanted or not (pruned by name, never listed)."""
    return (ctx.names.grafana_admin_secret, ctx.names.influxdb_auth_secret)


def prunable(ctx: RenderContext) -> list[tuple[str, str, str]]:
    """Children that stop being wanted when the spec changes (storage, NetworkPolicy, own Secrets)."""
    names = ctx.names
    return [
        ("v1", "PersistentVolumeClaim", names.influxdb_pvc),
        ("v1", "PersistentVolumeClaim", names.grafana_pvc),
        ("networking.k8s.io/v1", "NetworkPolicy", names.network_policy),
        ("networking.k8s.io/v1", "NetworkPolicy", names.grafana_network_policy),
        *(("v1", "Secret", name) for name in possible_secret_names(ctx)),
    ]


# ----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one reconcile did; handlers log it, tests and benchmarks read it."""

    results: list[ChildResult] = field(default_factory=list)
    status_written: bool = False
    invalid: str = ""
    gone: bool = False  # the monitor no longer exists (or is being deleted)
    ready: bool = False  # the Ready condition this pass computed (for the operator's metrics)

    def _labels(self, *actions: str) -> list[str]:
        return [r.label for r in self.results if r.action in actions]

    @property
    def applied(self) -> list[str]:
        return self._labels(*(a for a in WRITES if a != PRUNED))

    @property
    def pruned(self) -> list[str]:
        return self._labels(PRUNED)

    @property
    def errors(self) -> list[str]:
        return [r.message for r in self.results if r.action == FAILED]

    @property
    def conflicts(self) -> list[str]:
        return [r.message for r in self.results if r.action == CONFLICT]

    @property
    def metric_label(self) -> str:
        """The outcome as the operator's metrics name it (metrics.OUTCOMES)."""
        if self.invalid:
            return "invalid"
        if self.errors:
            return "error"
        return "conflict" if self.conflicts else "ok"

    @property
    def ok(self) -> bool:
        """False asks for a retry in seconds (a conflict waits for the resync: a human must act)."""
        return not self.errors


class Reconciler:
    def __init__(
        self,
        kube: Client,
        store: Store,
        settings: Settings,
        *,
        watched: Mapping[tuple[str, str], bool],
        events: Callable[[Obj, str, str, str], None],
        write_status: Callable[[str, str, Obj], Obj],
        now: Callable[[], str] = _now,
        load_balancer_state: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.store = store
        self.settings = settings
        self.watched = watched
        self.events = events
        self.write_status = write_status
        self.now = now
        self.load_balancer_state = load_balancer_state
        self.clock = clock  # the reconcile deadline's clock (tests move it)
        self.applier = Applier(kube)
        self.by_name = NameCache(max_age=settings.resync_seconds / 2)
        # monitor -> (uid, generation) last pruned; the workers and the event loop's forget() share
        # it, so every access holds _lock (the applier and the name cache have locks of their own).
        self._pruned: dict[tuple[str, str], tuple[str, int]] = {}
        self._lock = threading.Lock()

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._pruned.pop((namespace, name), None)
        self.applier.forget_monitor(namespace, name)
        self.by_name.drop(namespace, name)

    def reconcile(self, namespace: str, name: str) -> Outcome:
        outcome = Outcome()
        monitor = self.store.get(API_VERSION, KIND, namespace, name)
        if monitor is None or monitor["metadata"].get("deletionTimestamp"):
            self.forget(namespace, name)
            outcome.gone = True
            return outcome  # children go with the garbage collector
        try:
            spec = parse_spec(monitor.get("spec"))
        except SpecError as err:
            outcome.invalid = str(err)
            self._report(monitor, None, st.invalid_spec_conditions(str(err)), outcome)
            return outcome
        deadline = self.clock() + self.settings.reconcile_deadline
        ctx = RenderContext(
            Owner(name, namespace, monitor["metadata"]["uid"]),
            spec,
            self.settings.cluster_domain,
            self.settings.load_balancer_mode,
        )
        lookup = Lookup(self.kube, self.store, self.watched, self.by_name, (namespace, name))
        credentials, blocked = self._credentials(ctx, lookup, outcome)
        desired = render_all(ctx, credentials)
        if self._apply_all(ctx, desired, lookup, blocked, outcome, deadline):
            self._prune(ctx, monitor, lookup, outcome, {_label_of(obj) for obj in desired})
        self._report(monitor, ctx, self._conditions(ctx, lookup, outcome), outcome)
        return outcome

    def _apply_all(
        self,
        ctx: RenderContext,
        desired: list[Obj],
        lookup: Lookup,
        blocked: dict[str, str],
        outcome: Outcome,
        deadline: float,
    ) -> bool:
        """Applies what changed, in order; True when the pass completed (then it may prune).

        Not complete: the deadline passed before every child was handled, or anything FAILED
        (a credential that could not be read, an apply the API server refused or did not answer).
        """
        for obj in desired:
            if self.clock() > deadline:
                outcome.results.append(ChildResult(obj["kind"], "", FAILED, "reconcile deadline passed; retrying"))
                return False
            if _uses_any(obj, blocked):
                continue  # what it mounts is unreadable or not ours: leave the child as it is
            result = self.applier.apply(ctx.owner, obj, lookup)
            outcome.results.append(result)
            if result.action == CONFLICT:
                blocked[result.label] = result.message
        return not outcome.errors

    # --- parts -------------------------------------------------------------------------------

    def _credentials(self, ctx: RenderContext, lookup: Lookup, outcome: Outcome) -> tuple[Credentials, dict[str, str]]:
        """Generated Secrets read by name: existing values kept, missing ones made; never on an error.

        Returns (credentials, blocked): `blocked` names Secrets (as "Secret/<name>") that could not
        be read, decoded, or are not ours, and an adminSecretRef Secret that has not opted in; they
        and what mounts them are left untouched this pass.
        """
        credentials: Credentials = {}
        blocked: dict[str, str] = {}
        for secret_name, keys in generated_secrets(ctx).items():
            label = f"Secret/{secret_name}"
            try:
                live = lookup.get("v1", "Secret", ctx.owner.namespace, secret_name)
            except KubeError as err:
                blocked[label] = f"Secret {secret_name}: cannot be read ({err}); not regenerated"
                outcome.results.append(ChildResult("Secret", secret_name, FAILED, blocked[label]))
                continue
            if live is not None and not is_ours(live, ctx.owner):
                blocked[label] = conflict_message("Secret", secret_name)
                outcome.results.append(ChildResult("Secret", secret_name, CONFLICT, blocked[label]))
                continue
            values: dict[str, str] = {}
            try:
                for key, encoded in ((live or {}).get("data") or {}).items():
                    values[key] = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError, TypeError):
                blocked[label] = f"Secret {secret_name}: key {key!r} is not valid base64 text; fix or delete it"
                outcome.results.append(ChildResult("Secret", secret_name, FAILED, blocked[label]))
                continue
            for key in keys:
                if not values.get(key):
                    values[key] = secrets.token_urlsafe(PASSWORD_BYTES)
            credentials[secret_name] = values
        for secret_name in generated_secrets(ctx):
            credentials.setdefault(secret_name, {k: "" for k in generated_secrets(ctx)[secret_name]})
        blocked.update(self._admin_secret_blocked(ctx, lookup))
        return credentials, blocked

    def _prune(self, ctx: RenderContext, monitor: Obj, lookup: Lookup, outcome: Outcome, wanted: set[str]) -> None:
        """Removes children the spec no longer wants (`wanted`: every label rendered this pass).

        Called only after a completed pass. Secrets cost a GET each, so only after a spec change.
        """
        generation = int(monitor["metadata"].get("generation", 0))
        key = (ctx.owner.namespace, ctx.owner.name)
        spec_changed = self._pruned_generation(key) != (ctx.owner.uid, generation)
        clean = True
        for api_version, kind, name in prunable(ctx):
            if f"{kind}/{name}" in wanted or (not self.watched.get((api_version, kind)) and not spec_changed):
                continue
            result = self.applier.prune(ctx.owner, api_version, kind, name, lookup)
            if result is not None:
                outcome.results.append(result)
                clean = clean and result.action != FAILED
        if clean:
            with self._lock:
                self._pruned[key] = (ctx.owner.uid, generation)

    def _pruned_generation(self, key: tuple[str, str]) -> tuple[str, int] | None:
        with self._lock:
            return self._pruned.get(key)

    def _admin_secret_condition(self, ctx: RenderContext, lookup: Lookup) -> st.Condition | None:
        """GrafanaReady False while the referenced admin Secret is missing, not opted in, or lacks a key.

        The opt-in is checked before the keys: a monitor's author learns nothing about the keys of a
        Secret whose owner has not let this monitor use it.
        """
        ref = ctx.spec.grafana.admin_secret_ref
        if ref is None:
            return None
        try:
            secret = lookup.get("v1", "Secret", ctx.owner.namespace, ref.name)
        except KubeError as err:
            return st.Condition(st.GRAFANA_READY, "Unknown", st.REASON_APPLY_FAILED, f"Secret {ref.name}: {err}")
        if secret is not None and not admin_secret_allows(secret, ctx.owner.name):
            return st.Condition(
                st.GRAFANA_READY,
                "False",
                st.REASON_ADMIN_SECRET_NOT_ALLOWED,
                admin_secret_not_allowed_message(secret, ctx.owner.name, ctx.owner.namespace),
            )
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

    def _admin_secret_blocked(self, ctx: RenderContext, lookup: Lookup) -> dict[str, str]:
        """The referenced admin Secret as blocked while it is not opted in: Grafana's Deployment,
        which would mount it, is then neither created nor changed (an existing one stays as it is)."""
        cond = self._admin_secret_condition(ctx, lookup)
        ref = ctx.spec.grafana.admin_secret_ref
        if ref is None or cond is None or cond.reason != st.REASON_ADMIN_SECRET_NOT_ALLOWED:
            return {}
        return {f"Secret/{ref.name}": cond.message}

    def _conditions(self, ctx: RenderContext, lookup: Lookup, outcome: Outcome) -> list[st.Condition]:
        names, ns = ctx.names, ctx.owner.namespace
        pods = self.store.pods(ns, ctx.owner.name)

        def component(cond_type: str, deployment: str, app: str) -> st.Condition:
            live = lookup.get("apps/v1", "Deployment", ns, deployment)
            if live is not None and not is_ours(live, ctx.owner):
                live = None
            own_pods = [p for p in pods if _app_of(p) == app]
            return st.deployment_condition(cond_type, live, own_pods)

        influx = component(st.INFLUXDB_READY, names.influxdb_deployment, "influxdb")
        if influx.status == "True":  # running, but did the bootstrap apply the retention and users?
            influx = st.bootstrap_failure(influx, [p for p in pods if _app_of(p) == "influxdb"])
        grafana = self._admin_secret_condition(ctx, lookup) or component(
            st.GRAFANA_READY, names.grafana_deployment, "grafana"
        )
        config = next((r for r in outcome.results if r.label == f"ConfigMap/{names.gatling_config}"), None)
        if config is not None and config.action not in (FAILED, CONFLICT):
            published = st.Condition(
                st.CONFIG_PUBLISHED,
                "True",
                st.REASON_PUBLISHED,
                f"ConfigMap {names.gatling_config} holds {GATLING_CONF_KEY}",
            )
        else:
            reason = (
                st.REASON_NAME_CONFLICT if config is not None and config.action == CONFLICT else st.REASON_APPLY_FAILED
            )
            published = st.Condition(st.CONFIG_PUBLISHED, "False", reason, config.message if config else "not applied")
        parts = [influx, grafana, published]
        if outcome.conflicts:
            return [st.Condition(st.READY, "False", st.REASON_NAME_CONFLICT, "; ".join(outcome.conflicts)), *parts]
        if outcome.errors:
            return [st.Condition(st.READY, "False", st.REASON_APPLY_FAILED, "; ".join(outcome.errors)), *parts]
        return [st.ready_condition(parts), *parts]

    def _report(
        self, monitor: Obj, ctx: RenderContext | None, conditions: list[st.Condition], outcome: Outcome
    ) -> None:
        """Writes status as a whole (keys no longer computed are removed) and the Events that matter."""
        meta = monitor["metadata"]
        generation = int(meta.get("generation", 0))
        old_status: Obj = monitor.get("status") or {}
        merged = st.merge_conditions(old_status.get("conditions") or [], conditions, generation, self.now())
        new_status: Obj = {"observedGeneration": generation, "conditions": merged}
        outcome.ready = merged[0]["status"] == "True"
        if ctx is not None:
            grafana_svc = self.store.get("v1", "Service", ctx.owner.namespace, ctx.names.grafana_service)
            graphite_svc = self.store.get("v1", "Service", ctx.owner.namespace, ctx.names.graphite_service)
            new_status.update(st.addresses(ctx, grafana_svc, graphite_svc, self.load_balancer_state))
        else:  # invalid spec: the addresses of the last good spec still describe what runs
            new_status.update({k: v for k, v in old_status.items() if k not in new_status})
        patch = st.status_patch(old_status, new_status)
        if patch:
            try:
                response = self.write_status(meta["namespace"], meta["name"], patch)
                self.store.remember(response, meta["name"])
                outcome.status_written = True
            except KubeError as err:
                log.warning("status of %s/%s not written: %s", meta["namespace"], meta["name"], err)
                outcome.results.append(ChildResult(KIND, meta["name"], FAILED, f"status: {err}"))
        self._post_events(monitor, merged, outcome)

    def _post_events(self, monitor: Obj, merged: list[Obj], outcome: Outcome) -> None:
        before = {c.get("type"): c for c in (monitor.get("status") or {}).get("conditions") or []}.get(st.READY) or {}
        ready = merged[0]
        changed = any(before.get(k) != ready[k] for k in ("status", "reason", "message"))
        notes: list[tuple[str, str, str]] = []
        if outcome.invalid and changed:
            notes.append(("Warning", st.REASON_INVALID_SPEC, outcome.invalid))
        parts = []
        first = not (monitor.get("status") or {}).get("conditions")
        if outcome.applied and not first:  # the first pass creates everything: its Ready Event says so
            parts.append("applied " + ", ".join(outcome.applied))
        if outcome.pruned:
            parts.append("removed " + ", ".join(outcome.pruned))
        if parts:
            notes.append(("Normal", "Reconciled", "; ".join(parts)))
        # A state the user must act on (a missing admin Secret, a crash loop, a retention InfluxDB
        # refused ...) is a Warning once it starts; a conflict or a failed apply again whenever
        # its message names something else. Progressing is not a problem, InvalidSpec is above.
        started = any(before.get(k) != ready[k] for k in ("status", "reason"))
        again = changed and ready["reason"] in (st.REASON_NAME_CONFLICT, st.REASON_APPLY_FAILED)
        if (
            ready["status"] == "False"
            and ready["reason"] not in (st.REASON_PROGRESSING, st.REASON_INVALID_SPEC)
            and (started or again)
        ):
            notes.append(("Warning", ready["reason"], ready["message"]))
        elif changed and ready["status"] == "True":
            notes.append(("Normal", "Ready", ready["message"]))
        for event_type, reason, message in notes:
            try:
                self.events(monitor, event_type, reason, message)
            except KubeError as err:  # an Event is a courtesy: never a reason to fail the reconcile
                log.warning("Event %s on %s not posted: %s", reason, monitor["metadata"]["name"], err)


def admin_secret_allows(secret: Mapping[str, Any], monitor: str) -> bool:
    """Does the Secret's ADMIN_SECRET_OPT_IN annotation name this monitor?"""
    value = ((secret.get("metadata") or {}).get("annotations") or {}).get(ADMIN_SECRET_OPT_IN, "")
    return monitor in _opted_in(value)


def _opted_in(value: Any) -> list[str]:
    return [part.strip() for part in str(value).split(",") if part.strip()]


def admin_secret_not_allowed_message(secret: Mapping[str, Any], monitor: str, namespace: str) -> str:
    """Names the Secret, the annotation and the command that opts it in (keeping monitors named already)."""
    meta = secret.get("metadata") or {}
    name = str(meta.get("name", ""))
    present = _opted_in((meta.get("annotations") or {}).get(ADMIN_SECRET_OPT_IN, ""))
    overwrite = " --overwrite" if present else ""
    value = ",".join([*present, monitor])
    return (
        f"spec.grafana.adminSecretRef: Secret {name!r} does not allow this monitor to mount it: its "
        f"annotation {ADMIN_SECRET_OPT_IN} must name {monitor!r}; whoever owns the Secret runs "
        f"`kubectl annotate{overwrite} secret {name} -n {namespace} {ADMIN_SECRET_OPT_IN}={value}` "
        "(Grafana is not deployed or changed until then)"
    )


# Kinds a pod mounts by name: a Deployment that would mount one that is not ours waits.
_MOUNTED = ("Secret/", "ConfigMap/", "PersistentVolumeClaim/")


def _label_of(obj: Mapping[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def _app_of(pod: Mapping[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(LABEL_NAME, ""))


def _uses_any(obj: Mapping[str, Any], blocked: Mapping[str, str]) -> bool:
    """Is `obj` blocked itself, or does it mount a blocked Secret, ConfigMap or PVC?"""
    if not blocked:
        return False
    label = f"{obj['kind']}/{obj['metadata']['name']}"
    if label in blocked:
        return True
    text = json.dumps(obj.get("spec") or {})
    return any(f'"{name.split("/", 1)[1]}"' in text for name in blocked if name.startswith(_MOUNTED))
