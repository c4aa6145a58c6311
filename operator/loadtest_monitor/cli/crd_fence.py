"""The fence `down --uninstall` puts on the CRD before its last look for monitors.

A validation rule that no monitor passes (CEL `false`, which kube-apiserver 1.27 evaluates, unlike
a ValidatingAdmissionPolicy) is added to the root schema of every version: from the moment the
API server enforces it, no monitor can be created, so "no monitors left", checked after that
moment, stays true until the CRD is deleted (a terminating CRD refuses new objects by itself).
Enforcement is proven with a server-side dry run of a create, not assumed. `up` lifts a fence
that an interrupted uninstall left behind.
"""

from __future__ import annotations

import copy
import time

from loadtest_monitor.identity import API_VERSION, CRD_NAME, KIND
from loadtest_monitor.kube.rest import CRD_API, Rest, RestError, path
from loadtest_monitor.obj import Obj

# A CEL rule that no monitor passes: while it is on the CRD, no monitor can be created.
FENCE_MARK = "loadtest-monitor down --uninstall is deleting this CRD"
FENCE = {
    "rule": "false",
    "message": f"{FENCE_MARK}: no LoadtestMonitor can be written now "
    "(if that command was interrupted, re-apply the CRD to lift this rule)",
}

FENCE_PROOF_SECONDS = 30.0
PROBE_NAMESPACE = "default"  # exists in every cluster and cannot be deleted
# The probe proves the fence on the API server that answered it. With several API servers (EKS runs
# two or more), each learns of the CRD change through its own watch, normally within milliseconds:
# this pause lets a lagging one catch up before the caller looks for monitors one last time.
FENCE_SETTLE_SECONDS = 2.0


def _is_fence(rule: Obj) -> bool:
    return rule.get("rule") == FENCE["rule"] and rule.get("message") == FENCE["message"]


def with_fence(crd: Obj, on: bool) -> Obj:
    """The CRD with the fence rule added to (or removed from) every version's root schema."""
    out = copy.deepcopy(crd)
    out["metadata"].pop("managedFields", None)
    for version in out["spec"]["versions"]:
        schema = version.setdefault("schema", {}).setdefault("openAPIV3Schema", {})
        rules = [r for r in schema.get("x-kubernetes-validations") or [] if not _is_fence(r)]
        schema["x-kubernetes-validations"] = [*rules, dict(FENCE)] if on else rules
        if not schema["x-kubernetes-validations"]:
            del schema["x-kubernetes-validations"]
    return out


def enforced(rest: Rest) -> bool:
    """A server-side dry run of creating a monitor: refused with the fence's message once it holds."""
    probe = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "uninstall-probe"}}
    try:
        rest.call("POST", path(API_VERSION, KIND, PROBE_NAMESPACE), body=probe, query=[("dryRun", "All")])
    except RestError as err:
        if FENCE_MARK in str(err):
            return True
        if err.status == 409:
            return False  # a monitor of that name exists: the re-check will find it
        if err.status in (429, 503):
            # The API server is swapping the CRD's storage for the new schema ("apiserver is
            # shutting down" from the old one) or is busy: not enforced yet, ask again.
            return False
        raise
    return False


def has_fence(crd: Obj) -> bool:
    schemas = [(v.get("schema") or {}).get("openAPIV3Schema") or {} for v in crd["spec"]["versions"]]
    return any(_is_fence(r) for schema in schemas for r in schema.get("x-kubernetes-validations") or [])


def lift_fence(rest: Rest) -> None:
    """Removes the fence (re-read and retried: the CRD may have changed since)."""
    for _ in range(5):
        live = rest.get(path(CRD_API, "CustomResourceDefinition", name=CRD_NAME))
        if live is None or not has_fence(live):
            return
        try:
            rest.put(with_fence(live, on=False))
            return
        except RestError as err:
            if err.status != 409:
                raise
    raise SystemExit(f"error: could not remove the fence rule from CRD {CRD_NAME}: re-apply the CRD")


def fence(rest: Rest, crd: Obj) -> Obj:
    """Puts the fence on and waits until the API server enforces it; the fenced CRD."""
    fenced = rest.put(with_fence(crd, on=True))  # crd's resourceVersion: refused if it changed since
    deadline = time.monotonic() + FENCE_PROOF_SECONDS
    while not enforced(rest):
        if time.monotonic() > deadline:
            raise RestError(0, f"the API server did not enforce the fence within {FENCE_PROOF_SECONDS:.0f} s")
        time.sleep(0.2)
    time.sleep(FENCE_SETTLE_SECONDS)
    return fenced
