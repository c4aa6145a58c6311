"""What spec.archive and storage add to the rendered children: the archive container beside influxd
(its command line is one the CLI accepts), the user's ServiceAccount without an API token, the
preStop wait and grace period of on-delete archives, and Grafana's database on a claim."""

from __future__ import annotations

from typing import Any

from loadtest_monitor.cli.main import build_parser
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.monitor import offline_credentials, render_all
from loadtest_monitor.spec.monitor import parse_spec

OWNER = Owner("checkout", "perf", "0f0e0d0c-0000-4000-8000-000000000001")
ARCHIVE = {
    "s3": {"bucket": "perf-archives", "prefix": "team-a", "region": "eu-west-1"},
    "serviceAccountName": "loadtest-archive",
    "schedule": "0 */6 * * *",
}


def _render(raw: dict[str, Any]) -> dict[str, Any]:
    ctx = RenderContext(OWNER, parse_spec(raw))
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in render_all(ctx, offline_credentials(ctx))}


def _influx_pod(raw: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = _render(raw)["Deployment/checkout-influxdb"]["spec"]["template"]["spec"]
    return pod


def _container(pod: dict[str, Any], name: str, key: str = "containers") -> dict[str, Any]:
    found = [c for c in pod[key] if c["name"] == name]
    assert len(found) == 1, [c["name"] for c in pod[key]]
    return dict(found[0])


def test_without_archive_the_influxdb_pod_is_unchanged() -> None:
    pod = _influx_pod({})
    assert [c["name"] for c in pod["containers"]] == ["influxdb"]
    assert [c["name"] for c in pod["initContainers"]] == ["bootstrap"]
    assert "serviceAccountName" not in pod and "terminationGracePeriodSeconds" not in pod
    assert "lifecycle" not in _container(pod, "influxdb")


def test_archive_container_runs_beside_influxd_with_the_users_service_account() -> None:
    pod = _influx_pod({"archive": ARCHIVE})
    assert pod["serviceAccountName"] == "loadtest-archive"
    # IRSA and Pod Identity inject their own projected token; the Kubernetes API token stays out.
    assert pod["automountServiceAccountToken"] is False
    tools = _container(pod, "archive-tools", "initContainers")
    assert tools["image"] == parse_spec({}).influxdb.image, "influxd of the server's own image and version"
    assert tools["command"] == ["cp", "/usr/bin/influxd", "/ltm-tools/influxd"]
    agent = _container(pod, "archive")
    assert agent["image"] == "loadtest-monitor:0.1.0"
    assert agent["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    env = {e["name"]: e for e in agent["env"]}
    assert env["AWS_REGION"]["value"] == "eu-west-1"
    assert env["LTM_INFLUXDB_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "checkout-influxdb-auth"
    assert not [e for e in agent["env"] if "AWS_ACCESS_KEY" in e["name"] or "AWS_SECRET" in e["name"]]
    mounts = {m["name"]: m for m in agent["volumeMounts"]}
    assert mounts["archive-tools"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["archive-dashboards"]["configMap"]["name"] == "checkout-grafana-dashboards"
    assert set(mounts) - {"tmp"} <= set(volumes)


def test_the_rendered_agent_command_is_one_the_cli_accepts() -> None:
    agent = _container(_influx_pod({"archive": {**ARCHIVE, "onDelete": True, "timeoutSeconds": 300}}), "archive")
    command = agent["command"]
    assert command[:3] == ["loadtest-monitor", "archive", "agent"]
    args = build_parser().parse_args(command[1:])
    assert (args.monitor, args.namespace, args.database) == ("checkout", "perf", "gatling")
    assert (args.bucket, args.prefix, args.region) == ("perf-archives", "team-a", "eu-west-1")
    assert (args.schedule, args.on_stop, args.timeout, args.rpc) == ("0 */6 * * *", True, 300, "127.0.0.1:8088")


def test_on_delete_holds_influxd_until_the_archive_is_uploaded_within_a_bounded_time() -> None:
    pod = _influx_pod({"archive": {**ARCHIVE, "onDelete": True, "timeoutSeconds": 300}})
    influxd = _container(pod, "influxdb")
    script = influxd["lifecycle"]["preStop"]["exec"]["command"][-1]
    assert "/archive-state/stopped" in script and "-lt 300" in script
    assert pod["terminationGracePeriodSeconds"] == 330
    assert {"name": "archive-state", "mountPath": "/archive-state", "readOnly": True} in influxd["volumeMounts"]


def test_without_on_delete_there_is_no_pre_stop_wait() -> None:
    pod = _influx_pod({"archive": ARCHIVE})
    assert "lifecycle" not in _container(pod, "influxdb")
    assert "--on-stop" not in _container(pod, "archive")["command"]


def test_grafana_database_is_on_a_claim_when_storage_is_on() -> None:
    objects = _render({"influxdb": {"storage": {"enabled": True, "storageClassName": "gp3"}}})
    claim = objects["PersistentVolumeClaim/checkout-grafana-data"]
    assert claim["spec"]["storageClassName"] == "gp3"
    assert claim["metadata"]["ownerReferences"][0]["uid"] == OWNER.uid, "deleted with the monitor by default"
    pod = objects["Deployment/checkout-grafana"]["spec"]["template"]["spec"]
    storage = next(v for v in pod["volumes"] if v["name"] == "storage")
    assert storage == {"name": "storage", "persistentVolumeClaim": {"claimName": "checkout-grafana-data"}}
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["storage"] == "/var/lib/grafana"
    names = list(objects)
    assert names.index("PersistentVolumeClaim/checkout-grafana-data") < names.index("Deployment/checkout-grafana")


def test_grafana_claim_is_kept_with_keep_on_delete_like_influxdbs() -> None:
    objects = _render({"influxdb": {"storage": {"enabled": True, "keepOnDelete": True}}})
    for name in ("checkout-grafana-data", "checkout-influxdb-data"):
        meta = objects[f"PersistentVolumeClaim/{name}"]["metadata"]
        assert "ownerReferences" not in meta
        assert meta["labels"]["app.kubernetes.io/instance"] == "checkout", "found again (adopted) by its labels"


def test_without_storage_grafana_keeps_an_empty_dir() -> None:
    objects = _render({})
    assert not [k for k in objects if k.startswith("PersistentVolumeClaim/")]
    pod = objects["Deployment/checkout-grafana"]["spec"]["template"]["spec"]
    assert next(v for v in pod["volumes"] if v["name"] == "storage")["emptyDir"] == {"sizeLimit": "1Gi"}


def test_rendering_is_deterministic() -> None:
    raw = {"archive": {**ARCHIVE, "onDelete": True}, "influxdb": {"storage": {"enabled": True}}}
    assert _render(raw) == _render(raw)


def test_network_policy_lets_the_archive_reach_s3_and_the_pod_identity_agent_only_with_archive() -> None:
    dns_only = _render({})["NetworkPolicy/checkout-influxdb"]["spec"]["egress"]
    assert len(dns_only) == 1 and {p["port"] for p in dns_only[0]["ports"]} == {53}
    egress = _render({"archive": ARCHIVE})["NetworkPolicy/checkout-influxdb"]["spec"]["egress"]
    assert egress[0] == dns_only[0]
    assert {"ports": [{"port": 443, "protocol": "TCP"}]} in egress, "S3 and STS (IRSA) over HTTPS"
    agent = next(rule for rule in egress if rule.get("to") and rule["ports"][0]["port"] == 80)
    assert [peer["ipBlock"]["cidr"] for peer in agent["to"]] == ["169.254.170.23/32", "fd00:ec2::23/128"]
    assert not [r for r in egress if "169.254.169.254" in str(r)], "never the instance metadata service"
