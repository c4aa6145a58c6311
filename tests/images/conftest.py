"""Fixtures of the image tests: podman with the project's configuration, the images that
`make images` built, a local control plane (hack/localcluster.py, as the integration tests start
it) for the operator image, and a real influxd + HTTP target for the runner image.

Nothing here builds an image: a missing podman or image fails the tests with the command that
makes it (never a skip).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pykube
import pytest

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
for folder in (TESTS.parent / "hack", TESTS / "e2e", TESTS / "integration", HERE):
    sys.path.insert(0, str(folder))

from http_target import TargetServer  # noqa: E402
from podman import OPERATOR_IMAGE, RUNNER_IMAGE, Podman, PodmanMissing  # noqa: E402

from localcluster import ClusterError, LocalCluster, find_binaries, project_crds  # noqa: E402

_sizes: dict[str, int] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.images)


@pytest.fixture(scope="session")
def podman() -> Podman:
    try:
        return Podman()
    except PodmanMissing as exc:
        pytest.fail(str(exc), pytrace=False)


def _image(podman: Podman, image: str) -> str:
    try:
        podman.require_image(image)
    except PodmanMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    _sizes[image] = podman.image_size(image)
    return image


@pytest.fixture(scope="session")
def operator_image(podman: Podman) -> str:
    return _image(podman, OPERATOR_IMAGE)


@pytest.fixture(scope="session")
def runner_image(podman: Podman) -> str:
    return _image(podman, RUNNER_IMAGE)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    problem: str | None = None
    local: LocalCluster | None = None
    try:
        local = LocalCluster(find_binaries(), tmp_path_factory.mktemp("localcluster"), crds=project_crds())
        local.start()
    except ClusterError as err:
        problem = str(err)
    if problem is not None or local is None:
        pytest.fail(f"local control plane did not start: {problem}", pytrace=False)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def kube_api(cluster: LocalCluster) -> pykube.HTTPClient:
    return pykube.HTTPClient(pykube.KubeConfig.from_file(str(cluster.kubeconfig_path)))


@pytest.fixture
def namespace(kube_api: pykube.HTTPClient) -> Iterator[str]:
    name = f"ltm-image-{uuid.uuid4().hex[:8]}"
    ns = pykube.Namespace(kube_api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    ns.create()
    try:
        yield name
    finally:
        if ns.exists():
            ns.delete()


@pytest.fixture(scope="session")
def http_target() -> Iterator[TargetServer]:
    server = TargetServer().start()
    yield server
    server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for image, size in sorted(_sizes.items()):
        terminalreporter.write_line(f"image {image}: {size / 1e6:.0f} MB")
