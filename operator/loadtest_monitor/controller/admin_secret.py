"""A user-supplied Grafana admin Secret (spec.grafana.adminSecretRef): its owner's opt-in and its keys.

The operator can read every Secret, a monitor's author maybe none: a Secret is mounted only when its
ADMIN_SECRET_OPT_IN annotation names the monitor (identity.py says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadtest_monitor.controller import status as st
from loadtest_monitor.controller.apply import Lookup
from loadtest_monitor.identity import ADMIN_SECRET_OPT_IN
from loadtest_monitor.kube.client import KubeError
from loadtest_monitor.render.common import RenderContext


def admin_secret_condition(ctx: RenderContext, lookup: Lookup) -> st.Condition | None:
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

def admin_secret_blocked(ctx: RenderContext, lookup: Lookup) -> dict[str, str]:
    """The referenced admin Secret as blocked while it is not opted in: Grafana's Deployment,
    which would mount it, is then neither created nor changed (an existing one stays as it is)."""
    cond = admin_secret_condition(ctx, lookup)
    ref = ctx.spec.grafana.admin_secret_ref
    if ref is None or cond is None or cond.reason != st.REASON_ADMIN_SECRET_NOT_ALLOWED:
        return {}
    return {f"Secret/{ref.name}": cond.message}


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
