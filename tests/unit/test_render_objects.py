"""The children of a monitor, rendered offline: names, ownership, labels, security, config hashes."""

from __future__ import annotations

import base64
import json
import tomllib
from typing import Any

import pytest
import yaml

from loadtest_monitor.identity import CONFIG_HASH_ANNOTATION
from loadtest_monitor.render.common import Owner, RenderContext
from loadtest_monitor.render.gatling import graphite_templates
from loadtest_monitor.render.monitor import generated_secrets, render_all
from loadtest_monitor.spec.monitor import parse_spec

OWNER = Owner("checkout", "perf", "0f0e0d0c-0000-4000-8000-000000000001")
NLB = "service.beta.kubernetes.io/aws-load-balancer"
ADMIN_PASSWORD = "s3cret-password-of-32-characters"
READER_PASSWORD = "reader-password-of-32-characters"


def _render(
    raw: dict[str, Any] | None = None, password: str = ADMIN_PASSWORD, reader_password: str = READER_PASSWORD
) -> dict[str, Any]:
    ctx = RenderContext(OWNER, parse_spec(raw or {}))
    values = {"admin-password": password, "reader-password": reader_password}
    credentials = {name: {k: values[k] for k in keys} for name, keys in generated_secrets(ctx).items()}
    if "checkout-influxdb-auth" in credentials:
        credentials["checkout-influxdb-auth"]["admin-password"] = "influx-admin-password-32-chars.."
    objects = render_all(ctx, credentials)
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
        "NetworkPolicy/checkout-grafana",
        "NetworkPolicy/checkout-influxdb",
        "Secret/checkout-grafana-admin",
        "Secret/checkout-influxdb-auth",
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


def test_influxdb_http_needs_a_user_and_pprof_and_reporting_are_off() -> None:
    parsed = tomllib.loads(_render()["ConfigMap/checkout-influxdb-config"]["data"]["influxdb.conf"])
    assert parsed["http"]["auth-enabled"] is True
    assert parsed["http"]["pprof-enabled"] is False
    assert parsed["reporting-disabled"] is True


def test_bootstrap_init_container_applies_retention_with_a_shard_duration_and_never_hooks() -> None:
    objs = _render({"influxdb": {"retention": "24h"}})
    data = objs["ConfigMap/checkout-influxdb-config"]["data"]
    script = data["bootstrap.sh"]
    # The script's values are assignments at its top; it sets the policy from them (test_render_bootstrap.py).
    assert {"db=gatling", "retention=24h", "shard=1h"} <= set(script.splitlines())
    assert r'POLICY \"autogen\" ON \"$db_q\" DURATION $retention SHARD DURATION $shard DEFAULT' in script
    assert "exit 1" not in script and script.rstrip().endswith('"')
    private = tomllib.loads(data["bootstrap.conf"])
    assert private["http"]["bind-address"] == "127.0.0.1:8086"
    assert private["http"]["auth-enabled"] is False
    assert "graphite" not in private
    pod = _pod(objs, "checkout-influxdb")
    (init,) = pod["initContainers"]
    assert init["name"] == "bootstrap"
    assert init["command"] == ["/bin/sh", "/etc/influxdb/bootstrap.sh"]
    assert init["terminationMessagePolicy"] == "File"
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in init["env"]}
    assert refs["LTM_ADMIN_PASSWORD"] == {"name": "checkout-influxdb-auth", "key": "admin-password"}
    assert refs["LTM_READER_PASSWORD"] == {"name": "checkout-influxdb-auth", "key": "reader-password"}
    for container in pod["containers"]:
        assert "lifecycle" not in container


def test_influxdb_auth_secret_holds_admin_and_reader() -> None:
    secret = _render(reader_password="r" * 32)["Secret/checkout-influxdb-auth"]
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "admin-user": "admin",
        "admin-password": "influx-admin-password-32-chars..",
        "reader-user": "grafana",
        "reader-password": "r" * 32,
    }


def test_no_password_in_any_config_map() -> None:
    objs = _render(password="A" * 32, reader_password="B" * 32)
    for key, obj in objs.items():
        if obj["kind"] == "ConfigMap":
            text = json.dumps(obj)
            for password in ("A" * 32, "B" * 32, "influx-admin-password-32-chars.."):
                assert password not in text, key


