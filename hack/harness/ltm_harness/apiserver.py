"""etcd + kube-apiserver on 127.0.0.1 with a throwaway PKI, RBAC on and an audit log.

Alone it serves what needs only an API server (the CRD on the oldest Kubernetes the docs state);
``cluster.LocalCluster`` builds the whole control plane on it.

``start()`` returns once /readyz is ok. ``stop()`` ends every process group (clients first, then
kube-apiserver, then etcd) and removes the run directory (unless ``keep_run_dir``; etcd's data is
removed either way).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from ltm_harness.binaries import Binaries
from ltm_harness.errors import ClusterError
from ltm_harness.kubeconfig import write_kubeconfig
from ltm_harness.pki import make_pki
from ltm_harness.ports import free_ports
from ltm_harness.processes import Process, log_tail, spawn, terminate
from ltm_harness.wait import wait_for

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/16"  # room for the Services of 500 monitors
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
USER_AGENT = "loadtest-monitor-localcluster"
#: Metadata for every request, once (at ResponseComplete; watches also at ResponseStarted).
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}


class ApiServer:
    """etcd + kube-apiserver from ``binaries`` (kubectl from ``kubectl``, default the same build)."""

    #: Ports picked at start, by name (a subclass adds its components').
    PORT_NAMES: ClassVar[tuple[str, ...]] = ("etcd", "etcd-peer", "apiserver")
    #: Client identities (name, certificate subject) with a kubeconfig each; admin's is ``kubeconfig``.
    CLIENTS: ClassVar[tuple[tuple[str, str], ...]] = (("admin", "/O=system:masters/CN=admin"),)

    def __init__(
        self,
        binaries: Binaries,
        run_dir: Path | str | None = None,
        *,
        kubectl: Path | None = None,
        keep_run_dir: bool = False,
        die_with_parent: bool = True,
        startup_timeout: float = 180.0,
    ) -> None:
        self.binaries = binaries
        self.kubectl_path = kubectl if kubectl is not None else binaries.kubectl
        self.run_dir = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="ltm-cluster-"))
        self.keep_run_dir = keep_run_dir
        self.die_with_parent = die_with_parent
        self.startup_timeout = startup_timeout
        self.ports: dict[str, int] = {}
        self.startup_seconds: float | None = None
        self._procs: dict[str, Process] = {}
        self._ssl: ssl.SSLContext | None = None
        self._started = False
        self._stopped = False

    # -- paths -------------------------------------------------------------------------------

    @property
    def pki_dir(self) -> Path:
        return self.run_dir / "pki"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def kubeconfig_path(self) -> Path:
        """Admin kubeconfig (client certificate in ``system:masters``), certificates embedded."""
        return self.run_dir / "kubeconfig"

    @property
    def audit_log_path(self) -> Path:
        """The API server's audit log: one JSON event a line (stage ResponseComplete/Started)."""
        return self.run_dir / "audit" / "audit.log"

    @property
    def ca_cert_path(self) -> Path:
        return self.pki_dir / "ca.crt"

    @property
    def server(self) -> str:
        """The API server URL, e.g. ``https://127.0.0.1:40123``."""
        if "apiserver" not in self.ports:
            raise ClusterError("the cluster has not been started")
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    def log_path(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self._procs.items()}

    # -- public helpers ----------------------------------------------------------------------

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """A copy of ``base`` (default: os.environ) with KUBECONFIG pointing at this cluster."""
        env = dict(os.environ if base is None else base)
        env["KUBECONFIG"] = str(self.kubeconfig_path)
        return env

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = False, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this API server as the admin; output captured as text."""
        return subprocess.run(
            [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig_path), *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            env=self.env(),
        )

    def audit_mark(self) -> int:
        """The audit log's current size: pass it to ``audit_events(since=...)`` to see only later events."""
        try:
            return self.audit_log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def audit_events(self, since: int = 0) -> list[dict[str, Any]]:
        """Parsed audit events (oldest first), from byte offset ``since`` on.

        A trailing line that is still being written is left out.
        """
        try:
            with self.audit_log_path.open("rb") as f:
                f.seek(since)
                data = f.read()
        except FileNotFoundError:
            return []
        events: list[dict[str, Any]] = []
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events

    def wait_for_audit_event(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0, since: int = 0
    ) -> dict[str, Any]:
        """The first audit event matching ``predicate``, polling until ``timeout`` seconds."""

        def find() -> dict[str, Any] | None:
            return next((e for e in self.audit_events(since) if predicate(e)), None)

        return wait_for(find, timeout, "an audit event matching the predicate")

    def api_get(self, path: str, timeout: float = 10.0) -> Any:
        """GET ``path`` from the API server as the admin user; the decoded JSON body."""
        status, body = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise ClusterError(f"GET {path}: HTTP {status}: {body[:300]!r}")
        return json.loads(body)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        timeout: float = 10.0,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """One request as the admin user: (HTTP status, body); JSON ``body`` if given, sent as
        ``content_type`` (e.g. ``application/merge-patch+json`` for a PATCH)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("User-Agent", USER_AGENT)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=timeout) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return int(err.code), bytes(err.read())

    def apiserver_ready(self) -> bool:
        try:
            status, body = self.request("GET", "/readyz", timeout=5)
        except OSError:
            return False
        return status == 200 and body.strip() == b"ok"

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start every component and wait until it is usable (raises ClusterError)."""
        if self._started:
            raise ClusterError(f"this {type(self).__name__} was already started")
        self._started = True
        began = time.monotonic()
        atexit.register(self.stop)
        try:
            for d in (self.pki_dir, self.log_dir, self.audit_log_path.parent):
                d.mkdir(parents=True, exist_ok=True)
            self.ports = dict(zip(self.PORT_NAMES, free_ports(len(self.PORT_NAMES)), strict=True))
            make_pki(self.pki_dir, self.CLIENTS)
            self._write_configs()
            deadline = began + self.startup_timeout
            self._start_etcd()
            self._start_apiserver()
            self._wait("kube-apiserver /readyz", self.apiserver_ready, deadline)
            self._start_more(deadline)
        except BaseException:
            self.stop(keep_logs=True)
            raise
        self.startup_seconds = time.monotonic() - began

    def _start_more(self, deadline: float) -> None:
        """What a subclass starts once the API server is ready (nothing here)."""

    def detach(self) -> None:
        """Leave the processes running when this interpreter exits (the CLI's ``up``)."""
        atexit.unregister(self.stop)

    def stop(self, keep_logs: bool = False) -> None:
        """End all processes (whole process groups) and clean up. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        # Everything that talks to the API server first (all at once), then it, then etcd:
        # kube-apiserver hangs in its shutdown without etcd.
        clients = [p for name, p in self._procs.items() if name not in ("kube-apiserver", "etcd")]
        for wave in (clients, self._named("kube-apiserver"), self._named("etcd")):
            terminate(wave)
        shutil.rmtree(self.run_dir / "etcd-data", ignore_errors=True)
        if not (self.keep_run_dir or keep_logs):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _named(self, name: str) -> list[Process]:
        return [self._procs[name]] if name in self._procs else []

    def stop_apiserver(self) -> None:
        """Stops kube-apiserver only (fault tests: clients see refused connections until restart)."""
        terminate([self._procs["kube-apiserver"]])

    def start_apiserver(self, timeout: float = 60.0) -> None:
        """Starts kube-apiserver again on the same port, with the same etcd, and waits for /readyz."""
        if self._procs["kube-apiserver"].alive():
            raise ClusterError("kube-apiserver is still running; stop_apiserver() first")
        self._start_apiserver()
        self._wait("kube-apiserver /readyz after restart", self.apiserver_ready, time.monotonic() + timeout)

    def alive(self) -> dict[str, bool]:
        """Whether each started component's process is still running."""
        return {name: p.alive() for name, p in self._procs.items()}

    # -- internals ---------------------------------------------------------------------------

    def _write_configs(self) -> None:
        for user, _ in self.CLIENTS:
            path = self.kubeconfig_path if user == "admin" else self.run_dir / f"{user}.kubeconfig"
            write_kubeconfig(path, self.server, self.pki_dir, user)
        (self.run_dir / "audit-policy.json").write_text(json.dumps(AUDIT_POLICY, indent=2) + "\n")

    def _spawn(self, name: str, program: str, args: Sequence[str]) -> None:
        exe = str(self.binaries.path(program))
        log = self.log_path(name)
        popen = spawn([exe, *args], log, cwd=self.run_dir, die_with_parent=self.die_with_parent)
        self._procs[name] = Process(name, popen.pid, exe, log, popen)

    def _start_etcd(self) -> None:
        client = f"http://127.0.0.1:{self.ports['etcd']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        self._spawn(
            "etcd",
            "etcd",
            [
                "--name=ltm",
                f"--data-dir={self.run_dir / 'etcd-data'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=ltm={peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )

    def _disabled_admission_plugins(self) -> list[str]:
        """Admission plugins the components started with this API server cannot satisfy."""
        return []

    def _start_apiserver(self) -> None:
        pki = self.pki_dir
        disabled = self._disabled_admission_plugins()
        self._spawn(
            "kube-apiserver",
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.ports['apiserver']}",
                f"--cert-dir={self.run_dir / 'apiserver-certs'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={self.ca_cert_path}",
                "--authorization-mode=Node,RBAC",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--allow-privileged=true",
                *([f"--disable-admission-plugins={','.join(disabled)}"] if disabled else []),
                f"--audit-policy-file={self.run_dir / 'audit-policy.json'}",
                f"--audit-log-path={self.audit_log_path}",
                "--audit-log-format=json",
                "--audit-log-maxbackup=0",
                "--audit-log-maxsize=0",
                "--profiling=false",
            ],
        )

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context(cafile=str(self.ca_cert_path))
            ctx.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))
            self._ssl = ctx
        return self._ssl

    def _wait(self, what: str, check: Callable[[], bool], deadline: float) -> None:
        """Wait for ``check`` until ``deadline``; ClusterError with the logs if a process exits or time runs out."""

        def ready() -> bool:
            dead = [name for name, p in self._procs.items() if not p.alive()]
            if dead:
                raise ClusterError(self._diagnose(f"{', '.join(dead)} exited while waiting for {what}"))
            return check()

        try:
            wait_for(ready, deadline - time.monotonic(), what, 0.1)
        except TimeoutError:
            message = f"timed out after {self.startup_timeout:.0f} s waiting for {what}"
            raise ClusterError(self._diagnose(message)) from None

    def _diagnose(self, message: str) -> str:
        parts = [message, f"run dir: {self.run_dir}"]
        # The dead first and at length, then the rest briefly.
        procs = sorted(self._procs.values(), key=lambda p: p.alive())
        for proc in procs:
            state = "running" if proc.alive() else "EXITED"
            parts.append(f"--- {proc.name} ({state}), last lines of {proc.log} ---")
            if proc.log is not None:
                parts.append(log_tail(proc.log, 12 if proc.alive() else 40))
        return "\n".join(parts)
