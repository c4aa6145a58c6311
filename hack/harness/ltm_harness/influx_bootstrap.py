"""A real influxd prepared the way the operator's pod prepares it: the rendered bootstrap script
(the init container) runs first on the data directory, then influxd starts with the rendered
influxdb.conf (HTTP authentication on). Nothing here is product code: it only runs what the
renderers produce, with the programs `influxd` and `influx` from PATH, on free loopback ports.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from loadtest_monitor.render import bootstrap
from loadtest_monitor.render.influxdb import render_influxdb_conf
from loadtest_monitor.spec.monitor import MonitorSpec
from ltm_harness.influxd import Influxd, Ports, default_binary
from ltm_harness.tools import require_tool

SECRET_NAME = "e2e-influxdb-auth"
BOOTSTRAP_TIMEOUT_SECONDS = 180


@dataclass(frozen=True)
class Credentials:
    """What the generated <monitor>-influxdb-auth Secret holds."""

    admin_user: str = "admin"
    admin_password: str = "e2e-admin-password-0123456789abcdef"
    reader_user: str = "grafana"
    reader_password: str = "e2e-reader-password-0123456789abcdef"

    @property
    def admin(self) -> tuple[str, str]:
        return self.admin_user, self.admin_password

    @property
    def reader(self) -> tuple[str, str]:
        return self.reader_user, self.reader_password


@dataclass
class BootstrapRun:
    exit_code: int
    message: str  # the termination message: "<Reason>: <text>"
    output: str

    @property
    def reason(self) -> str:
        """Read the way the operator reads it from the pod status."""
        return bootstrap.parse_outcome(self.message).reason


def data_dir(workdir: Path) -> Path:
    return workdir / "var"


def run_bootstrap(
    spec: MonitorSpec, workdir: Path, ports: Ports, credentials: Credentials, binary: str | None = None
) -> BootstrapRun:
    """The init container's job: the rendered script with the rendered private config.
    binary: the influxd under test (its folder goes first on PATH); `influx` from PATH."""
    require_tool("influx")
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / bootstrap.CONF_KEY
    script = workdir / bootstrap.SCRIPT_KEY
    message = workdir / "termination-log"
    message.unlink(missing_ok=True)
    conf.write_text(
        bootstrap.render_bootstrap_conf(str(data_dir(workdir)), ports.http, f"127.0.0.1:{ports.rpc}")
    )
    script.write_text(bootstrap.render_bootstrap_script(spec, str(conf), SECRET_NAME, ports.http))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFLUXDB_", "INFLUX_"))}
    if binary:
        env["PATH"] = f"{Path(binary).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        {
            bootstrap.ENV_ADMIN_USER: credentials.admin_user,
            bootstrap.ENV_ADMIN_PASSWORD: credentials.admin_password,
            bootstrap.ENV_READER_USER: credentials.reader_user,
            bootstrap.ENV_READER_PASSWORD: credentials.reader_password,
            bootstrap.ENV_TERMINATION_LOG: str(message),
        }
    )
    done = subprocess.run(
        ["/bin/sh", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=BOOTSTRAP_TIMEOUT_SECONDS,
        start_new_session=True,
    )
    text = message.read_text().strip() if message.exists() else ""
    return BootstrapRun(done.returncode, text, done.stdout + done.stderr)


def start_main(
    spec: MonitorSpec, workdir: Path, ports: Ports, credentials: Credentials, binary: str | None = None
) -> Influxd:
    """influxd with exactly the rendered influxdb.conf; the client queries as the admin."""
    conf = render_influxdb_conf(
        spec,
        data_dir=str(data_dir(workdir)),
        http_bind=f"127.0.0.1:{ports.http}",
        graphite_bind=f"127.0.0.1:{ports.graphite}",
        rpc_bind=f"127.0.0.1:{ports.rpc}",
    )
    return Influxd(conf, workdir, ports, binary, auth=credentials.admin).start()


def start_bootstrapped(
    spec: MonitorSpec, workdir: Path, credentials: Credentials | None = None, binary: str | None = None
) -> tuple[Influxd, BootstrapRun]:
    """The pod's sequence: bootstrap (must succeed here), then influxd with authentication."""
    creds = credentials or Credentials()
    binary = binary or default_binary()  # the same build for the bootstrap and the server
    ports = Ports.pick()
    run = run_bootstrap(spec, workdir, ports, creds, binary)
    if run.exit_code != 0 or run.reason != bootstrap.BOOTSTRAPPED:
        raise RuntimeError(f"bootstrap failed (exit {run.exit_code}): {run.message}\n{run.output[-3000:]}")
    return start_main(spec, workdir, ports, creds, binary), run


def start_influxd(spec: MonitorSpec, workdir: Path, binary: str | None = None) -> Influxd:
    """influxd prepared as the pod prepares it: the rendered bootstrap (init container), then the
    rendered influxdb.conf with HTTP authentication on, every port (HTTP, Graphite TCP+UDP, RPC) on a
    free loopback port; the client queries as the generated admin. binary: the build under test
    (default: 1.12.4, the default image's)."""
    server, _ = start_bootstrapped(spec, workdir, binary=binary)
    return server
