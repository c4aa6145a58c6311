"""The generated credentials of a monitor, read from its Secrets by name (Secrets are never watched).

Existing values are kept, missing ones made; a Secret that cannot be read, is not ours or is not valid
base64 blocks what mounts it for this pass, and is never regenerated over.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from loadtest_monitor.controller.admin_secret import admin_secret_blocked
from loadtest_monitor.controller.apply import CONFLICT, FAILED, ChildResult, Lookup, conflict_message, is_ours
from loadtest_monitor.kube.client import KubeError
from loadtest_monitor.render.common import RenderContext
from loadtest_monitor.render.monitor import generated_secrets

PASSWORD_BYTES = 24  # token_urlsafe(24) gives 32 characters
Credentials = dict[str, dict[str, str]]  # Secret name -> key -> value


def read_credentials(
    ctx: RenderContext, lookup: Lookup, results: list[ChildResult]
) -> tuple[Credentials, dict[str, str]]:
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
            results.append(ChildResult("Secret", secret_name, FAILED, blocked[label]))
            continue
        if live is not None and not is_ours(live, ctx.owner):
            blocked[label] = conflict_message("Secret", secret_name)
            results.append(ChildResult("Secret", secret_name, CONFLICT, blocked[label]))
            continue
        values: dict[str, str] = {}
        try:
            for key, encoded in ((live or {}).get("data") or {}).items():
                values[key] = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, TypeError):
            blocked[label] = f"Secret {secret_name}: key {key!r} is not valid base64 text; fix or delete it"
            results.append(ChildResult("Secret", secret_name, FAILED, blocked[label]))
            continue
        for key in keys:
            if not values.get(key):
                values[key] = secrets.token_urlsafe(PASSWORD_BYTES)
        credentials[secret_name] = values
    for secret_name in generated_secrets(ctx):
        credentials.setdefault(secret_name, {k: "" for k in generated_secrets(ctx)[secret_name]})
    blocked.update(admin_secret_blocked(ctx, lookup))
    return credentials, blocked
