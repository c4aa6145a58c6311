"""`loadtest-monitor up -f monitor.yaml`: installs the CRD and the operator when they are missing
(the kustomize base's objects, server-side applied), applies the monitor(s) of the file, shows
progress until Ready, and prints where Grafana, its password, Graphite and the gatling.conf
ConfigMap are. `down` (cli/down.py) is its counterpart.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from loadtest_monitor.cli import operator_image
from loadtest_monitor.cli.connection import add_connection_args, api_client
from loadtest_monitor.cli.crd_fence import has_fence, lift_fence
from loadtest_monitor.cli.examples import CURRENT_JOB, LEGACY_JOB
from loadtest_monitor.cli.install import (
    ManifestsMissing,
    crd_objects,
    install_id_of,
    new_install_id,
    operator_namespace,
    operator_objects,
    stamp,
)

# Re-exported: doctor and uninstall have always imported them from here.
from loadtest_monitor.cli.operator_image import OPERATOR_SELECTOR as OPERATOR_SELECTOR
from loadtest_monitor.cli.operator_image import find_operators as find_operators
from loadtest_monitor.identity import (
    API_VERSION,
    CRD_NAME,
    INSTALL_ID_ANNOTATION,
    KIND,
)
from loadtest_monitor.kube.rest import CRD_API, Rest, RestError, path, path_of
from loadtest_monitor.spec.monitor_input import InputError, check_monitor, read_documents

Obj = dict[str, Any]

POLL_SECONDS = 1.0
# Without any status after this long, the operator is probably not running: say so once.
NO_STATUS_HINT_SECONDS = 30.0
# How often the operator's pods are read for an image that cannot be pulled (a list per call).
PULL_CHECK_SECONDS = 5.0


def parse_duration(value: str) -> float:
    """`0`, `600`, `600s`, `10m` or `1h` -> seconds (argparse type)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*", value)
    if not match:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration; use e.g. 600, 90s, 10m")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]


