"""Fixtures of the image tests: podman with the project's configuration, the images that
`make images` built, a local control plane (ltm_harness's LocalCluster, as the integration tests start
it) for the operator image, and a real influxd + HTTP target for the runner image.

Nothing here builds an image: a missing podman or image fails the tests with the command that
makes it (never a skip).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pykube
import pytest

from ltm_harness.cluster import LocalCluster
from ltm_harness.errors import ClusterError
from ltm_harness.http_target import TargetServer
from ltm_harness.kube_session import admin_client, fresh_namespace, start_cluster
from ltm_harness.podman import OPERATOR_IMAGE, RUNNER_IMAGE, Podman, PodmanMissing
from ltm_harness.repo import project_crds

HERE = Path(__file__).resolve().parent

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
    local, problem = None, ""
    try:
        local = start_cluster(tmp_path_factory.mktemp("localcluster"), project_crds())
    except ClusterError as err:
        problem = str(err)
    if local is None:  # failed (never skipped) outside the except block: the report shows just the reason
        pytest.fail(problem, pytrace=False)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def kube_api(cluster: LocalCluster) -> pykube.HTTPClient:
    return admin_client(cluster)


@pytest.fixture
def namespace(kube_api: pykube.HTTPClient) -> Iterator[str]:
    with fresh_namespace(kube_api, "ltm-image") as name:
        yield name


@pytest.fixture(scope="session")
def http_target() -> Iterator[TargetServer]:
    server = TargetServer().start()
    yield server
    server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for image, size in sorted(_sizes.items()):
        terminalreporter.write_line(f"image {image}: {size / 1e6:.0f} MB")
