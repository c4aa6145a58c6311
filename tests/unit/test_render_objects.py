"""The children of a monitor, rendered offline: names, ownership, labels, security, config hashes."""

from __future__ import annotations

import base64
import json
import tomllib
from typing import Any

import yaml

from loadtest_monitor.identity import CONFIG_HASH_ANNOTATION
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.gatling import graphite_templates
from loadtest_monitor.render.monitor import render_all
from loadtest_monitor.spec import parse_spec

OWNER = Owner("checkout", "perf", "0f0e0d0c-0000-4000-8000-000000000001")
NLB = "service.beta.kubernetes.io/aws-load-balancer"


def _render(
    raw: dict[str, Any] | None = None, password: str | None = "s3cret-password-of-32-characters"
) -> dict[str, Any]:
    objects = render_all(RenderContext(OWNER, parse_spec(raw or {})), password)
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


def test_default_monitor_children() -> None:
    assert sorted(_render()) == [
        "ConfigMap/checkout-gatling",
        "ConfigMap/checkout-grafana-dashboard-providers",
        "ConfigMap/checkout-grafana-dashboards",
        "ConfigMap/checkout-grafana-datasources",
        "ConfigMap/checkout-influxdb-config",
        "Deployment/checkout-grafana",
        "Deployment/checkout-influxdb",
        "NetworkPolicy/checkout-influxdb",
        "Secret/checkout-grafana-admin",
        "Service/checkout-grafana",
        "Service/checkout-graphite",
        "Service/checkout-influxdb",
    ]


def test_every_child_is_owned_labelled_and_namespaced() -> None:
    for key, obj in _render().items():
        meta = obj["metadata"]
        assert meta["namespace"] == "perf", key
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "loadtest.dev/v1alpha1",
                "kind": "LoadtestMonitor",
                "name": "checkout",
                "uid": OWNER.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ], key
        labels = meta["labels"]
        assert labels["app.kubernetes.io/instance"] == "checkout"
        assert labels["app.kubernetes.io/managed-by"] == "loadtest-monitor"
        assert labels["app.kubernetes.io/part-of"] == "loadtest-monitor"
        assert {"app.kubernetes.io/name", "app.kubernetes.io/component"} <= labels.keys()


def test_render_is_deterministic() -> None:
    assert json.dumps(_render(), sort_keys=True) == json.dumps(_render(), sort_keys=True)


