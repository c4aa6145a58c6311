"""`loadtest-monitor down NAME [-n NS] [--uninstall] [--yes]`: deletes a monitor and waits until its
objects are gone; `--uninstall` then removes the objects of the `up` install (cli/uninstall.py;
refused while other monitors exist: deleting the CRD would delete them).

Before deleting, it says what data would go with the monitor and how to keep it (cli/data_loss.py)
and asks; `--yes` answers for scripts. Without a terminal on stdin and without `--yes`, it deletes
nothing and says so: a script never hangs on a question nobody sees.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from loadtest_monitor.cli import uninstall as install_removal
from loadtest_monitor.cli.connection import add_connection_args, api_client
from loadtest_monitor.cli.data_loss import DataAtRisk, data_at_risk
from loadtest_monitor.cli.install import ManifestsMissing
from loadtest_monitor.cli.up import POLL_SECONDS, Console, parse_timeout
from loadtest_monitor.identity import API_VERSION, CRD_NAME, KIND, LABEL_INSTANCE, MANAGED_SELECTOR, PLURAL
from loadtest_monitor.kube import kinds
from loadtest_monitor.kube.rest import CRD_API, Rest, RestError, path, path_of


def remaining_children(rest: Rest, namespace: str, name: str) -> tuple[list[str], list[str]]:
    """(objects of the monitor still there, PVCs kept on purpose: no ownerReference, keepOnDelete).

    Only objects carrying the operator's labels for this monitor (managed-by and instance) count: an
    object of somebody else (a Grafana Helm release of the same name) is never waited for. Pods and
    ReplicaSets carry them too (the pod templates do)."""
    left: list[str] = []
    kept: list[str] = []
    selector = f"{MANAGED_SELECTOR},{LABEL_INSTANCE}={name}"
    for child in kinds.LABELLED:
        for obj in rest.list(child.path(namespace), selector):
            ref = f"{child.kind}/{obj['metadata']['name']}"
            if child.kind == "PersistentVolumeClaim" and not obj["metadata"].get("ownerReferences"):
                kept.append(ref)
            else:
                left.append(ref)
    return left, kept


def owned_claims(rest: Rest, namespace: str, name: str) -> list[str]:
    """The monitor's PersistentVolumeClaims that its deletion takes along (they carry an ownerReference)."""
    selector = f"{MANAGED_SELECTOR},{LABEL_INSTANCE}={name}"
    claims = rest.list(path("v1", "PersistentVolumeClaim", namespace), selector)
    return sorted(c["metadata"]["name"] for c in claims if c["metadata"].get("ownerReferences"))


def crd_has_archive(crd: dict[str, Any] | None) -> bool:
    """Whether the installed CRD's served version knows spec.archive."""
    for version in (crd or {}).get("spec", {}).get("versions", []):
        schema = version.get("schema", {}).get("openAPIV3Schema", {})
        if version.get("served") and "archive" in schema.get("properties", {}).get("spec", {}).get("properties", {}):
            return True
    return False


def confirm(console: Console, ref: str, risk: DataAtRisk, assume_yes: bool, stdin: TextIO) -> None:
    """Says what would be lost and how to keep it; returns when the deletion may go ahead."""
    console.say(f"{ref}: deleting it deletes data:")
    for line in risk.lost:
        console.say(f"  - {line}")
    for line in risk.keep:
        console.say(f"  to keep it: {line}")
    if assume_yes:
        console.say(f"{ref}: --yes given: deleting")
        return
    if not stdin.isatty():
        raise SystemExit(
            f"error: {ref}: not deleted: the data above would be lost and there is no terminal to ask; "
            "keep it as said above, or run `loadtest-monitor down` again with --yes to delete anyway"
        )
    sys.stdout.write(f"Delete {ref} and this data? [y/N] ")
    sys.stdout.flush()
    answer = stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise SystemExit(f"error: {ref}: not deleted (answer was not yes)")


def wait_gone(console: Console, what: str, check: Callable[[], list[str]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: list[str] = []
    while True:
        left = check()
        if not left:
            return
        if left != last:
            console.say(f"{what}: waiting for {len(left)} object(s): {', '.join(left[:6])}")
            last = left
        if time.monotonic() > deadline:
            raise SystemExit(f"error: {what}: still there after {timeout:.0f} s: {', '.join(left)}")
        time.sleep(POLL_SECONDS)


def uninstall(rest: Rest, console: Console, timeout: float) -> None:
    """Removes the objects of the `up` install and waits until they are gone."""
    deleted = install_removal.run(rest, console)

    def left() -> list[str]:
        out: list[str] = []
        for obj in deleted:
            live = rest.get(path_of(obj))
            if live is not None and live["metadata"].get("uid") == obj["metadata"]["uid"]:
                out.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return out

    wait_gone(console, "uninstall", left, timeout)
    crd_gone = any(o["kind"] == "CustomResourceDefinition" for o in deleted)
    console.say("operator and CRD removed" if crd_gone else "operator removed" if deleted else "nothing removed")


def cmd_down(args: argparse.Namespace) -> int:
    rest = Rest(api_client(args))
    console = Console(sys.stdout)
    namespace = args.namespace or "default"
    ref = f"{namespace}/{args.name}"
    try:
        crd = rest.get(path(CRD_API, "CustomResourceDefinition", name=CRD_NAME))
        crd_present = crd is not None
        monitor_url = path(API_VERSION, KIND, namespace, args.name)
        monitor = rest.get(monitor_url) if crd_present else None
        if monitor is not None:
            risk = data_at_risk(monitor, owned_claims(rest, namespace, args.name), crd_has_archive(crd))
            if risk:
                confirm(console, ref, risk, args.yes, sys.stdin)
        if monitor is not None and rest.delete(monitor_url):
            console.say(f"{ref}: deleted")
        elif not args.uninstall:
            raise SystemExit(f"error: {KIND} {ref} not found (kubectl get {PLURAL} -A lists them)")
        else:
            console.say(f"{ref}: not found")
        kept: list[str] = []

        def left() -> list[str]:
            children, kept[:] = remaining_children(rest, namespace, args.name)
            monitor = [f"{KIND}/{args.name}"] if crd_present and rest.get(monitor_url) is not None else []
            return monitor + children

        wait_gone(console, ref, left, args.timeout)
        console.say(f"{ref}: gone" + (f" (kept on purpose, keepOnDelete: {', '.join(kept)})" if kept else ""))
        if args.uninstall:
            uninstall(rest, console, args.timeout)
    except ManifestsMissing as err:
        raise SystemExit(f"error: {err}") from err
    except RestError as err:
        raise SystemExit(f"error: the API server refused: {err}") from err
    return 0


def register(sub: Any) -> None:
    """Adds `down` to the CLI's subcommands."""
    down = sub.add_parser("down", help="delete a monitor and wait until everything is gone")
    down.add_argument("name", help="the LoadtestMonitor's name")
    down.add_argument("-n", "--namespace", help="its namespace (default: default)")
    down.add_argument("--uninstall", action="store_true", help="then remove the operator and the CRD too")
    down.add_argument(
        "-y", "--yes", action="store_true", help="delete even when data would be lost, without asking (for scripts)"
    )
    down.add_argument("--timeout", type=parse_timeout, default=300.0, help="give up after this long (default 5m)")
    add_connection_args(down)
    down.set_defaults(func=cmd_down)
