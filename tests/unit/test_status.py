"""Conditions computed from what the cluster reports."""

from __future__ import annotations

from loadtest_monitor.controller import status as st


def _deployment(available: bool, generation: int = 2, observed: int = 2, updated: int = 1) -> dict[str, object]:
    return {
        "metadata": {"name": "x-influxdb", "generation": generation},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "availableReplicas": 1 if available else 0,
            "conditions": [{"type": "Available", "status": "True" if available else "False"}],
        },
    }


def test_deployment_is_ready_only_when_rolled_out_and_available() -> None:
    assert st.deployment_condition(st.INFLUXDB_READY, _deployment(True)).status == "True"
    assert st.deployment_condition(st.INFLUXDB_READY, _deployment(False)).status == "False"
    stale = st.deployment_condition(st.INFLUXDB_READY, _deployment(True, generation=3, observed=2))
    assert stale.status == "False"
    assert st.deployment_condition(st.INFLUXDB_READY, None).reason == st.REASON_PROGRESSING


def test_ready_needs_every_part() -> None:
    good = st.Condition(st.INFLUXDB_READY, "True", "Available", "ok")
    bad = st.Condition(st.GRAFANA_READY, "False", "Progressing", "0/1 available")
    assert st.ready_condition([good]).status == "True"
    ready = st.ready_condition([good, bad])
    assert (ready.status, ready.reason) == ("False", "Progressing")
    assert "GrafanaReady" in ready.message


def test_transition_time_is_kept_while_status_holds() -> None:
    first = st.merge_conditions([], [st.Condition("Ready", "False", "Progressing", "a")], 1, "T1")
    same = st.merge_conditions(first, [st.Condition("Ready", "False", "Progressing", "b")], 2, "T2")
    flipped = st.merge_conditions(same, [st.Condition("Ready", "True", "Available", "c")], 2, "T3")
    assert first[0]["lastTransitionTime"] == "T1"
    assert same[0]["lastTransitionTime"] == "T1"
    assert same[0]["observedGeneration"] == 2
    assert flipped[0]["lastTransitionTime"] == "T3"


def test_load_balancer_address_prefers_hostname() -> None:
    svc = {"status": {"loadBalancer": {"ingress": [{"hostname": "k8s-perf-abc.elb.example", "ip": "1.2.3.4"}]}}}
    assert st.load_balancer_address(svc) == "k8s-perf-abc.elb.example"
    assert st.load_balancer_address({"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}}) == "1.2.3.4"
    assert st.load_balancer_address({"status": {}}) == ""
    assert st.load_balancer_address(None) == ""


def test_status_patch_removes_keys_no_longer_sent_and_is_empty_when_nothing_changed() -> None:
    old = {"graphite": {"host": "h", "externalAddress": "nlb:2003"}, "grafana": {"loadBalancerState": "active"}}
    new = {"graphite": {"host": "h"}, "grafana": {}}
    assert st.status_patch(old, new) == {"graphite": {"externalAddress": None}, "grafana": {"loadBalancerState": None}}
    assert st.status_patch(new, new) == {}
    assert st.status_patch({"a": 1}, {}) == {"a": None}


def _pod(reason: str) -> dict[str, object]:
    waiting = {"reason": reason, "message": "back-off 5m0s restarting failed container"}
    return {
        "metadata": {"name": "x-influxdb-abc"},
        "status": {"containerStatuses": [{"name": "influxdb", "state": {"waiting": waiting}}]},
    }


def test_pods_that_will_not_start_make_the_component_degraded() -> None:
    for reason in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"):
        cond = st.deployment_condition(st.INFLUXDB_READY, _deployment(False), [_pod(reason)])
        assert (cond.status, cond.reason) == ("False", reason)
        assert "x-influxdb-abc" in cond.message
    assert (
        st.deployment_condition(st.INFLUXDB_READY, _deployment(False), [_pod("ContainerCreating")]).reason
        == "Progressing"
    )


def test_progress_deadline_exceeded_is_its_own_reason() -> None:
    dep = _deployment(False)
    dep["status"]["conditions"].append(  # type: ignore[index]
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}
    )
    cond = st.deployment_condition(st.INFLUXDB_READY, dep)
    assert (cond.status, cond.reason) == ("False", "ProgressDeadlineExceeded")
    ready = st.ready_condition([cond])
    assert ready.reason == "ProgressDeadlineExceeded"


def _bootstrapped_pod(message: str) -> dict[str, object]:
    terminated = {"exitCode": 0, "reason": "Completed", "message": message}
    return {
        "metadata": {"name": "x-influxdb-abc", "labels": {"app.kubernetes.io/name": "influxdb"}},
        "status": {"initContainerStatuses": [{"name": "bootstrap", "state": {"terminated": terminated}}]},
    }


def test_a_failed_bootstrap_makes_influxdb_not_ready_with_its_reason() -> None:
    available = st.deployment_condition(st.INFLUXDB_READY, _deployment(True))
    assert available.status == "True"
    for reason in ("RetentionFailed", "DatabaseFailed", "UsersFailed", "InfluxDBUnavailable"):
        cond = st.bootstrap_failure(available, [_bootstrapped_pod(f"{reason}: ALTER RETENTION POLICY refused")])
        assert (cond.type, cond.status, cond.reason) == (st.INFLUXDB_READY, "False", reason)
        assert "x-influxdb-abc" in cond.message and "refused" in cond.message
        assert st.ready_condition([cond]).reason == reason
    fine = st.bootstrap_failure(available, [_bootstrapped_pod("Bootstrapped: database gatling, retention 7d")])
    assert fine == available
    still_running = {"metadata": {"name": "p"}, "status": {"initContainerStatuses": [{"name": "bootstrap"}]}}
    assert st.bootstrap_failure(available, [still_running]) == available
