"""Thin kopf wiring: label-selected watches fill the store, every event queues a reconcile.

- Children are watched with a SERVER-SIDE label selector (our managed-by label), so the API server
  sends only our objects, however big the cluster; kopf keeps them in indexes (the store) and
  calls no handler before every index holds its initial listing.
- Secrets are not watched at all (RBAC has no list/watch on them): the reconcile reads the few it
  needs by name, and the resync notices a deleted one.
- Only event handlers and indexes are used, on purpose: no finalizer (deletion never hangs when the
  operator is down), no progress annotations on objects (a restart writes nothing).
- Reconciles run in a small worker pool (controller/workqueue.py); the resync queues every known monitor.
- Threads: kopf runs these sync handlers in its executor and changes its indexes on the event
  loop; the workers reconcile. Each piece of shared state has one owner and one lock: `known` and
  `ready` here (`known_lock`), the store's overlay (its reads of the indexes go through the loop),
  the reconciler's prune marks, the applier's per-monitor memory and the by-name cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import kopf

from loadtest_monitor.controller import http_serve, metrics, oplog
from loadtest_monitor.controller.reconcile import Reconciler
from loadtest_monitor.controller.store import WatchStore, slim
from loadtest_monitor.controller.workqueue import WorkQueue
from loadtest_monitor.identity import (
    API_VERSION,
    FIELD_MANAGER,
    GROUP,
    KIND,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_RUN,
    MANAGED_SELECTOR,
    PLURAL,
    VERSION,
)
from loadtest_monitor.kube.client import Kube, KubeError, load_client_config
from loadtest_monitor.settings import Settings

log = logging.getLogger(__name__)

OURS = {LABEL_MANAGED_BY: FIELD_MANAGER}

# (apiVersion, kind, plural) of every watched child kind.
CHILD_KINDS = (
    ("apps/v1", "Deployment", "deployments"),
    ("v1", "Service", "services"),
    ("v1", "ConfigMap", "configmaps"),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
)
# Pods of our Deployments (their waiting reasons make a monitor Degraded); also label-selected.
POD_PLURAL = "pods"

MonitorKey = tuple[str, str]


@dataclass
class Runtime:
    """Everything the handlers share, built once by `configure` from the Settings."""

    settings: Settings
    store: WatchStore = field(default_factory=WatchStore)
    known: set[MonitorKey] = field(default_factory=set)
    ready: dict[MonitorKey, bool] = field(default_factory=dict)  # last Ready seen, for the metrics
    known_lock: threading.Lock = field(default_factory=threading.Lock)  # event loop and workers both touch it
    reconciler: Reconciler | None = None
    queue: WorkQueue[MonitorKey] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    health_server: ThreadingHTTPServer | None = None


RUNTIME: Runtime | None = None


def configure(settings: Settings) -> None:
    """Called by `loadtest-monitor run` before kopf starts; nothing is read at import time."""
    global RUNTIME
    RUNTIME = Runtime(settings)
    # Every watch event calls one of these; kopf's INFO line per call is noise (controller/oplog.py).
    oplog.quiet_handler_successes(EVENT_HANDLER_IDS)


def _runtime() -> Runtime:
    if RUNTIME is None:
        raise RuntimeError("handlers.configure(settings) was not called before the operator started")
    return RUNTIME


def _build_reconciler(rt: Runtime, kube: Kube) -> Reconciler:
    lb_state = None
    if rt.settings.aws_lb_state:
        from loadtest_monitor.aws.load_balancers import from_environment

        lb_state = from_environment()
    watched = {(api_version, kind): True for api_version, kind, _ in CHILD_KINDS}
    watched[(API_VERSION, KIND)] = True
    return Reconciler(
        kube,
        rt.store,
        rt.settings,
        watched=watched,
        events=kube.post_event,
        write_status=kube.patch_status,
        load_balancer_state=lb_state,
    )


def _work(key: MonitorKey) -> bool:
    rt = _runtime()
    assert rt.reconciler is not None
    started = time.monotonic()
    try:
        outcome = rt.reconciler.reconcile(*key)
    except Exception:
        metrics.observe_reconcile("error", time.monotonic() - started)
        raise
    if outcome.gone:  # a deletion the watch did not deliver: the resync forgets it too
        with rt.known_lock:
            rt.known.discard(key)
            rt.ready.pop(key, None)
        rt.store.drop_monitor(*key)
        _count_monitors(rt)
        return True
    metrics.observe_reconcile(outcome.metric_label, time.monotonic() - started)
    with rt.known_lock:
        rt.ready[key] = outcome.ready
    _count_monitors(rt)
    line = oplog.reconcile_summary(*key, outcome)
    if line is not None:
        log.log(*line)
    else:
        log.debug("reconciled %s/%s: nothing changed", *key)
    return outcome.ok


def _count_monitors(rt: Runtime) -> None:
    with rt.known_lock:
        ready = sum(1 for key, is_ready in rt.ready.items() if is_ready and key in rt.known)
        not_ready = len(rt.known) - ready
    metrics.set_monitors(ready, not_ready)


# --- liveness --------------------------------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        rt = _runtime()
        ok, why = (
            (False, "not started")
            if rt.queue is None
            else rt.queue.health(rt.settings.hung_seconds, rt.settings.liveness_stale_seconds)
        )
        body = why.encode()
        self.send_response(200 if ok and self.path.startswith("/healthz") else 500 if not ok else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # probes every few seconds: not worth a log line


def _serve_health(rt: Runtime) -> None:
    if not rt.settings.liveness_port:
        return
    # Connections are bounded (http_serve): a client that sends nothing cannot hold a thread.
    rt.health_server = http_serve.serve(_Health, rt.settings.liveness_port, "0.0.0.0", "healthz")


# --- lifecycle -------------------------------------------------------------------------------


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    return kopf.login_via_client(**kwargs)


async def _resync_forever(rt: Runtime) -> None:
    while True:
        await asyncio.sleep(rt.settings.resync_seconds)
        assert rt.queue is not None
        with rt.known_lock:
            keys = sorted(rt.known)
        for key in keys:
            rt.queue.add(key)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
    rt = _runtime()
    # The reconciler posts the Events that matter; kopf would post every INFO log line too.
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # Watches that go quiet are restarted by the client too, not only by the server.
    settings.networking.connect_timeout = 10
    for api_version, _, plural in CHILD_KINDS:
        settings.watching.label_selectors[api_version, plural] = MANAGED_SELECTOR
    settings.watching.label_selectors["v1", POD_PLURAL] = MANAGED_SELECTOR
    for api_version, kind, plural in CHILD_KINDS:
        rt.store.attach(api_version, kind, kwargs[f"{plural}_index"])
    rt.store.attach(API_VERSION, KIND, kwargs["monitors_index"])
    rt.store.attach_pods(kwargs["pods_index"])
    # kopf changes the indexes on this thread: the workers' reads of them are made here too.
    rt.store.read_on(asyncio.get_running_loop())
    kube = Kube(load_client_config(), timeout=rt.settings.request_timeout)
    rt.reconciler = _build_reconciler(rt, kube)
    rt.queue = WorkQueue(
        _work,
        workers=rt.settings.workers,
        retry_min=rt.settings.retry_min_seconds,
        retry_max=rt.settings.retry_max_seconds,
    )
    rt.queue.start()
    _serve_health(rt)  # healthy while it waits below: an idle queue is a live operator
    await _wait_until_monitors_served(kube)
    rt.tasks.append(asyncio.create_task(_resync_forever(rt)))


async def _wait_until_monitors_served(kube: Kube) -> None:
    """Waits until API discovery serves the CRD, before kopf starts watching.

    kopf looks the resource up once when its watches start, and again only on a CRD watch event.
    If the CRD is created along with the operator (a GitOps sync, `up`), its last event can come
    before discovery serves it, and kopf would then never watch the monitors. kopf starts its
    watches only after the startup handlers, so this wait makes its first lookup succeed.
    """
    loop = asyncio.get_running_loop()
    waited = False
    while True:
        try:
            if await loop.run_in_executor(None, kube.monitors_served):
                break
        except KubeError as err:
            log.warning("cannot read API discovery: %s; retrying", err)
        if not waited:
            log.warning("%s.%s is not served yet (is the CRD installed?); waiting for it", PLURAL, GROUP)
            waited = True
        await asyncio.sleep(2)
    if waited:
        log.info("%s.%s is served; starting the watches", PLURAL, GROUP)


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    rt = _runtime()
    for task in rt.tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if rt.queue is not None:
        await asyncio.get_running_loop().run_in_executor(None, rt.queue.stop)
    if rt.health_server is not None:
        rt.health_server.shutdown()


# --- watches ---------------------------------------------------------------------------------


def _by_name(namespace: str | None, name: str | None, body: kopf.Body) -> dict[tuple[str, str], Any]:
    return {(namespace or "", name or ""): slim(dict(body))}


@kopf.index(GROUP, VERSION, PLURAL)
def monitors_index(namespace: str | None, name: str | None, body: kopf.Body, **_: Any) -> Any:
    return _by_name(namespace, name, body)


@kopf.index("apps", "v1", "deployments", labels=OURS)
def deployments_index(namespace: str | None, name: str | None, body: kopf.Body, **_: Any) -> Any:
    return _by_name(namespace, name, body)


@kopf.index("", "v1", "services", labels=OURS)
def services_index(namespace: str | None, name: str | None, body: kopf.Body, **_: Any) -> Any:
    return _by_name(namespace, name, body)


@kopf.index("", "v1", "configmaps", labels=OURS)
def configmaps_index(namespace: str | None, name: str | None, body: kopf.Body, **_: Any) -> Any:
    return _by_name(namespace, name, body)


@kopf.index("", "v1", "persistentvolumeclaims", labels=OURS)
def persistentvolumeclaims_index(namespace: str | None, name: str | None, body: kopf.Body, **_: Any) -> Any:
    return _by_name(namespace, name, body)


@kopf.index("networking.k8s.io", "v1", "networkpolicies", labels=OURS)
def networkpolicies_index(namespace: str | None, name: str | None, body: kopf.Body, **_: Any) -> Any:
    return _by_name(namespace, name, body)


@kopf.index("", "v1", POD_PLURAL, labels=OURS)
def pods_index(namespace: str | None, name: str | None, body: kopf.Body, labels: kopf.Labels, **_: Any) -> Any:
    """Per monitor, only what the status reads: name, labels and container states. Runner pods of
    LoadtestRuns (loadtest.dev/run) are not a monitor's: controller/run_handlers.py indexes them."""
    if LABEL_RUN in labels:
        return {}
    status = body.get("status") or {}
    summary = {
        "metadata": {"name": name, "labels": dict(labels)},
        "status": {k: status.get(k) for k in ("containerStatuses", "initContainerStatuses") if status.get(k)},
    }
    return {(namespace or "", labels.get(LABEL_INSTANCE, "")): summary}


