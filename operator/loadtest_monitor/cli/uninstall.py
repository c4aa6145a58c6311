"""`down --uninstall`: removes exactly the objects of one `loadtest-monitor up` install.

The proof that an object is of the install is the random install id `up` stamps on everything it
applies (cli/install.py). The id is read from the operator Deployment; an operator installed by
kustomize, Helm or Argo CD carries none, and the uninstall is refused with the tool to use.
Objects at the well-known names without that id are kept. The operator's namespace is deleted
only when it holds nothing but the install's objects (cli/namespace_contents.py).

The race with a monitor created after the "no monitors left" check is closed with a fence on the
CRD itself: the operator is stopped, a validation rule that refuses every write of a monitor is
added to the CRD, a server-side dry-run create proves the API server enforces it, and only then
are monitors listed again. If any appeared, everything is put back and nothing is deleted. The CRD
is deleted with the fenced version as a precondition, so a CRD re-applied meanwhile (fence gone)
is never deleted. Once deleted, a terminating CRD refuses new monitors by itself.
What remains: an API server of several that learns of the fence more than FENCE_SETTLE_SECONDS
late could accept a monitor after the last look; it gets no children (the operator is stopped).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from loadtest_monitor.cli.crd_fence import fence, lift_fence
from loadtest_monitor.cli.install import crd_objects, install_id_of, operator_objects
from loadtest_monitor.cli.namespace_contents import foreign_contents
from loadtest_monitor.cli.up import Console, find_operators
from loadtest_monitor.identity import (
    API_VERSION,
    CRD_NAME,
    INSTALL_ID_ANNOTATION,
    KIND,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
)
from loadtest_monitor.kube.rest import Rest, RestError, path, path_of
from loadtest_monitor.obj import Obj

# Marks of the other install tools, to say which one removes an install that `up` did not make.
HELM_RELEASE_ANNOTATION = "meta.helm.sh/release-name"
HELM_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
ARGOCD_PREFIX = "argocd.argoproj.io/"  # its sync options and waves (the argocd overlay sets them)
ARGOCD_TRACKING_ANNOTATION = f"{ARGOCD_PREFIX}tracking-id"  # annotation tracking (Argo CD 3 default)


class Aborted(SystemExit):
    """The uninstall stopped and put back what it had changed; nothing was deleted."""


@dataclass
class Plan:
    install_id: str
    objects: list[Obj]  # live objects of the install, Deployment first, Namespace and CRD excluded
    crd: Obj | None = None  # the live CRD if it is of the install
    namespace: Obj | None = None  # the live Namespace if it is of the install
    kept: list[str] = field(default_factory=list)  # objects at the well-known names that are not


def other_tool(obj: Obj) -> str:
    """How to remove an install that `up` did not make, from the marks its tool left."""
    meta = obj.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    if install_id_of(obj):
        return f"it is of another `loadtest-monitor up` install ({INSTALL_ID_ANNOTATION} {install_id_of(obj)})"
    if labels.get(LABEL_MANAGED_BY) == "Helm":
        release = annotations.get(HELM_RELEASE_ANNOTATION, "?")
        namespace = annotations.get(HELM_NAMESPACE_ANNOTATION, meta.get("namespace", "?"))
        return f"it was installed by Helm (release {release}): helm uninstall {release} -n {namespace}"
    # Label tracking (Argo CD 2 default) sets app.kubernetes.io/instance, which the base never sets.
    if LABEL_INSTANCE in labels or any(key.startswith(ARGOCD_PREFIX) for key in annotations):
        app = annotations.get(ARGOCD_TRACKING_ANNOTATION, labels.get(LABEL_INSTANCE, "")).split(":")[0]
        named = f" (application {app})" if app else ""
        return f"it is managed by Argo CD{named}: delete that Argo CD application"
    return "it was installed with kustomize or kubectl: kubectl delete -k manifests/base (or your overlay)"


def live_monitors(rest: Rest) -> list[str]:
    try:
        found = rest.list(path(API_VERSION, KIND))
    except RestError as err:
        if err.status == 404:
            return []  # the CRD is not installed or not served
        raise
    return [f"{m['metadata']['namespace']}/{m['metadata']['name']}" for m in found]


def refuse_if_monitors(rest: Rest) -> None:
    monitors = live_monitors(rest)
    if monitors:
        raise SystemExit(
            f"error: --uninstall: {len(monitors)} other {KIND}(s) exist ({', '.join(monitors)}); deleting the CRD "
            "would delete them: `loadtest-monitor down` each first"
        )


def _operator_install_id(rest: Rest) -> str | None:
    """The install id on the operator Deployment(s); refused when any operator is not of an `up` install."""
    ids: set[str] = set()
    for deployment in find_operators(rest):
        found = install_id_of(deployment)
        meta = deployment["metadata"]
        if found is None:
            raise SystemExit(
                f"error: --uninstall: the operator {meta['namespace']}/{meta['name']} was not installed by "
                f"`loadtest-monitor up`; nothing was deleted: {other_tool(deployment)}"
            )
        ids.add(found)
    if len(ids) > 1:
        raise SystemExit("error: --uninstall: several operators installed by `up` exist; nothing was deleted")
    return next(iter(ids), None)


def _install_id(rest: Rest, well_known: list[tuple[Obj, Obj | None]]) -> str | None:
    """The operator's install id, else (operator already gone) the id on another well-known object."""
    found = _operator_install_id(rest)
    if found:
        return found
    ids = [install_id_of(live) for _, live in well_known if live is not None]
    return next((i for i in ids if i), None)


