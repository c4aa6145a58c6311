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

Beside it: credentials.py reads the generated Secrets, admin_secret.py judges a user's admin Secret,
outcome.py holds what a pass did and the Events it posts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from loadtest_monitor.controller import status as st
from loadtest_monitor.controller.admin_secret import admin_secret_condition
from loadtest_monitor.controller.apply import (
    CONFLICT,
    FAILED,
    Applier,
    ChildResult,
    Client,
    Lookup,
    NameCache,
    is_ours,
)
from loadtest_monitor.controller.credentials import read_credentials
from loadtest_monitor.controller.outcome import Outcome, event_notes
from loadtest_monitor.controller.store import Store
from loadtest_monitor.identity import API_VERSION, GATLING_CONF_KEY, KIND, LABEL_NAME
from loadtest_monitor.kube import kinds
from loadtest_monitor.kube.client import KubeError
from loadtest_monitor.obj import Obj
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.grafana import APP as GRAFANA_APP
from loadtest_monitor.render.influxdb import APP as INFLUXDB_APP
from loadtest_monitor.render.monitor import render_all
from loadtest_monitor.settings import Settings
from loadtest_monitor.spec.monitor import SpecError, parse_spec

log = logging.getLogger(__name__)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prunable(ctx: RenderContext) -> list[tuple[str, str, str]]:
    """Children that stop being wanted when the spec changes: every name of each prunable kind of the
    table (kube/kinds.py: storage, NetworkPolicies, our own Secrets)."""
    return [(k.api_version, k.kind, name) for k in kinds.PRUNABLE for name in ctx.names.of_kind(k.kind)]


# ----------------------------------------------------------------------------------------------


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
            self.settings.operator_namespace,
        )
        lookup = Lookup(self.kube, self.store, self.watched, self.by_name, (namespace, name))
        credentials, blocked = read_credentials(ctx, lookup, outcome.results)
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

    def _conditions(self, ctx: RenderContext, lookup: Lookup, outcome: Outcome) -> list[st.Condition]:
        names, ns = ctx.names, ctx.owner.namespace
        pods = self.store.pods(ns, ctx.owner.name)

        def component(cond_type: str, deployment: str, app: str) -> st.Condition:
            live = lookup.get("apps/v1", "Deployment", ns, deployment)
            if live is not None and not is_ours(live, ctx.owner):
                live = None
            own_pods = [p for p in pods if _app_of(p) == app]
            return st.deployment_condition(cond_type, live, own_pods)

        influx = component(st.INFLUXDB_READY, names.influxdb_deployment, INFLUXDB_APP)
        if influx.status == "True":  # running, but did the bootstrap apply the retention and users?
            influx = st.bootstrap_failure(influx, [p for p in pods if _app_of(p) == INFLUXDB_APP])
        grafana = admin_secret_condition(ctx, lookup) or component(
            st.GRAFANA_READY, names.grafana_deployment, GRAFANA_APP
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
        for event_type, reason, message in event_notes(monitor, merged, outcome):
            try:
                self.events(monitor, event_type, reason, message)
            except KubeError as err:  # an Event is a courtesy: never a reason to fail the reconcile
                log.warning("Event %s on %s not posted: %s", reason, monitor["metadata"]["name"], err)

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