def test_grafana_reads_influxdb_as_the_reader_from_the_secret() -> None:
    objs = _render()
    ds = yaml.safe_load(objs["ConfigMap/checkout-grafana-datasources"]["data"]["datasources.yaml"])["datasources"][0]
    assert ds["user"] == "${LTM_INFLUXDB_READER_USER}"
    assert ds["secureJsonData"] == {"password": "${LTM_INFLUXDB_READER_PASSWORD}"}
    env = {e["name"]: e for e in _pod(objs, "checkout-grafana")["containers"][0]["env"]}
    assert env["LTM_INFLUXDB_READER_USER"]["valueFrom"]["secretKeyRef"] == {
        "name": "checkout-influxdb-auth",
        "key": "reader-user",
    }
    assert env["LTM_INFLUXDB_READER_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "checkout-influxdb-auth",
        "key": "reader-password",
    }


def test_generated_secrets_and_missing_credentials() -> None:
    ctx = RenderContext(OWNER, parse_spec({}))
    assert generated_secrets(ctx) == {
        "checkout-influxdb-auth": ("admin-password", "reader-password"),
        "checkout-grafana-admin": ("admin-password",),
    }
    own = RenderContext(OWNER, parse_spec({"grafana": {"adminSecretRef": {"name": "team-admin"}}}))
    assert generated_secrets(own) == {"checkout-influxdb-auth": ("admin-password", "reader-password")}
    with pytest.raises(ValueError, match="checkout-influxdb-auth"):
        render_all(ctx, {"checkout-grafana-admin": {"admin-password": "x"}})


def test_pod_selectors_carry_the_operator_label() -> None:
    objs = _render()
    for name in ("checkout-influxdb", "checkout-grafana"):
        deployment = objs[f"Deployment/{name}"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["loadtest.dev/monitor"] == "checkout"
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    for name in ("checkout-influxdb", "checkout-grafana", "checkout-graphite"):
        assert objs[f"Service/{name}"]["spec"]["selector"]["loadtest.dev/monitor"] == "checkout"
    policy = objs["NetworkPolicy/checkout-influxdb"]["spec"]["podSelector"]["matchLabels"]
    assert policy == objs["Deployment/checkout-influxdb"]["spec"]["selector"]["matchLabels"]


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
    new_reader = _render(reader_password="another-reader-password-32-chars")
    assert hash_of(before, "checkout-grafana") != hash_of(new_reader, "checkout-grafana")
    assert hash_of(before, "checkout-influxdb") != hash_of(new_reader, "checkout-influxdb")
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
    env = {e["name"]: e.get("value") for e in _pod(objs, "checkout-grafana")["containers"][0]["env"]}
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/etc/grafana/admin/password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert "GF_AUTH_ANONYMOUS_ENABLED" not in env


def test_existing_admin_secret_is_used_and_none_generated() -> None:
    objs = _render({"grafana": {"adminSecretRef": {"name": "team-admin", "passwordKey": "pw"}}})
    assert "Secret/checkout-grafana-admin" not in objs
    pod = _pod(objs, "checkout-grafana")
    # Only its two keys are mounted: whatever else the Secret holds never reaches the container.
    assert {
        "name": "admin",
        "secret": {
            "secretName": "team-admin",
            "items": [{"key": "admin-user", "path": "user"}, {"key": "pw", "path": "password"}],
        },
    } in pod["volumes"]
    for volume in pod["volumes"]:
        if "secret" in volume:
            assert volume["secret"].get("items"), volume
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["GF_SECURITY_ADMIN_USER__FILE"] == "/etc/grafana/admin/user"
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/etc/grafana/admin/password"


def test_anonymous_viewing_is_read_only() -> None:
    env = {
        e["name"]: e.get("value")
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
    assert '"host" = "checkout-graphite.perf.svc.cluster.local"' in data["gatling.conf"]
    assert "-Dgatling.data.graphite.host=checkout-graphite.perf.svc.cluster.local" in data["java-system-properties"]