def parse_timeout(value: str) -> float:
    """A duration above zero (argparse type)."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r}: a timeout must be above zero")
    return seconds


class Console:
    """Progress lines with the seconds since the command started."""

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.clock = clock
        self.start = clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def say(self, line: str) -> None:
        self.out.write(f"[{self.elapsed():4.0f}s] {line}\n")
        self.out.flush()


# --- input ---------------------------------------------------------------------------------------


def read_monitors(filename: str, namespace: str | None) -> list[Obj]:
    """The LoadtestMonitors of a file, each checked offline with the same rules as `render`
    (the CRD's schema and CEL rules, then the operator's own): nothing is sent for a bad file."""
    label = "stdin" if filename == "-" else filename
    try:
        docs = read_documents(filename)
    except InputError as err:
        raise SystemExit("\n".join(err.lines)) from None
    found = [d for d in docs if isinstance(d, dict) and d.get("kind") == KIND]
    if not found:
        raise SystemExit(f"error: {label}: no {API_VERSION} {KIND} found")
    lines: list[str] = []
    for doc in found:
        if doc.get("apiVersion") != API_VERSION:
            lines.append(f"error: {label}: {KIND} apiVersion must be {API_VERSION}, not {doc.get('apiVersion')}")
            continue
        try:
            checked = check_monitor(doc, namespace)
        except InputError as err:
            lines += [f"error: {label}: {line}" for line in err.lines]
            continue
        doc["metadata"]["namespace"] = checked.namespace
    if lines:
        raise SystemExit("\n".join(lines))
    return found


# --- install -------------------------------------------------------------------------------------


def _established(crd: Obj | None) -> bool:
    conditions = ((crd or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def install_id_for(rest: Rest) -> str:
    """The id of the `up` install already in the cluster (the CRD or the operator's objects at their
    names carry it), so a second `up` completes the same install; else a new id."""
    for obj in [*operator_objects(), *crd_objects()]:
        found = install_id_of(rest.get(path_of(obj)))
        if found:
            return found
    return new_install_id()


def ensure_crd(rest: Rest, console: Console, timeout: float = 60.0) -> bool:
    """Installs each CRD of the package (LoadtestMonitor, LoadtestRun) that is missing; True if
    the LoadtestMonitor CRD was installed now. An install made before LoadtestRun existed gets
    that CRD on its next `up`."""
    crd_path = path(CRD_API, "CustomResourceDefinition", name=CRD_NAME)
    live = rest.get(crd_path)
    if live is not None:
        if has_fence(live):  # an interrupted `down --uninstall` left it: monitors could not be created
            lift_fence(rest)
            console.say(f"CRD {CRD_NAME}: present; lifted the fence of an interrupted `down --uninstall`")
        else:
            console.say(f"CRD {CRD_NAME}: present")
    install_id = install_id_for(rest)
    installed: list[str] = []
    for crd in crd_objects():
        name = crd["metadata"]["name"]
        if rest.get(path(CRD_API, "CustomResourceDefinition", name=name)) is None:
            rest.apply(stamp(crd, install_id))
            installed.append(name)
    deadline = time.monotonic() + timeout
    for name in installed:
        while not _established(rest.get(path(CRD_API, "CustomResourceDefinition", name=name))):
            if time.monotonic() > deadline:
                raise SystemExit(f"error: CRD {name} was applied but is not Established after {timeout:.0f} s")
            time.sleep(0.5)
        console.say(f"CRD {name}: installed")
    return CRD_NAME in installed


def ensure_operator(rest: Rest, console: Console, image: str | None, source: str = "") -> bool:
    """Installs the operator (the kustomize base) when no operator Deployment exists; True if installed now."""
    found = find_operators(rest)
    if found:
        where = ", ".join(f"{d['metadata']['namespace']}/{d['metadata']['name']}" for d in found)
        console.say(f"operator: present ({where})")
        return False
    install_id = install_id_for(rest)
    objects = operator_objects(image)
    for obj in claimable(rest, console, objects, install_id):
        rest.apply(stamp(obj, install_id))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    image_used = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    origin = f", {source}" if source else ""
    console.say(f"operator: installed in namespace {operator_namespace()} (image {image_used}{origin})")
    return True


def claimable(rest: Rest, console: Console, objects: list[Obj], install_id: str) -> list[Obj]:
    """The objects `up` may apply: missing ones and its own (same install id). `up` never takes over
    an object it did not install (its ClusterRole name may be another install's): that is refused,
    except the Namespace, which is used as it is (and so kept by `down --uninstall`)."""
    out: list[Obj] = []
    foreign: list[str] = []
    for obj in objects:
        live = rest.get(path_of(obj))
        if live is None or install_id_of(live) == install_id:
            out.append(obj)
        elif obj["kind"] == "Namespace":
            console.say(f"namespace {obj['metadata']['name']}: present, not made by `up`: used as it is")
        else:
            foreign.append(f"{obj['kind']}/{obj['metadata']['name']}")
    if foreign:
        raise SystemExit(
            f"error: cannot install the operator: {', '.join(foreign)} already exist and were not installed by "
            f"`loadtest-monitor up` (no {INSTALL_ID_ANNOTATION} of this install): remove them with the tool that "
            "made them, or install the operator with kustomize or Helm (docs/install.md)"
        )
    return out


def ensure_namespace(rest: Rest, console: Console, namespace: str) -> None:
    if rest.get(path("v1", "Namespace", name=namespace)) is None:
        rest.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        console.say(f"namespace {namespace}: created")


# --- progress ------------------------------------------------------------------------------------


def conditions_of(monitor: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in (monitor.get("status") or {}).get("conditions") or [] if "type" in c}


def is_ready(monitor: Obj) -> bool:
    ready = conditions_of(monitor).get("Ready", {})
    current = (monitor.get("status") or {}).get("observedGeneration") == monitor["metadata"].get("generation")
    return bool(ready.get("status") == "True" and current)


def describe_state(monitor: Obj) -> str:
    conditions = conditions_of(monitor)
    if not conditions:
        return "waiting for the operator's first status"
    ready = conditions.get("Ready", {})
    parts = [f"Ready={ready.get('status', 'Unknown')}"]
    if ready.get("status") != "True":
        failing = [c for t, c in sorted(conditions.items()) if t != "Ready" and c.get("status") != "True"]
        for cond in failing or [ready]:
            parts.append(f"{cond['type']}: {cond.get('reason', '')}: {cond.get('message', '')}".rstrip(": "))
    return "; ".join(parts)


def wait_ready(rest: Rest, console: Console, monitor: Obj, timeout: float) -> Obj:
    meta = monitor["metadata"]
    ref = f"{meta['namespace']}/{meta['name']}"
    url = path(API_VERSION, KIND, meta["namespace"], meta["name"])
    deadline = time.monotonic() + timeout
    last_state = ""
    hinted = False
    next_pull_check = 0.0
    while True:
        live = rest.get(url)
        if live is None:
            raise SystemExit(f"error: {KIND} {ref} disappeared while waiting for it")
        state = describe_state(live)
        if state != last_state:
            console.say(f"{ref}: {state}")
            last_state = state
        if is_ready(live):
            return live
        if time.monotonic() >= next_pull_check:
            # Waiting out --timeout for an operator that can never start helps nobody: its pod says so.
            next_pull_check = time.monotonic() + PULL_CHECK_SECONDS
            failure = operator_image.pull_failure(rest)
            if failure:
                raise SystemExit(failure)
        if not hinted and not live.get("status") and console.elapsed() > NO_STATUS_HINT_SECONDS:
            hinted = True
            console.say(
                "no status yet: is the operator running? "
                f"kubectl -n {operator_namespace()} get pods,deploy -l {OPERATOR_SELECTOR}"
            )
        if time.monotonic() > deadline:
            raise SystemExit(f"error: {ref} not Ready after {timeout:.0f} s: {state}")
        time.sleep(POLL_SECONDS)


def wait_grafana_address(rest: Rest, console: Console, monitor: Obj, timeout: float) -> Obj:
    """After Ready, the NLB's address may still be on its way (the load balancer controller writes it
    into the Service, the operator into status.grafana.url): wait for it a while, never fail on it."""
    meta = monitor["metadata"]
    url = path(API_VERSION, KIND, meta["namespace"], meta["name"])
    deadline = time.monotonic() + timeout
    said = False
    while not ((monitor.get("status") or {}).get("grafana") or {}).get("url") and time.monotonic() < deadline:
        if not said:
            console.say(
                f"{meta['namespace']}/{meta['name']}: waiting up to {timeout:.0f} s for the Grafana load balancer"
            )
            said = True
        time.sleep(POLL_SECONDS)
        monitor = rest.get(url) or monitor
    return monitor


def summary(monitor: Obj) -> str:
    meta = monitor["metadata"]
    ns, name = meta["namespace"], meta["name"]
    status = monitor.get("status") or {}
    grafana = status.get("grafana") or {}
    graphite = status.get("graphite") or {}
    gatling = status.get("gatlingConfig") or {}
    secret = grafana.get("adminSecret") or {}
    lines = [f"{ns}/{name} is Ready."]
    if grafana.get("url"):
        lines.append(f"  Grafana:      {grafana['url']}")
    else:
        lines.append(
            f"  Grafana:      load balancer address pending (kubectl -n {ns} get svc {name}-grafana -w); "
            f"in the cluster {grafana.get('internalUrl', '')}, or kubectl -n {ns} port-forward svc/{name}-grafana 3000"
        )
    if secret:
        lines.append(
            f"  admin login:  user from key {secret.get('userKey')}, password: "
            f"kubectl -n {ns} get secret {secret.get('name')} "
            f"-o jsonpath='{{.data.{secret.get('passwordKey')}}}' | base64 -d"
        )
    address = graphite.get("address", "")
    external = f", outside the cluster {graphite['externalAddress']}" if graphite.get("externalAddress") else ""
    lines.append(f"  Graphite:     {address} ({graphite.get('protocol', 'tcp')}){external}")
    if gatling:
        lines.append(
            f"  gatling.conf: ConfigMap {gatling.get('configMap')} (key {gatling.get('key')}) in namespace {ns}: "
            "mount it in your Gatling runner Jobs\n"
            f"  runner Job:   loadtest-monitor examples {CURRENT_JOB} (Gatling 3.12+, the default: 3.15.1, "
            f"with the forwarder sidecar); {LEGACY_JOB} for Gatling 3.11"
        )
    return "\n".join(lines)


def cmd_up(args: argparse.Namespace) -> int:
    monitors = read_monitors(args.filename, args.namespace)
    rest = Rest(api_client(args))
    console = Console(sys.stdout)
    try:
        ensure_crd(rest, console)
        if not args.skip_operator:
            image, source = operator_image.choose(args.operator_image, args.aws_profile)
            ensure_operator(rest, console, image, source)
        for monitor in monitors:
            ensure_namespace(rest, console, monitor["metadata"]["namespace"])
            rest.apply(monitor)
            console.say(f"{monitor['metadata']['namespace']}/{monitor['metadata']['name']}: applied")
        ready = [wait_ready(rest, console, monitor, args.timeout) for monitor in monitors]
        ready = [wait_grafana_address(rest, console, live, args.address_timeout) for live in ready]
    except ManifestsMissing as err:
        raise SystemExit(f"error: {err}") from err
    except RestError as err:
        raise SystemExit(f"error: the API server refused: {err}") from err
    for live in ready:
        sys.stdout.write(summary(live) + "\n")
    return 0


def register(sub: Any) -> None:
    """Adds `up` to the CLI's subcommands."""
    up = sub.add_parser("up", help="install the CRD and operator if missing, apply a monitor, wait until Ready")
    up.add_argument("-f", "--filename", required=True, help="LoadtestMonitor YAML file, or - for stdin")
    up.add_argument("-n", "--namespace", help="namespace (default: the file's, else default)")
    up.add_argument("--timeout", type=parse_timeout, default=600.0, help="give up after this long (default 10m)")
    up.add_argument(
        "--address-timeout",
        type=parse_duration,
        default=120.0,
        help="after Ready, wait this long for the Grafana load balancer's address (default 2m)",
    )
    up.add_argument(
        "--operator-image",
        help="operator image to install (default: what `images push` recorded for --aws-profile, else the release's)",
    )
    up.add_argument("--skip-operator", action="store_true", help="never install the operator (it runs elsewhere)")
    add_connection_args(up)
    up.set_defaults(func=cmd_up)
