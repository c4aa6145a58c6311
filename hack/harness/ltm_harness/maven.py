"""Jars from the local Maven repository, which ``hack/install-e2e-deps.sh`` fills (``make e2e-deps``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ltm_harness.repo import REPO_ROOT

#: Typesafe Config, the library Gatling reads gatling.conf with; keep equal to install-e2e-deps.sh.
TYPESAFE_CONFIG = ("com.typesafe", "config", "1.4.3")
INSTALL_SCRIPT = REPO_ROOT / "hack" / "install-e2e-deps.sh"


class MissingArtifact(RuntimeError):
    """A jar the tests need is not in the local Maven repository; the message says how to get it."""


def local_repository(env: Mapping[str, str] | None = None) -> Path:
    """Maven's default local repository (``~/.m2/repository``), or LTM_MAVEN_REPO when set."""
    env = os.environ if env is None else env
    if env.get("LTM_MAVEN_REPO"):
        return Path(env["LTM_MAVEN_REPO"])
    return Path(env.get("HOME", str(Path.home()))) / ".m2" / "repository"


def jar(group: str, artifact: str, version: str, env: Mapping[str, str] | None = None) -> Path:
    """The jar's path; MissingArtifact, with the command that installs it, when it is not there."""
    path = local_repository(env).joinpath(*group.split("."), artifact, version, f"{artifact}-{version}.jar")
    if not path.is_file():
        raise MissingArtifact(
            f"{group}:{artifact}:{version} is not in the local Maven repository ({path} is missing): run "
            f"`make e2e-deps` ({INSTALL_SCRIPT.relative_to(REPO_ROOT)}), or "
            f"`mvn -q dependency:get -Dartifact={group}:{artifact}:{version} -Dtransitive=false`"
        )
    return path


def typesafe_config_jar(env: Mapping[str, str] | None = None) -> Path:
    return jar(*TYPESAFE_CONFIG, env=env)
