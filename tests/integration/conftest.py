"""Integration tests run against a real local control plane (ltm_harness.cluster.LocalCluster).

The binaries come from ``make control-plane`` (run before pytest by ``make integration``/``make test``).
If they are missing, or the control plane does not start, the tests that need it fail with the
reason: they are never skipped.

Fixtures:
  cluster    (session) the running LocalCluster, with the project's CRDs (crds/*.yaml) and the
             harness's SELF_TEST_CRD installed before the controllers start
  kube_api   (session) a pykube.HTTPClient logged in as the admin user (system:masters)
  namespace  (function) a fresh namespace's name, deleted after the test
  crd        (module) the project's CRD applied again
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pykube
import pytest

from ltm_harness.cluster import SELF_TEST_CRD, LocalCluster
from ltm_harness.errors import ClusterError
from ltm_harness.kube_session import admin_client, fresh_namespace, start_cluster
from ltm_harness.repo import project_crds
from tests.integration.operator_support import install_crd

HERE = Path(__file__).resolve().parent
#: Installed before kube-controller-manager starts, so garbage collection knows these kinds at once.
CRDS: list[Path | Mapping[str, Any]] = [*project_crds(), SELF_TEST_CRD]

_started: list[LocalCluster] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A started LocalCluster for the whole session; its run dir (logs, audit log) is kept in pytest's tmp."""
    local, problem = None, ""
    try:
        local = start_cluster(tmp_path_factory.mktemp("localcluster"), CRDS, keep_run_dir=True)
    except ClusterError as err:
        problem = str(err)
    if local is None:  # failed (never skipped) outside the except block: the report shows just the reason
        pytest.fail(problem, pytrace=False)
    _started.append(local)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def kube_api(cluster: LocalCluster) -> pykube.HTTPClient:
    return admin_client(cluster)


@pytest.fixture
def namespace(kube_api: pykube.HTTPClient) -> Iterator[str]:
    with fresh_namespace(kube_api, "ltm-test") as name:
        yield name


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for local in _started:
        if local.startup_seconds is not None:
            terminalreporter.write_line(
                f"local control plane: started in {local.startup_seconds:.1f} s "
                f"(binaries present -> /readyz ok, node Ready); run dir {local.run_dir}"
            )


@pytest.fixture(scope="module")
def crd(cluster: LocalCluster) -> None:
    """The project's CRD, applied again for the module (a test before it may have removed it)."""
    install_crd(cluster)
