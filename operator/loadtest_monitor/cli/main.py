"""`loadtest-monitor`: run the operator, or render what it would create, offline."""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import yaml

from loadtest_monitor.cli import archive as cli_archive
from loadtest_monitor.cli import doctor as cli_doctor
from loadtest_monitor.cli import down as cli_down
from loadtest_monitor.cli import examples as cli_examples
from loadtest_monitor.cli import images as cli_images
from loadtest_monitor.cli import runner_image as cli_runner_image
from loadtest_monitor.cli import testrun as cli_test
from loadtest_monitor.cli import up as cli_up
from loadtest_monitor.cli.connection import add_connection_args, cmd_eks_token, eks_kubeconfig
from loadtest_monitor.forward.cli import register as register_forward
from loadtest_monitor.identity import DEFAULT_CLUSTER_DOMAIN
from loadtest_monitor.load_balancer import LB_MODE_CONTROLLER, LOAD_BALANCER_MODES
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.monitor import gatling_config_map, offline_credentials, render_all
from loadtest_monitor.spec.monitor_input import InputError, monitors

EXAMPLES = """\
examples:
  loadtest-monitor run                          # operator for all namespaces (uses KUBECONFIG)
  loadtest-monitor run -n perf -n perf-staging  # only these namespaces
  loadtest-monitor render -f monitor.yaml       # every object the operator would create, as YAML
  loadtest-monitor gatling-conf -f monitor.yaml # just the gatling.conf runners mount
  loadtest-monitor up -f monitor.yaml           # install CRD + operator if missing, apply, wait until Ready
  loadtest-monitor down checkout -n perf        # delete a monitor and wait until it is gone
  loadtest-monitor doctor checkout -n perf      # check the cluster and a monitor: one line per check
  loadtest-monitor test -f run.yaml --wait      # start a LoadtestRun, follow it: exit 0 passed, 1 failed, 2 error
  loadtest-monitor up -f monitor.yaml --aws-profile perf --eks-cluster loadtest  # an EKS cluster, no kubeconfig
  loadtest-monitor examples                     # the example monitors and runner Jobs shipped with the CLI
  loadtest-monitor examples monitor > monitor.yaml
  loadtest-monitor runner-image build --simulations src/test/java   # Gatling 3.15.1 (--gatling-version 3.11.5: legacy)
  loadtest-monitor runner-image push --aws-profile perf --repository gatling-runner  # ECR, created if missing
  loadtest-monitor images push --aws-profile perf   # operator + runner images to ECR; `up` then uses them
  loadtest-monitor archive list --bucket perf-archives --aws-profile perf   # archives of spec.archive
  loadtest-monitor archive restore s3://perf-archives/loadtest-monitor/checkout/20261206T180512Z/ --into co2
"""


def _contexts(
    path: str, namespace: str | None, cluster_domain: str, load_balancer_mode: str = LB_MODE_CONTROLLER
) -> list[RenderContext]:
    """Checked monitors of the file (the CRD's rules and the operator's), or SystemExit with one
    line per problem: exit code 1, never a traceback."""
    try:
        found = monitors(path, namespace)
    except InputError as err:
        raise SystemExit("\n".join(err.lines)) from None
    return [RenderContext(Owner(m.name, m.namespace), m.spec, cluster_domain, load_balancer_mode) for m in found]


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (gatling.conf, influxdb.conf, the dashboard) as readable `|` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def _dump(objects: Sequence[dict[str, Any]], out: TextIO) -> None:
    out.write(yaml.dump_all(objects, Dumper=_BlockDumper, sort_keys=True, explicit_start=True, width=120))


