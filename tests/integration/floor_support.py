"""Helpers shared by this layer's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from ltm_harness.apiserver import ApiServer
from ltm_harness.binaries import Binaries, find_binaries, floor_apiserver_dir
from ltm_harness.errors import ClusterError
from ltm_harness.repo import MONITOR_CRD as CRD


@pytest.fixture(scope="module")
def old_apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    problem: str | None = None
    try:
        api = ApiServer(
            Binaries(floor_apiserver_dir()), tmp_path_factory.mktemp("floor"), kubectl=find_binaries().kubectl
        )
        api.start()
    except ClusterError as err:
        problem = str(err)
    if problem is not None:
        pytest.fail(f"the {FLOOR_VERSION} kube-apiserver did not start: {problem}", pytrace=False)
    try:
        version = api.kubectl("version", "-o", "yaml")
        assert yaml.safe_load(version.stdout)["serverVersion"]["gitVersion"].startswith(FLOOR_VERSION + ".")
        applied = api.kubectl("apply", "--server-side", "-f", str(CRD))
        assert applied.returncode == 0, applied.stderr
        established = api.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "crd/loadtestmonitors.loadtest.dev"
        )
        assert established.returncode == 0, established.stderr
        yield api
    finally:
        api.stop()


def _monitor(name: str, spec: dict[str, object]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "loadtest.dev/v1alpha1",
            "kind": "LoadtestMonitor",
            "metadata": {"name": name, "namespace": "default"},
            "spec": spec,
        }
    )


FLOOR_VERSION = "v1.27"  # the floor README.md, docs/install.md and Chart.yaml state
