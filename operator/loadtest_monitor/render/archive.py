"""The pieces `spec.archive` adds to the InfluxDB pod (pure): an init container that copies influxd,
the `archive` container, their volumes, the ServiceAccount, and the preStop wait of influxd.

Why in the InfluxDB pod (archive/agent.py says more): `influxd backup` needs InfluxDB's RPC port,
which the monitor binds to the pod's loopback only. The `influxd` binary comes from the monitor's
own InfluxDB image, so the backup format always matches the server; the agent is the operator's
image (Python, boto3), with the API token not mounted: it needs AWS credentials only, which IRSA or
EKS Pod Identity inject for the ServiceAccount the user names.
"""

from __future__ import annotations

from loadtest_monitor.identity import ADMIN_PASSWORD_KEY, ADMIN_USER_KEY, INFLUXDB_HTTP_PORT
from loadtest_monitor.obj import Obj
from loadtest_monitor.render.common import RenderContext, container_security_context, secret_env
from loadtest_monitor.spec.archive import ArchiveSpec

CONTAINER_NAME = "archive"
INIT_CONTAINER_NAME = "archive-tools"
TOOLS_DIR = "/ltm-tools"
STATE_DIR = "/archive-state"
WORK_DIR = "/archive-work"
DASHBOARDS_DIR = "/archive-dashboards"
# Where the official InfluxDB 1.x images install influxd.
INFLUXD_IN_IMAGE = "/usr/bin/influxd"
RPC_ADDRESS = "127.0.0.1:8088"
# The archive container's admin credentials for `archive restore-here` (it drops the new, empty
# database before restoring it).
ENV_ADMIN_USER = "LTM_INFLUXDB_ADMIN_USER"
ENV_ADMIN_PASSWORD = "LTM_INFLUXDB_ADMIN_PASSWORD"
# Beyond archive.timeoutSeconds, the time influxd needs to stop after its preStop hook returns.
STOP_MARGIN_SECONDS = 30
ARCHIVE_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


def _archive(ctx: RenderContext) -> ArchiveSpec:
    if ctx.spec.archive is None:
        raise ValueError("render/archive.py is only called for a monitor with spec.archive")
    return ctx.spec.archive


def agent_args(ctx: RenderContext) -> list[str]:
    """The command line of the archive container (all of it from the spec: no hidden defaults)."""
    archive = _archive(ctx)
    args = [
        "loadtest-monitor", "archive", "agent",
        "--monitor", ctx.owner.name,
        "--namespace", ctx.owner.namespace,
        "--database", ctx.spec.influxdb.database,
        "--bucket", archive.s3.bucket,
        "--prefix", archive.s3.prefix,
        "--influxd", f"{TOOLS_DIR}/influxd",
        "--rpc", RPC_ADDRESS,
        "--state-dir", STATE_DIR,
        "--work-dir", WORK_DIR,
        "--dashboards", DASHBOARDS_DIR,
        "--timeout", str(archive.timeout_seconds),
    ]  # fmt: skip
    if archive.s3.region:
        args += ["--region", archive.s3.region]
    if archive.schedule:
        args += ["--schedule", archive.schedule]
    if archive.on_delete:
        args.append("--on-stop")
    return args


def init_container(ctx: RenderContext) -> Obj:
    return {
        "name": INIT_CONTAINER_NAME,
        "image": ctx.spec.influxdb.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["cp", INFLUXD_IN_IMAGE, f"{TOOLS_DIR}/influxd"],
        "resources": ARCHIVE_RESOURCES,
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "archive-tools", "mountPath": TOOLS_DIR}],
    }


def archive_container(ctx: RenderContext) -> Obj:
    archive = _archive(ctx)
    auth = ctx.names.influxdb_auth_secret
    env: list[Obj] = [
        secret_env(ENV_ADMIN_USER, auth, ADMIN_USER_KEY),
        secret_env(ENV_ADMIN_PASSWORD, auth, ADMIN_PASSWORD_KEY),
        {"name": "LTM_INFLUXDB_HTTP", "value": f"http://127.0.0.1:{INFLUXDB_HTTP_PORT}"},
    ]
    if archive.s3.region:
        env.append({"name": "AWS_REGION", "value": archive.s3.region})
    return {
        "name": CONTAINER_NAME,
        "image": archive.image,
        "imagePullPolicy": "IfNotPresent",
        "command": agent_args(ctx),
        "env": env,
        "resources": ARCHIVE_RESOURCES,
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "archive-tools", "mountPath": TOOLS_DIR, "readOnly": True},
            {"name": "archive-state", "mountPath": STATE_DIR},
            {"name": "archive-work", "mountPath": WORK_DIR},
            {"name": "archive-dashboards", "mountPath": DASHBOARDS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def volumes(ctx: RenderContext) -> list[Obj]:
    return [
        {"name": "archive-tools", "emptyDir": {"sizeLimit": "512Mi"}},
        {"name": "archive-state", "emptyDir": {"sizeLimit": "1Mi"}},
        # The backup is staged here before upload: as large as the data, so no limit below it.
        {"name": "archive-work", "emptyDir": {}},
        {"name": "archive-dashboards", "configMap": {"name": ctx.names.grafana_dashboards}},
    ]


def influxd_pre_stop(ctx: RenderContext) -> Obj:
    """influxd keeps serving until the agent has archived on stop (or the time is up)."""
    seconds = _archive(ctx).timeout_seconds
    script = f"i=0; while [ ! -e {STATE_DIR}/stopped ] && [ $i -lt {seconds} ]; do sleep 1; i=$((i+1)); done"
    return {"exec": {"command": ["/bin/sh", "-c", script]}}


# EKS Pod Identity's agent on every node (IPv4 and IPv6 link-local addresses, port 80).
POD_IDENTITY_AGENT = ("169.254.170.23/32", "fd00:ec2::23/128")
HTTPS_PORT = 443
POD_IDENTITY_PORT = 80


def egress_rules() -> list[Obj]:
    """What the archive container calls, for the InfluxDB NetworkPolicy's egress allow-list (else
    DNS only): S3 and STS over HTTPS (public endpoints or VPC endpoints, so any address on 443:
    influxd itself calls nobody), and the Pod Identity agent on the node. Not the instance metadata
    address: IRSA and Pod Identity need none."""
    return [
        {"ports": [{"port": HTTPS_PORT, "protocol": "TCP"}]},
        {
            "to": [{"ipBlock": {"cidr": cidr}} for cidr in POD_IDENTITY_AGENT],
            "ports": [{"port": POD_IDENTITY_PORT, "protocol": "TCP"}],
        },
    ]


def pod_fields(ctx: RenderContext) -> Obj:
    """Pod spec fields: the user's ServiceAccount (its token is still not mounted: IRSA and Pod
    Identity inject their own projected token) and, when archiving on stop, the grace period."""
    archive = _archive(ctx)
    out: Obj = {"serviceAccountName": archive.service_account_name}
    if archive.on_delete:
        out["terminationGracePeriodSeconds"] = archive.timeout_seconds + STOP_MARGIN_SECONDS
    return out
