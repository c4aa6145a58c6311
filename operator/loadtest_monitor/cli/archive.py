"""`loadtest-monitor archive list|restore` for users, `archive agent|restore-here` for the InfluxDB pod.

  archive list --bucket B [--prefix P] [--aws-profile P] [--s3-region R]
      every complete archive (one with its manifest): monitor, UTC time, size, URL
  archive restore s3://B/P/<monitor>/<time>/ --into NEW [-n NS]
      restores it into the InfluxDB of the monitor NEW (which has spec.archive, an empty database)

How restore reaches InfluxDB: it runs `archive restore-here` in the `archive` container of NEW's
InfluxDB pod through the API server (pods/exec). `influxd restore` needs InfluxDB's RPC port, which
only the pod's loopback has, and an influxd of the server's version, which that container has; the
pod's own AWS credentials (IRSA or Pod Identity) read the archive, so the data goes from S3 to the
pod directly and the user's laptop needs neither influxd nor read access to the bucket. A port-forward
would need both on the laptop and send the whole backup through the API server; a restore Job
could not reach the loopback port at all.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from loadtest_monitor.archive.agent import AgentConfig, run_agent
from loadtest_monitor.archive.bundle import BundleError, Influxd
from loadtest_monitor.aws.s3 import S3Error, list_archives, parse_archive_url
from loadtest_monitor.cli.connection import add_connection_args, api_client
from loadtest_monitor.identity import LABEL_MONITOR, LABEL_NAME
from loadtest_monitor.render.archive import CONTAINER_NAME, WORK_DIR
from loadtest_monitor.render.influxdb import APP as INFLUXDB_APP
from loadtest_monitor.spec.archive import bucket_problem, prefix_problem
from loadtest_monitor.spec.cron import CronError, parse_cron


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop returns


def _s3(args: argparse.Namespace) -> Any:
    from botocore.exceptions import ProfileNotFound

    from loadtest_monitor.aws.s3 import client

    try:
        return client(region=args.s3_region, profile=args.aws_profile)
    except ProfileNotFound as err:
        raise SystemExit(f"error: --aws-profile {args.aws_profile}: {err}") from None


def cmd_list(args: argparse.Namespace) -> int:
    problem = bucket_problem(args.bucket) or (
        prefix_problem(args.prefix.strip("/")) if args.prefix.strip("/") else None
    )
    if problem:
        raise SystemExit(f"error: {'--bucket' if bucket_problem(args.bucket) else '--prefix'}: {problem}")
    try:
        entries = list_archives(_s3(args), args.bucket, args.prefix)
    except S3Error as err:
        raise SystemExit(f"error: {err}") from None
    if not entries:
        print(f"no archives under s3://{args.bucket}/{args.prefix.strip('/')}")
        return 0
    rows = [("MONITOR", "TIME (UTC)", "SIZE", "ARCHIVE")]
    rows += [(e.url.monitor, e.url.time, human_size(e.size), str(e.url)) for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    return 0


def _influxdb_pod(core: Any, namespace: str, monitor: str) -> str:
    selector = f"{LABEL_MONITOR}={monitor},{LABEL_NAME}={INFLUXDB_APP}"
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    running = [p for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]
    if not running:
        raise SystemExit(
            f"error: --into {monitor}: no running InfluxDB pod of monitor {monitor!r} in namespace {namespace!r}; "
            "create it with spec.archive (a ServiceAccount that may read the bucket) and wait until it is Ready"
        )
    pod = running[0]
    if CONTAINER_NAME not in [c.name for c in pod.spec.containers]:
        raise SystemExit(
            f"error: --into {monitor}: its InfluxDB pod has no {CONTAINER_NAME!r} container: give the monitor "
            "spec.archive (s3.bucket and a serviceAccountName that may read the archive) and wait until it is Ready"
        )
    return str(pod.metadata.name)


def cmd_restore(args: argparse.Namespace) -> int:
    try:
        url = parse_archive_url(args.url)
    except S3Error as err:
        raise SystemExit(f"error: {err}") from None
    from kubernetes import client
    from kubernetes.stream.stream import stream

    namespace = args.namespace or "default"
    core = client.CoreV1Api(api_client(args))
    try:
        pod = _influxdb_pod(core, namespace, args.into)
    except client.ApiException as err:
        raise SystemExit(f"error: cannot list the pods of namespace {namespace!r}: {err.status} {err.reason}") from None
    print(f"restoring {url} into monitor {args.into} (pod {namespace}/{pod}) ...", flush=True)
    try:
        resp = stream(
            core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container=CONTAINER_NAME,
            command=["loadtest-monitor", "archive", "restore-here", str(url)],
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
            _preload_content=False,
        )
    except Exception as err:  # the client raises ApiException or a websocket error, by transport
        status = getattr(err, "status", None)
        hint = "you need the pods/exec permission in that namespace" if status == 403 else str(err)[:300]
        raise SystemExit(f"error: cannot run the restore in pod {namespace}/{pod}: {hint}") from None
    while resp.is_open():
        resp.update(timeout=1)
        out, errors = resp.read_stdout(), resp.read_stderr()
        if out:
            sys.stdout.write(out)
        if errors:
            sys.stderr.write(errors)
    resp.close()
    code = resp.returncode
    if code not in (0, None):
        raise SystemExit(f"error: the restore in pod {namespace}/{pod} failed (exit {code}); its message is above")
    print(f"restored: Grafana of {args.into} shows the archived runs (pick their time range)")
    return 0


def cmd_restore_here(args: argparse.Namespace) -> int:
    """Inside the archive container: download the archive and restore it into this pod's InfluxDB."""
    from loadtest_monitor.archive.restore import InfluxHttp, restore_from_s3
    from loadtest_monitor.aws.s3 import client

    try:
        url = parse_archive_url(args.url)
        http = InfluxHttp(
            os.environ.get("LTM_INFLUXDB_HTTP", "http://127.0.0.1:8086"),
            os.environ["LTM_INFLUXDB_ADMIN_USER"],
            os.environ["LTM_INFLUXDB_ADMIN_PASSWORD"],
        )
        database = restore_from_s3(Influxd(args.influxd, args.rpc), http, client(), url, Path(args.work_dir))
    except KeyError as err:
        raise SystemExit(f"error: {err.args[0]} is not set: run restore-here only in the archive container") from None
    except (S3Error, BundleError) as err:
        raise SystemExit(f"error: {err}") from None
    print(f"restored database {database!r} from {url}")
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from loadtest_monitor.aws.s3 import client

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        schedule = parse_cron(args.schedule) if args.schedule else None
    except CronError as err:
        raise SystemExit(f"error: --schedule: {err}") from None
    cfg = AgentConfig(
        monitor=args.monitor,
        namespace=args.namespace,
        database=args.database,
        bucket=args.bucket,
        prefix=args.prefix,
        influxd=Influxd(args.influxd, args.rpc),
        state_dir=Path(args.state_dir),
        work_dir=Path(args.work_dir),
        dashboards=Path(args.dashboards) if args.dashboards else None,
        schedule=schedule,
        on_stop=args.on_stop,
        timeout=float(args.timeout),
    )
    return run_agent(cfg, client(region=args.region))


