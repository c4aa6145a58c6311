"""A real OCI registry for the packaging tests, and podman kept away from the machine's own store.

The registry is CNCF Distribution (what `registry:3` runs), built from the Go module proxy by
hack/build-registry.sh and served on 127.0.0.1 with htpasswd login, the way ECR asks for a user
(`AWS`) and a password. What was pushed is read back through the registry's HTTP API, as any
client would pull it. Used by the `runner-image`, `images push` and chart publishing tests.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltm_harness import registry as harness_registry
from ltm_harness.registry import Registry

USER = "AWS"
PASSWORD = "ecr-style-password-0123456789"


@pytest.fixture(scope="module")
def registry_binary() -> Path:
    try:
        return harness_registry.registry_binary()
    except harness_registry.RegistryError as err:
        raise AssertionError(str(err)) from None


@pytest.fixture(scope="module")
def engine_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """podman with its own storage and login file, so the test touches nothing of the machine's."""
    assert shutil.which("podman"), "podman is missing: run `bash hack/install-podman.sh` (or `make registry`)"
    root = tmp_path_factory.mktemp("podman")
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/graph"\nrunroot = "{root}/run"\n'
    )
    return {**os.environ, "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
            "REGISTRY_AUTH_FILE": str(root / "auth.json")}


@pytest.fixture(scope="module")
def registry(registry_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The harness's real Distribution registry, asking for USER/PASSWORD."""
    try:
        server = Registry(registry_binary, tmp_path_factory.mktemp("registry"), USER, PASSWORD).start()
    except harness_registry.RegistryError as err:
        raise AssertionError(str(err)) from None
    try:
        yield server.host
    finally:
        server.stop()


def registry_get(host: str, path: str, accept: str = "*/*") -> bytes:
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(f"http://{host}{path}", headers={"Authorization": f"Basic {auth}",
                                                                      "Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


MANIFEST_TYPES = ",".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def pushed_image(host: str, repository: str, tag: str) -> tuple[dict, set[str]]:
    """(image config, files in its layers) of repository:tag, as any client would pull them."""
    manifest = json.loads(registry_get(host, f"/v2/{repository}/manifests/{tag}", MANIFEST_TYPES))
    config = json.loads(registry_get(host, f"/v2/{repository}/blobs/{manifest['config']['digest']}"))
    files: set[str] = set()
    for layer in manifest["layers"]:
        blob = registry_get(host, f"/v2/{repository}/blobs/{layer['digest']}")
        if blob[:2] == b"\x1f\x8b":
            blob = gzip.decompress(blob)
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            files |= {m.name.lstrip("./") for m in tar.getmembers() if m.isfile()}
    return config, files
