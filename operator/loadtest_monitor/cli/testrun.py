"""`loadtest-monitor test -f run.yaml [--wait]`: starts a load test (a LoadtestRun) and, with --wait,
follows it to its verdict: exit 0 passed, 1 failed (criteria or runners), 2 no verdict (error
verdict, timeout, bad input, cluster unreachable). The operator itself is `loadtest-monitor run`.

The run is created by server-side apply. Its spec is immutable (the CRD says so), so a run that
already ended cannot be started again under the same name; one that is still going on is
followed as it is.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import yaml

from loadtest_monitor.cli import testrun_report as report
from loadtest_monitor.cli.connection import add_connection_args, api_client
from loadtest_monitor.cli.up import Console, parse_timeout
from loadtest_monitor.identity import API_VERSION, CLI_FIELD_MANAGER, GROUP, RUN_KIND, RUN_SHORT_NAME
from loadtest_monitor.kube.client import Kube, KubeError
from loadtest_monitor.obj import Obj

POLL_SECONDS = 1.0
#: While Running, a progress line this often even when nothing changed (a heartbeat for CI logs).
RUNNING_LINE_SECONDS = 10.0
DEFAULT_TIMEOUT = "1h"


class BadInput(Exception):
    """The file is not one LoadtestRun: the message names the field and the fix."""


def read_run(filename: str, namespace: str | None, stdin: TextIO = sys.stdin) -> Obj:
    """The one LoadtestRun of the file (or `-`), with its namespace settled."""
    try:
        if filename == "-":
            text = stdin.read()
        else:
            with open(filename, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as err:
        raise BadInput(f"-f {filename}: {err.strerror}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        raise BadInput(f"-f {filename}: not YAML: {str(err).splitlines()[0]}") from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise BadInput(f"-f {filename}: holds {len(docs)} documents; give exactly one {RUN_KIND} per file")
    run = docs[0]
    if run.get("kind") != RUN_KIND or not str(run.get("apiVersion", "")).startswith(f"{GROUP}/"):
        raise BadInput(
            f"-f {filename}: kind {run.get('kind')!r}, apiVersion {run.get('apiVersion')!r}: "
            f"expected kind: {RUN_KIND}, apiVersion: {API_VERSION} (a monitor is started with `up`)"
        )
    meta = run.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise BadInput(f"-f {filename}: metadata.name is missing; give the run a name")
    if meta.get("generateName"):
        raise BadInput(f"-f {filename}: metadata.generateName is not supported; give metadata.name")
    file_ns = meta.get("namespace")
    if namespace and file_ns and namespace != file_ns:
        raise BadInput(
            f"-f {filename}: metadata.namespace is {file_ns!r} but --namespace is {namespace!r}; drop one of them"
        )
    out: Obj = {**run, "metadata": {**meta, "namespace": namespace or file_ns or "default"}}
    return out


def start(kube: Kube, run: Obj, console: Console) -> Obj:
    """Creates the run; an existing one is followed if it is still going on, refused if it ended."""
    meta = run["metadata"]
    ref = f"{meta['namespace']}/{meta['name']}"
    try:
        created = kube.apply(run)
        console.say(f"{RUN_KIND} {ref} created")
        return created
    except KubeError as err:
        if err.status != 409:
            raise
    live = kube.get(API_VERSION, RUN_KIND, meta["namespace"], meta["name"])
    if live is None:  # deleted between the two calls: try once more
        return kube.apply(run)
    status = live.get("status") or {}
    if report.has_ended(status):
        verdict = report.verdict_of(status) or report.phase_of(status)
        raise BadInput(
            f"{RUN_KIND} {ref} already ran ({verdict}) and a run's spec cannot change: delete it first "
            f"(kubectl delete {RUN_SHORT_NAME} {meta['name']} -n {meta['namespace']}) or give a new metadata.name"
        )
    # Same spec: a no-op; a changed spec is refused by the API server with the field it names.
    kube.apply(run, uid=live["metadata"]["uid"])
    console.say(f"{RUN_KIND} {ref} exists ({report.phase_of(status)}): following it")
    return live


def follow(
    kube: Kube,
    namespace: str,
    name: str,
    console: Console,
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Obj | None, str]:
    """Polls the run until it ends; returns (its status, "") or (the last status, why it stopped)."""
    deadline = console.clock() + timeout
    last_phase, last_line_at, status, unreachable = "", -RUNNING_LINE_SECONDS, None, ""
    while True:
        try:
            live = kube.get(API_VERSION, RUN_KIND, namespace, name)
            unreachable = ""
        except KubeError as err:
            if err.status not in (0, 429, 500, 502, 503, 504):
                return status, f"the API server refused: {err}"
            if not unreachable:  # said once; retried until the deadline
                console.say(f"cannot read the run ({err}); retrying")
            live, unreachable = None, str(err)
        if live is None and not unreachable:
            return status, f"{RUN_KIND} {namespace}/{name} was deleted"
        if live is not None:
            status = live.get("status") or {}
            if report.has_ended(status):
                return status, ""
            phase, now = report.phase_of(status), console.clock()
            if phase != last_phase or (phase == report.RUNNING and now - last_line_at >= RUNNING_LINE_SECONDS):
                console.say(report.progress_line(status))
                last_phase, last_line_at = phase, now
        if console.clock() >= deadline:
            phase = report.phase_of(status or {})
            why = f"timed out after {timeout:.0f} s (phase {phase})"
            return status, why + (f"; last error: {unreachable}" if unreachable else "")
        sleep(POLL_SECONDS)


def _error(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return report.EXIT_ERROR


def cmd_test(args: argparse.Namespace) -> int:
    console = Console(sys.stdout)
    try:
        run = read_run(args.filename, args.namespace)
    except BadInput as err:
        return _error(str(err))
    meta = run["metadata"]
    try:
        kube = Kube(api_client(args), field_manager=CLI_FIELD_MANAGER)
    except SystemExit as err:  # the EKS connection: already one line
        return _error(str(err.code).removeprefix("error: "))
    except Exception as err:  # no kubeconfig, a broken one: the client's own words
        return _error(f"cannot connect to the cluster: {type(err).__name__}: {err}")
    try:
        start(kube, run, console)
    except BadInput as err:
        return _error(str(err))
    except KubeError as err:
        if err.status == 404:
            return _error(f"{RUN_KIND} is not served by this cluster (is the CRD installed?): {err}")
        return _error(f"the API server refused the run: {err}" if err.status else str(err))
    if not args.wait:
        console.say(f"not waiting: kubectl get {RUN_SHORT_NAME} {meta['name']} -n {meta['namespace']} -w")
        return report.EXIT_PASSED
    status, why = follow(kube, meta["namespace"], meta["name"], console, args.timeout)
    if why:
        if status:
            console.say(report.progress_line(status))
        return _error(why)
    assert status is not None
    for line in report.summary_lines(meta["name"], status):
        sys.stdout.write(line + "\n")
    return report.exit_code(status)


def register(sub: Any) -> None:
    """Adds `test` to the CLI's subcommands."""
    test = sub.add_parser(
        "test",
        help="start a load test (a LoadtestRun) and with --wait follow it to its verdict (exit 0/1/2)",
        description=(
            "Creates the LoadtestRun of the file. With --wait, prints progress until it ends, then the "
            "results and criteria; exit code 0 passed, 1 failed (criteria or runners), 2 no verdict "
            "(error, timeout, bad input, cluster unreachable). Not to be confused with `run`, the operator."
        ),
    )
    test.add_argument("-f", "--filename", required=True, help="LoadtestRun YAML file, or - for stdin")
    test.add_argument("-n", "--namespace", help="namespace (default: the file's, else default)")
    test.add_argument("--wait", action="store_true", help="follow the run until its verdict")
    test.add_argument(
        "--timeout",
        type=parse_timeout,
        default=parse_timeout(DEFAULT_TIMEOUT),
        help=f"with --wait, give up (exit 2) after this long (default {DEFAULT_TIMEOUT})",
    )
    add_connection_args(test)
    test.set_defaults(func=cmd_test)