def plan(rest: Rest) -> Plan | None:
    """What to delete; None when nothing of an `up` install is there. Refuses (SystemExit) while
    monitors exist or when the operator was installed another way."""
    refuse_if_monitors(rest)
    well_known = [(obj, rest.get(path_of(obj))) for obj in [*reversed(operator_objects()), *crd_objects()]]
    install_id = _install_id(rest, well_known)
    if install_id is None:
        present = [live for _, live in well_known if live is not None]
        if present:
            refs = ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in present)
            raise SystemExit(
                f"error: --uninstall: {refs} were not installed by `loadtest-monitor up`; nothing was deleted: "
                f"{other_tool(present[0])}"
            )
        return None
    out = Plan(install_id, [])
    for obj, live in well_known:
        if live is None:
            continue
        ref = f"{obj['kind']}/{obj['metadata']['name']}"
        if install_id_of(live) != install_id:
            out.kept.append(f"{ref} (not of this install: {other_tool(live)})")
        elif obj["kind"] == "CustomResourceDefinition" and obj["metadata"]["name"] == CRD_NAME:
            out.crd = live  # the monitors' CRD: fenced, re-checked, deleted last
        elif obj["kind"] == "Namespace":
            out.namespace = live
        else:
            # Also any other CRD of the install (LoadtestRun's): a run is a monitor's, and no
            # monitor is left by now.
            out.objects.append(live)
    return out


# --- stopping and restoring the operator ---------------------------------------------------------


def _scale(rest: Rest, deployment: Obj, replicas: int) -> None:
    rest.call(
        "PATCH",
        path_of(deployment),
        body={"metadata": {"uid": deployment["metadata"]["uid"]}, "spec": {"replicas": replicas}},
        content_type="application/merge-patch+json",
    )


@contextmanager
def held(rest: Rest, console: Console, the_plan: Plan) -> Iterator[Obj | None]:
    """Operator stopped and CRD fenced for the block; both put back if the block fails. Yields the
    fenced CRD (None when the CRD is not of the install)."""
    deployments = [o for o in the_plan.objects if o["kind"] == "Deployment"]
    fenced: Obj | None = None
    try:
        for deployment in deployments:
            _scale(rest, deployment, 0)  # a monitor that slips through gets no children, no PVC
        if the_plan.crd is not None:
            fenced = fence(rest, the_plan.crd)
            console.say(f"CRD {CRD_NAME}: no monitor can be created from now on")
        yield fenced
    except BaseException:
        if the_plan.crd is not None:
            lift_fence(rest)  # also when the fence was written but not yet proven
        for deployment in deployments:
            _scale(rest, deployment, int(deployment["spec"].get("replicas", 1)))
        raise


# --- the uninstall -------------------------------------------------------------------------------


def _delete(rest: Rest, console: Console, obj: Obj, *, exact_version: bool = False) -> None:
    meta = obj["metadata"]
    version = meta["resourceVersion"] if exact_version else None
    if rest.delete(path_of(obj), uid=meta["uid"], resource_version=version):
        console.say(f"deleted {obj['kind']}/{meta['name']}")


def remove_crd(rest: Rest, console: Console, the_plan: Plan) -> None:
    """Stops the operator, fences the CRD, re-checks and deletes the CRD; aborts with nothing deleted
    if a monitor appeared since the plan, or if the CRD changed."""
    with held(rest, console, the_plan) as fenced:
        late = live_monitors(rest)
        if late:
            raise Aborted(
                f"error: --uninstall aborted: {KIND}(s) created while uninstalling ({', '.join(late)}); "
                "nothing was deleted (the operator was scaled back): `loadtest-monitor down` them first"
            )
        if fenced is not None:
            try:
                _delete(rest, console, fenced, exact_version=True)
            except RestError as err:
                raise Aborted(
                    f"error: --uninstall aborted: CRD {CRD_NAME} changed while uninstalling; nothing was deleted: {err}"
                ) from err


def namespace_to_delete(rest: Rest, console: Console, the_plan: Plan) -> Obj | None:
    """The install's namespace if it holds nothing but the install's objects, else None (kept).
    Judged while the install's objects are still there: its ReplicaSet and Pods count by their owners."""
    ns = the_plan.namespace
    if ns is None:
        return None
    uids = [o["metadata"]["uid"] for o in the_plan.objects]
    foreign = foreign_contents(rest, ns["metadata"]["name"], the_plan.install_id, uids)
    if foreign:
        shown = ", ".join(foreign[:8]) + (f" and {len(foreign) - 8} more" if len(foreign) > 8 else "")
        console.say(f"namespace {ns['metadata']['name']} kept: it holds what is not of this install: {shown}")
        return None
    return ns


def run(rest: Rest, console: Console) -> list[Obj]:
    """The uninstall; the objects deleted (to wait for)."""
    the_plan = plan(rest)
    if the_plan is None:
        console.say("nothing installed by `loadtest-monitor up` found")
        return []
    for kept in the_plan.kept:
        console.say(f"kept {kept}")
    remove_crd(rest, console, the_plan)
    namespace = namespace_to_delete(rest, console, the_plan)
    for obj in the_plan.objects:
        _delete(rest, console, obj)
    if namespace is not None:
        _delete(rest, console, namespace)
    return [o for o in (*the_plan.objects, the_plan.crd, namespace) if o is not None]
