"""Thin kopf handlers: every event about a monitor or one of its children asks for a reconcile.

Only event handlers are used, on purpose: they add no finalizer (deletion never hangs when the
operator is down), store no progress annotations on the object (a restart writes nothing), and
make the operator level-triggered. A resync every minute is the safety net for missed events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import kopf

from loadtest_monitor.identity import FIELD_MANAGER, GROUP, LABEL_INSTANCE, LABEL_MANAGED_BY, PLURAL, VERSION
from loadtest_monitor.kube import Kube, load_client_config
from loadtest_monitor.reconcile import Reconciler
from loadtest_monitor.render.common import parse_load_balancer_mode

log = logging.getLogger(__name__)

RESYNC_SECONDS = float(os.environ.get("LTM_RESYNC_SECONDS", "60"))
CLUSTER_DOMAIN = os.environ.get("LTM_CLUSTER_DOMAIN", "cluster.local")
LOAD_BALANCER_MODE = parse_load_balancer_mode(os.environ.get("LTM_LOAD_BALANCER_MODE", ""))

# Children whose changes (a hand edit, a deletion, a rollout's progress) concern their monitor.
# Secrets are left out on purpose: watching them means receiving every Secret of the cluster
# (and the RBAC to do so); the resync restores a deleted admin Secret instead.
CHILD_RESOURCES = (
    ("apps/v1", "deployments"),
    ("v1", "services"),
    ("v1", "configmaps"),
    ("v1", "persistentvolumeclaims"),
    ("networking.k8s.io/v1", "networkpolicies"),
)


class OperatorState:
    """What the handlers share: the reconciler and the monitors seen so far (for the resync)."""

    def __init__(self) -> None:
        self.reconciler: Reconciler | None = None
        self.known: set[tuple[str, str]] = set()
        self.resync_task: asyncio.Task[None] | None = None

    def require(self) -> Reconciler:
        if self.reconciler is None:
            lb_state = None
            if os.environ.get("LTM_AWS_LB_STATE", "").lower() in ("1", "true", "yes"):
                from loadtest_monitor.aws.load_balancers import from_environment

                lb_state = from_environment()
            self.reconciler = Reconciler(
                Kube(load_client_config()),
                CLUSTER_DOMAIN,
                load_balancer_state=lb_state,
                load_balancer_mode=LOAD_BALANCER_MODE,
            )
        return self.reconciler


STATE = OperatorState()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    return kopf.login_via_client(**kwargs)


async def _resync_forever() -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(RESYNC_SECONDS)
        for namespace, name in sorted(STATE.known):
            try:
                await loop.run_in_executor(None, STATE.require().request, namespace, name)
            except Exception:  # one broken monitor must not stop the others' resync
                log.exception("resync of %s/%s failed", namespace, name)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    # The reconciler posts the Events that matter; kopf would post every INFO log line too.
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    STATE.require()
    STATE.resync_task = asyncio.create_task(_resync_forever())


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if STATE.resync_task is not None:
        STATE.resync_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await STATE.resync_task


@kopf.on.event(GROUP, VERSION, PLURAL)
def monitor_event(*, type: str, namespace: str | None, name: str, **_: Any) -> None:
    if namespace is None:
        return
    if type == "DELETED":
        STATE.known.discard((namespace, name))
        return
    STATE.known.add((namespace, name))
    STATE.require().request(namespace, name)


def _child_event(*, namespace: str | None, labels: kopf.Labels, **_: Any) -> None:
    owner = labels.get(LABEL_INSTANCE)
    if namespace and owner and (namespace, owner) in STATE.known:
        STATE.require().request(namespace, owner)


for _api_version, _plural in CHILD_RESOURCES:
    kopf.on.event(_api_version, _plural, labels={LABEL_MANAGED_BY: FIELD_MANAGER})(_child_event)
