"""A real OCI registry (CNCF Distribution, what `registry:3` runs) on 127.0.0.1 with an htpasswd
login, the way ECR asks for a user and a password. hack/build-registry.sh builds it into the cache."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt  # the only hash the registry's htpasswd accepts

from ltm_harness.ports import free_port
from ltm_harness.repo import REPO_ROOT
from ltm_harness.wait import wait_for

BUILD_SCRIPT = REPO_ROOT / "hack" / "build-registry.sh"


class RegistryError(RuntimeError):
    """The registry could not be built or started; the message holds its log."""


def registry_binary() -> Path:
    """The registry program (the build script is quick when its output is cached)."""
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RegistryError(f"hack/build-registry.sh failed:\n{proc.stderr[-3000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


@dataclass
class Registry:
    """One registry process with one user; ``host`` is what an engine pushes to (``127.0.0.1:PORT``)."""

    binary: Path
    root: Path
    user: str
    password: str
    host: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 20) -> Registry:
        hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (self.root / "htpasswd").write_text(f"{self.user}:{hashed}\n")
        port = free_port()
        (self.root / "config.yml").write_text(
            "version: 0.1\nlog: {level: warn}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.root}/data}}}}\n"
            f"http: {{addr: '127.0.0.1:{port}', secret: test-secret}}\n"
            f"auth: {{htpasswd: {{realm: test, path: {self.root}/htpasswd}}}}\n"
        )
        with (self.root / "registry.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "serve", str(self.root / "config.yml")], stdout=log, stderr=log
            )
        self.host = f"127.0.0.1:{port}"
        try:
            wait_for(self._asks_for_login, timeout, "the registry to answer")
        except (TimeoutError, RegistryError) as err:
            self.stop()
            raise RegistryError(f"{err}\n{(self.root / 'registry.log').read_text()}") from err
        return self

    def _asks_for_login(self) -> bool:
        try:
            urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).close()
        except urllib.error.HTTPError as err:
            err.close()
            if err.code != 401:
                raise RegistryError(f"the registry answered {err.code} without a login, not 401") from None
            return True
        except OSError:
            return False  # not listening yet
        raise RegistryError("the registry answered without asking for a login")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
