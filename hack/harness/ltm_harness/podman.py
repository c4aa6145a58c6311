"""podman as the image tests use it: the configuration hack/podman-env.sh wrote into the cache,
the images `make images` built (hack/build-images.sh), containers that are always removed."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ltm_harness.binaries import cache_root

# The tags hack/build-images.sh gives the images (same environment overrides).
OPERATOR_IMAGE = os.environ.get("LTM_OPERATOR_IMAGE", "loadtest-monitor:dev")
RUNNER_IMAGE = os.environ.get("LTM_RUNNER_IMAGE", "gatling-runner:dev")


class PodmanMissing(RuntimeError):
    """podman, its configuration or an image is not there (the message says which command helps)."""


class Podman:
    def __init__(self) -> None:
        conf_dir = cache_root() / "containers"
        self.env = {
            **os.environ,
            "CONTAINERS_CONF": str(conf_dir / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(conf_dir / "storage.conf"),
        }
        for key in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF"):
            if not Path(self.env[key]).is_file():
                raise PodmanMissing(f"{self.env[key]} is missing: run `make images` (hack/podman-env.sh)")

    def run(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout
            )
        except FileNotFoundError as exc:
            raise PodmanMissing("podman is not installed: run `make images` (hack/podman-env.sh)") from exc
        if check and done.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
        return done

    def require_image(self, image: str) -> None:
        if self.run("image", "exists", image, check=False).returncode != 0:
            raise PodmanMissing(f"image {image} is not built: run `make images` (hack/build-images.sh)")

    def inspect(self, what: str) -> dict[str, Any]:
        data: list[dict[str, Any]] = json.loads(self.run("inspect", what).stdout)
        return data[0]

    def image_size(self, image: str) -> int:
        return int(self.run("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())

    @contextlib.contextmanager
    def container(self, image: str, options: Sequence[str], args: Sequence[str] = ()) -> Iterator[str]:
        """A detached container (host network, as configured) that is removed afterwards."""
        name = f"ltm-test-{uuid.uuid4().hex[:10]}"
        self.run("run", "-d", "--name", name, *options, image, *args)
        try:
            yield name
        finally:
            self.run("rm", "-f", "-t", "5", name, check=False)

    def logs(self, name: str) -> str:
        done = self.run("logs", name, check=False)
        return (done.stdout + done.stderr)[-4000:]

    def wait(self, name: str, timeout: float) -> int:
        """The container's exit code once it stopped."""
        return int(self.run("wait", name, timeout=timeout).stdout.strip().splitlines()[-1])