def register(sub: Any) -> None:
    archive = sub.add_parser("archive", help="list and restore the S3 archives of monitors (spec.archive)")
    cmds = archive.add_subparsers(dest="archive_command", required=True, metavar="SUBCOMMAND")

    ls = cmds.add_parser("list", help="list the archives in a bucket: monitor, time, size")
    ls.add_argument("--bucket", required=True, help="the S3 bucket of spec.archive.s3.bucket")
    ls.add_argument("--prefix", default="loadtest-monitor", help="spec.archive.s3.prefix (default: %(default)s)")
    ls.add_argument("--aws-profile", metavar="PROFILE", help="AWS profile with s3:ListBucket on the bucket")
    ls.add_argument("--s3-region", metavar="REGION", help="the bucket's region (default: the profile's)")
    ls.set_defaults(func=cmd_list)

    restore = cmds.add_parser("restore", help="restore an archive into a new monitor's InfluxDB")
    restore.add_argument("url", help="s3://bucket/prefix/<monitor>/<time>/ as `archive list` prints it")
    restore.add_argument("--into", required=True, metavar="MONITOR", help="the new monitor (with spec.archive)")
    restore.add_argument("-n", "--namespace", help="its namespace (default: default)")
    add_connection_args(restore)
    restore.set_defaults(func=cmd_restore)

    # In the InfluxDB pod only (render/archive.py writes these command lines).
    pod_args = argparse.ArgumentParser(add_help=False)
    pod_args.add_argument("--influxd", default="/ltm-tools/influxd")
    pod_args.add_argument("--rpc", default="127.0.0.1:8088")
    pod_args.add_argument("--work-dir", default=WORK_DIR)
    here = cmds.add_parser("restore-here", parents=[pod_args], help="(in the InfluxDB pod) restore an archive")
    here.add_argument("url")
    here.set_defaults(func=cmd_restore_here)

    agent = cmds.add_parser("agent", parents=[pod_args], help="(in the InfluxDB pod) archive on a schedule or stop")
    for flag in ("--monitor", "--namespace", "--database", "--bucket"):
        agent.add_argument(flag, required=True)
    agent.add_argument("--prefix", default="loadtest-monitor")
    agent.add_argument("--region")
    agent.add_argument("--state-dir", required=True)
    agent.add_argument("--dashboards")
    agent.add_argument("--schedule")
    agent.add_argument("--on-stop", action="store_true")
    agent.add_argument("--timeout", type=int, default=600)
    agent.set_defaults(func=cmd_agent)
