"""The create-only apply the operator creates children with, on the real API server."""

from __future__ import annotations

from kubernetes import client
from kubernetes.config import kube_config

from loadtest_monitor.kube.client import Kube
from tests.integration.operator_support import check_create_only_apply


def test_create_only_apply_creates_free_names_and_never_touches_a_taken_one(cluster, namespace) -> None:
    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=str(cluster.kubeconfig_path), client_configuration=configuration)
    kube = Kube(client.ApiClient(configuration))

    def kubectl(*args: str, input: str | None = None):
        return cluster.kubectl("-n", namespace, *args, input=input)

    # ConfigMap, Secret, PersistentVolumeClaim, Deployment, Service, NetworkPolicy
    assert check_create_only_apply(kube, kubectl, namespace) == 6
