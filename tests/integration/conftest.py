"""Integration tests run against a real local control plane (hack/localcluster.py).

The binaries come from ``make control-plane`` (run before pytest by ``make integration``/``make test``).
If they are missing, or the control plane does not start, the tests that need it fail with the
reason: they are never skipped.

Fixtures:
  cluster    (session) the running LocalCluster, with the project's CRDs (crds/*.yaml) and the
             harness's SELF_TEST_CRD installed before the controllers start
  kube_api   (session) a pykube.HTTPClient logged in as the admin user (system:masters)
  namespace  (function) a fresh namespace's name, deleted after the test
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pykube
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "hack"))

from operator_support import install_crd  # noqa: E402

from localcluster import SELF_TEST_CRD, ClusterError, LocalCluster, find_binaries, project_crds  # noqa: E402

#: Installed before kube-controller-manager starts, so garbage collection knows these kinds at once.
CRDS = [*project_crds(), SELF_TEST_CRD]

_started: list[LocalCluster] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A started LocalCluster for the whole session; its run dir (logs, audit log) is kept in pytest's tmp."""
    problem: str | None = None
    local: LocalCluster | None = None
    try:
        local = LocalCluster(find_binaries(), tmp_path_factory.mktemp("localcluster"), crds=CRDS, keep_run_dir=True)
        local.start()
    except ClusterError as err:
        problem = str(err)
    if problem is not None or local is None:
        # Fail (never skip) outside the except block so the report shows just the reason.
        pytest.fail(f"local control plane did not start: {problem}", pytrace=False)
    _started.append(local)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def kube_api(cluster: LocalCluster) -> pykube.HTTPClient:
    """pykube client for the cluster's admin kubeconfig."""
    return pykube.HTTPClient(pykube.KubeConfig.from_file(str(cluster.kubeconfig_path)))


@pytest.fixture
def namespace(kube_api: pykube.HTTPClient) -> Iterator[str]:
    """A new namespace (``ltm-test-<hex>``) for one test; deleted (not waited for) afterwards."""
    name = f"ltm-test-{uuid.uuid4().hex[:8]}"
    ns = pykube.Namespace(kube_api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    ns.create()
    try:
        yield name
    finally:
        if ns.exists():
            ns.delete()


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
