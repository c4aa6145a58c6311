"""A Deployment whose pod cannot be created at all (spec.archive names a ServiceAccount that does not
exist) makes the monitor Ready=False with the API server's reason, not an endless 'Progressing'."""

from __future__ import annotations

from loadtest_monitor.controller import status as st

NO_SA = (
    'pods "checkout-influxdb-7d9f-" is forbidden: error looking up service account perf/loadtest-archive: '
    'serviceaccount "loadtest-archive" not found'
)


def _deployment(conditions: list[dict[str, str]]) -> dict[str, object]:
    return {
        "metadata": {"name": "checkout-influxdb", "generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "conditions": conditions},
    }


def test_replica_failure_names_the_missing_service_account() -> None:
    dep = _deployment(
        [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": NO_SA},
        ]
    )
    cond = st.deployment_condition(st.INFLUXDB_READY, dep)
    assert (cond.status, cond.reason) == ("False", "ReplicaFailure")
    assert 'serviceaccount "loadtest-archive" not found' in cond.message
    ready = st.ready_condition([cond, st.Condition(st.GRAFANA_READY, "False", "Progressing", "0/1")])
    assert ready.reason == "ReplicaFailure", "a failure that waits for the user comes before progress"


def test_a_cleared_replica_failure_is_progress_again() -> None:
    dep = _deployment([{"type": "ReplicaFailure", "status": "False", "reason": "FailedCreate", "message": NO_SA}])
    assert st.deployment_condition(st.INFLUXDB_READY, dep).reason == "Progressing"