def _pod(objs: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(objs[f"Deployment/{name}"]["spec"]["template"]["spec"])


def test_pods_meet_the_restricted_pod_security_standard() -> None:
    objs = _render()
    for deployment, uid in (("checkout-influxdb", 1500), ("checkout-grafana", 472)):
        pod = _pod(objs, deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert container["readinessProbe"] and container["livenessProbe"]
        kinds = {next(k for k in v if k != "name") for v in pod["volumes"]}
        assert kinds <= {"configMap", "secret", "emptyDir", "persistentVolumeClaim"}
        assert objs[f"Deployment/{deployment}"]["spec"]["strategy"] == {"type": "Recreate"}


def test_influxdb_conf_has_tcp_and_udp_graphite_listeners_with_the_templates() -> None:
    spec = parse_spec({"influxdb": {"database": "perf"}})
    conf = _render({"influxdb": {"database": "perf"}})["ConfigMap/checkout-influxdb-config"]["data"]["influxdb.conf"]
    parsed = tomllib.loads(conf)
    listeners = parsed["graphite"]
    assert [g["protocol"] for g in listeners] == ["tcp", "udp"]
    for g in listeners:
        assert g["enabled"] is True
        assert g["bind-address"] == ":2003"
        assert g["database"] == "perf"
        assert g["templates"] == graphite_templates(spec.gatling)
    assert parsed["http"]["bind-address"] == ":8086"
    assert parsed["data"]["dir"].startswith("/var/lib/influxdb")


def test_retention_script_applies_the_spec() -> None:
    script = _render({"influxdb": {"retention": "2w"}})["ConfigMap/checkout-influxdb-config"]["data"][
        "apply-retention.sh"
    ]
    assert 'ALTER RETENTION POLICY "autogen" ON "gatling" DURATION 2w DEFAULT' in script


def test_config_change_changes_the_pod_template_hash_and_nothing_else_does() -> None:
    before = _render()
    same = _render()
    changed = _render({"gatling": {"maxGroupDepth": 4}})

    def hash_of(objs: dict[str, Any], name: str) -> str:
        return str(objs[f"Deployment/{name}"]["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION])

    assert hash_of(before, "checkout-influxdb") == hash_of(same, "checkout-influxdb")
    assert hash_of(before, "checkout-influxdb") != hash_of(changed, "checkout-influxdb")
    new_password = _render(password="another-password-of-32-characters")
    assert hash_of(before, "checkout-grafana") != hash_of(new_password, "checkout-grafana")
    assert hash_of(before, "checkout-influxdb") == hash_of(new_password, "checkout-influxdb")
    grafana_changed = _render({"influxdb": {"database": "other"}})
    assert hash_of(before, "checkout-grafana") != hash_of(grafana_changed, "checkout-grafana")


def test_grafana_service_is_an_nlb_with_source_ranges_and_user_annotations_win() -> None:
    svc = _render(
        {
            "grafana": {
                "service": {
                    "scheme": "internet-facing",
                    "loadBalancerSourceRanges": ["203.0.113.0/24"],
                    "annotations": {f"{NLB}-nlb-target-type": "instance", "team": "perf"},
                }
            }
        }
    )["Service/checkout-grafana"]
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    assert svc["spec"]["ports"][0]["port"] == 3000
    annotations = svc["metadata"]["annotations"]
    assert annotations[f"{NLB}-type"] == "external"
    assert annotations[f"{NLB}-scheme"] == "internet-facing"
    assert annotations[f"{NLB}-nlb-target-type"] == "instance"
    assert annotations["team"] == "perf"
    # loadBalancerClass belongs to the AWS controller's webhook: never set by us.
    assert "loadBalancerClass" not in svc["spec"]


def test_cluster_ip_grafana_has_no_nlb_annotations() -> None:
    svc = _render({"grafana": {"service": {"type": "ClusterIP"}}})["Service/checkout-grafana"]
    assert svc["spec"]["type"] == "ClusterIP"
    assert "annotations" not in svc["metadata"]


def test_graphite_is_cluster_internal_unless_asked() -> None:
    objs = _render()
    svc = objs["Service/checkout-graphite"]
    assert svc["spec"]["type"] == "ClusterIP"
    assert {(p["port"], p["protocol"]) for p in svc["spec"]["ports"]} == {(2003, "TCP"), (2003, "UDP")}
    lb = _render({"graphite": {"exposure": "InternalLoadBalancer", "allowedSourceRanges": ["10.1.0.0/16"]}})
    svc = lb["Service/checkout-graphite"]
    assert svc["spec"]["type"] == "LoadBalancer"
    assert svc["metadata"]["annotations"][f"{NLB}-scheme"] == "internal"
    assert svc["spec"]["loadBalancerSourceRanges"] == ["10.1.0.0/16"]
    peers = lb["NetworkPolicy/checkout-influxdb"]["spec"]["ingress"][0]["from"]
    assert {"ipBlock": {"cidr": "10.1.0.0/16"}} in peers


def test_network_policy_can_be_turned_off_and_allows_listed_namespaces() -> None:
    assert "NetworkPolicy/checkout-influxdb" not in _render({"graphite": {"networkPolicy": False}})
    np = _render({"graphite": {"allowedNamespaces": ["runners"]}})["NetworkPolicy/checkout-influxdb"]
    peers = np["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "runners"}}} in peers


def test_generated_admin_secret_and_grafana_reads_it_from_a_file() -> None:
    objs = _render(password="p" * 32)
    secret = objs["Secret/checkout-grafana-admin"]
    assert base64.b64decode(secret["data"]["admin-password"]).decode() == "p" * 32
    env = {e["name"]: e["value"] for e in _pod(objs, "checkout-grafana")["containers"][0]["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/etc/grafana/admin/admin-password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert "GF_AUTH_ANONYMOUS_ENABLED" not in env


def test_existing_admin_secret_is_used_and_none_generated() -> None:
    objs = _render({"grafana": {"adminSecretRef": {"name": "team-admin", "passwordKey": "pw"}}}, password=None)
    assert "Secret/checkout-grafana-admin" not in objs
    pod = _pod(objs, "checkout-grafana")
    assert {"name": "admin", "secret": {"secretName": "team-admin"}} in pod["volumes"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"].endswith("/pw")


def test_anonymous_viewing_is_read_only() -> None:
    env = {
        e["name"]: e["value"]
        for e in _pod(_render({"grafana": {"anonymousViewing": True}}), "checkout-grafana")["containers"][0]["env"]
    }
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_datasource_points_at_the_influxdb_service() -> None:
    data = _render({"influxdb": {"database": "perf"}})["ConfigMap/checkout-grafana-datasources"]["data"]
    ds = yaml.safe_load(data["datasources.yaml"])["datasources"][0]
    assert ds["type"] == "influxdb"
    assert ds["url"] == "http://checkout-influxdb.perf.svc.cluster.local:8086"
    assert ds["jsonData"]["dbName"] == "perf"
    dashboards = _render()["ConfigMap/checkout-grafana-dashboards"]["data"]
    dashboard = json.loads(dashboards["gatling.json"])
    assert dashboard["title"]
    assert ds["uid"] in json.dumps(dashboard)


def test_storage_pvc_and_keep_on_delete() -> None:
    objs = _render({"influxdb": {"storage": {"enabled": True, "size": "20Gi", "storageClassName": "gp3"}}})
    pvc = objs["PersistentVolumeClaim/checkout-influxdb-data"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert pvc["spec"]["storageClassName"] == "gp3"
    assert "ownerReferences" in pvc["metadata"]
    volumes = _pod(objs, "checkout-influxdb")["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "checkout-influxdb-data"}} in volumes
    kept = _render({"influxdb": {"storage": {"enabled": True, "keepOnDelete": True}}})
    assert "ownerReferences" not in kept["PersistentVolumeClaim/checkout-influxdb-data"]["metadata"]
    assert "PersistentVolumeClaim/checkout-influxdb-data" not in _render()


def test_placement_reaches_every_pod() -> None:
    objs = _render(
        {"placement": {"nodeSelector": {"pool": "mon"}, "tolerations": [{"key": "d", "operator": "Exists"}]}}
    )
    for name in ("checkout-influxdb", "checkout-grafana"):
        pod = _pod(objs, name)
        assert pod["nodeSelector"] == {"pool": "mon"}
        assert pod["tolerations"] == [{"key": "d", "operator": "Exists"}]


def test_gatling_config_map_has_conf_and_java_properties() -> None:
    data = _render()["ConfigMap/checkout-gatling"]["data"]
    assert 'host = "checkout-graphite.perf.svc.cluster.local"' in data["gatling.conf"]
    assert "-Dgatling.data.graphite.host=checkout-graphite.perf.svc.cluster.local" in data["java-system-properties"]
