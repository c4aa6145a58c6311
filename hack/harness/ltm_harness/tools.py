"""Programs the harness runs from PATH (influx, java, mvn, podman): found, or a clear MissingTool."""

from __future__ import annotations

import shutil


class MissingTool(RuntimeError):
    """A program the data-path tests need is not installed (run `make e2e-deps`)."""


def require_tool(name: str) -> str:
    """The program's path; MissingTool naming the command that installs it when it is not on PATH."""
    path = shutil.which(name)
    if path is None:
        raise MissingTool(
            f"`{name}` is not on PATH: the end-to-end data-path tests need a real InfluxDB 1.x and "
            "Gatling (Java 17 + Maven). Install them with `make e2e-deps` (hack/install-e2e-deps.sh)."
        )
    return path