def _offline(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The offline commands answer in one line, never a traceback: input problems are reported by
    _contexts; anything else after the checks passed is a bug, said so in one line."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as err:
            first = str(err).splitlines()[0][:200] if str(err) else ""
            bug = f"error: {type(err).__name__}: {first} (a bug in loadtest-monitor: please report it)"
            raise SystemExit(bug) from None

    return run


@_offline
def cmd_render(args: argparse.Namespace) -> int:
    for ctx in _contexts(args.filename, args.namespace, args.cluster_domain, args.load_balancer_mode):
        objects = [o for o in render_all(ctx, offline_credentials(ctx)) if o["kind"] != "Secret"]
        if ctx.spec.grafana.admin_secret_ref is None:
            sys.stdout.write(
                f"# Secret {ctx.names.grafana_admin_secret} (Grafana admin) is generated by the operator\n"
                "# with a random password at the first reconcile and kept; it is not rendered here.\n"
            )
        _dump(objects, sys.stdout)
    return 0


@_offline
def cmd_gatling_conf(args: argparse.Namespace) -> int:
    for ctx in _contexts(args.filename, args.namespace, args.cluster_domain):
        sys.stdout.write(gatling_config_map(ctx)["data"]["gatling.conf"])
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import kopf

    from loadtest_monitor.controller import handlers, oplog, run_handlers  # registers the handlers
    from loadtest_monitor.settings import Settings, SettingsError

    try:
        settings = Settings.from_env(os.environ, liveness_port=args.liveness_port)
    except SettingsError as err:  # a bad LTM_* setting: one line, no traceback
        raise SystemExit(f"error: {err}") from None
    handlers.configure(settings)
    oplog.quiet_handler_successes(handlers.EVENT_HANDLER_IDS | run_handlers.RUN_EVENT_HANDLER_IDS)

    # With --eks-cluster, kopf and the client read a private kubeconfig whose exec plugin renews the token.
    kubeconfig = eks_kubeconfig(args, tempfile.mkdtemp(prefix="loadtest-monitor-"))
    if kubeconfig is not None:
        os.environ["KUBECONFIG"] = kubeconfig
    if args.metrics_port:
        from loadtest_monitor.controller.metrics import start_metrics_server

        try:
            start_metrics_server(args.metrics_port)
        except OSError as err:
            raise SystemExit(f"error: --metrics-port {args.metrics_port}: {err.strerror}; choose a free port") from err
    namespaces = args.namespace or []
    kopf.configure(verbose=args.verbose)
    kopf.run(
        standalone=True,  # one replica, no peering objects needed
        clusterwide=not namespaces,
        namespaces=namespaces,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadtest-monitor",
        description=(
            "Kubernetes operator for LoadtestMonitor resources: InfluxDB 1.x with its Graphite listener, "
            "Grafana with a Gatling dashboard, and a gatling.conf ConfigMap for Gatling runner Jobs. "
            "`run` is the operator itself; `test` starts a load test (a LoadtestRun) and reports its verdict."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run the operator itself against the cluster in KUBECONFIG (to start a load test: `test`)"
    )
    run.add_argument("-n", "--namespace", action="append", help="watch only this namespace (repeatable)")
    run.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (default)")
    run.add_argument(
        "--liveness-port", type=int, default=0, help="serve /healthz on this port (0: off); fails when reconciles stall"
    )
    run.add_argument(
        "--metrics-port", type=int, default=0, help="serve Prometheus /metrics on this port (0: off; manifests: 8081)"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log every handler call")
    add_connection_args(run)
    run.set_defaults(func=cmd_run)

    token = sub.add_parser("eks-token", help="print an EKS ExecCredential for a kubeconfig exec plugin")
    add_connection_args(token)
    token.set_defaults(func=cmd_eks_token)

    for name, func, help_text in (
        ("render", cmd_render, "print every object the operator would create for a monitor (offline)"),
        ("gatling-conf", cmd_gatling_conf, "print the gatling.conf published for a monitor (offline)"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("-f", "--filename", required=True, help="LoadtestMonitor YAML file, or - for stdin")
        p.add_argument("-n", "--namespace", help="namespace (default: the file's, else default)")
        p.add_argument("--cluster-domain", default=DEFAULT_CLUSTER_DOMAIN, help="the cluster's DNS domain")
        p.set_defaults(func=func)
        if name == "render":
            p.add_argument(
                "--load-balancer-mode",
                choices=LOAD_BALANCER_MODES,
                default=LB_MODE_CONTROLLER,
                help="who makes the NLBs, as the operator's LTM_LOAD_BALANCER_MODE says (default: %(default)s)",
            )
    cli_up.register(sub)
    cli_down.register(sub)
    cli_doctor.register(sub)
    cli_test.register(sub)
    cli_examples.register(sub)
    cli_runner_image.register(sub)
    cli_images.register(sub)
    cli_archive.register(sub)
    register_forward(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