@kopf.on.event(GROUP, VERSION, PLURAL)
def monitor_event(*, type: str, namespace: str | None, name: str, **_: Any) -> None:
    rt = _runtime()
    if namespace is None or rt.queue is None:
        return
    key = (namespace, name)
    if type == "DELETED":
        with rt.known_lock:
            rt.known.discard(key)
            rt.ready.pop(key, None)
        _count_monitors(rt)
        rt.queue.forget(key)
        rt.store.drop_monitor(namespace, name)
        if rt.reconciler is not None:
            rt.reconciler.forget(namespace, name)
        return
    with rt.known_lock:
        rt.known.add(key)
    rt.queue.add(key)


def _child_event(*, namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
    rt = _runtime()
    owner = labels.get(LABEL_INSTANCE)
    with rt.known_lock:
        known = (namespace or "", owner or "") in rt.known
    if namespace and owner and known and rt.queue is not None:
        rt.queue.add_soon((namespace, owner), rt.settings.child_settle_seconds)


for _api_version, _kind, _plural in CHILD_KINDS:
    kopf.on.event(_api_version, _plural, labels=OURS)(_child_event)
kopf.on.event("v1", POD_PLURAL, labels=OURS)(_child_event)

# kopf names a handler by its function's qualified name (its `id`); these are every watch-event
# handler registered above, whose per-call success line oplog demotes to DEBUG
# (tests/unit/test_operator_log.py runs events through kopf and checks these are the names it logs).
EVENT_HANDLER_IDS = frozenset({"monitor_event", _child_event.__qualname__})
