#!/usr/bin/env python3
"""A real, local Kubernetes control plane for tests and for poking at the operator by hand.

It runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK (which turns one
fake Node Ready and makes the pods scheduled on it Running/Ready), all built by
``hack/build-control-plane.sh`` into a cache outside the repository. Every run gets a fresh
throwaway PKI (``openssl``), free loopback ports, and a run directory with the certificates,
kubeconfigs, each component's log and the API server's audit log (JSON lines).

Library use::

    with LocalCluster() as cluster:
        cluster.kubectl("get", "nodes")
        events = cluster.audit_events()

Command line (``make cluster`` / ``make cluster-down``)::

    python hack/localcluster.py up      # starts it detached, writes .cluster/kubeconfig and .cluster/state.json
    python hack/localcluster.py status
    python hack/localcluster.py down
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import functools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = [
    "DEFAULT_CONTROLLERS",
    "SELF_TEST_CRD",
    "STORAGE_CLASS",
    "Binaries",
    "ClusterError",
    "LocalCluster",
    "find_binaries",
    "kubernetes_version",
    "main",
    "project_crds",
    "wait_for",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-control-plane.sh"
STATE_DIR = REPO_ROOT / ".cluster"
PROJECT_CRDS_DIR = REPO_ROOT / "crds"

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/16"  # room for the Services of 500 monitors
POD_CIDR = "10.244.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
#: The default StorageClass; KWOK's volume stages provision and bind PVCs of exactly this class.
STORAGE_CLASS = "kwok-volume"
USER_AGENT = "loadtest-monitor-localcluster"

#: kube-controller-manager controllers started by default: what the operator's objects need
#: (Deployments, StatefulSets, Jobs, Services, ServiceAccounts, PVCs, garbage collection, namespaces).
DEFAULT_CONTROLLERS: tuple[str, ...] = (
    "garbage-collector-controller",
    "namespace-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "job-controller",
    "endpointslice-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "persistentvolumeclaim-protection-controller",
    "persistentvolume-protection-controller",
)

#: A minimal namespaced CRD (``Widget``, ``widgets.localcluster.test/v1``) for the harness's own tests.
SELF_TEST_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.localcluster.test"},
    "spec": {
        "group": "localcluster.test",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}

PROGRAMS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
# Start order; stop() goes the other way round.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")

T = TypeVar("T")


class ClusterError(RuntimeError):
    """The control plane could not be found, started or reached."""


# --------------------------------------------------------------------------------------------
# Binaries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binaries:
    """The programs of one control-plane build (see ``hack/build-control-plane.sh``)."""

    bin_dir: Path

    def path(self, program: str) -> Path:
        return self.bin_dir / program

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def kwok_stages(self) -> Path:
        return self.bin_dir / "kwok-stages"

    def missing(self) -> list[str]:
        """Names of the programs (or the stage directory) that are not there."""
        missing = [p for p in PROGRAMS if not os.access(self.path(p), os.X_OK)]
        if not self.kwok_stages.is_dir() or not any(self.kwok_stages.glob("*.yaml")):
            missing.append("kwok-stages/")
        return missing


def _script_default(name: str) -> str:
    """The default value the build script gives ``name`` (one source of truth for versions)."""
    text = BUILD_SCRIPT.read_text()
    match = re.search(rf"^{name}=\$\{{{name}:-([^}}]+)\}}", text, re.MULTILINE)
    if not match:
        raise ClusterError(f"cannot read the default {name} from {BUILD_SCRIPT}")
    return match.group(1)


def kubernetes_version(env: Mapping[str, str] | None = None) -> str:
    """The Kubernetes release the binaries are built at (K8S_VERSION or the build script's default)."""
    env = os.environ if env is None else env
    return env.get("K8S_VERSION") or _script_default("K8S_VERSION")


def default_bin_dir(env: Mapping[str, str] | None = None) -> Path:
    """The directory the build script writes to, computed exactly the way the script does."""
    env = os.environ if env is None else env
    k8s = kubernetes_version(env)
    kwok = env.get("KWOK_VERSION") or _script_default("KWOK_VERSION")
    if env.get("LTM_CACHE_DIR"):
        root = Path(env["LTM_CACHE_DIR"])
    else:
        xdg = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".cache")
        root = Path(xdg) / "loadtest-monitor"
    return root / "control-plane" / f"k8s-{k8s}-kwok-{kwok}"


def find_binaries(build: bool = False) -> Binaries:
    """Locate the control-plane programs; with ``build=True`` run the build script first.

    Raises ClusterError naming what is missing (and how to build it) when they are not there.
    """
    if build:
        proc = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise ClusterError(f"{BUILD_SCRIPT.name} failed with exit code {proc.returncode}")
        binaries = Binaries(Path(lines[-1]))
    else:
        binaries = Binaries(default_bin_dir())
    missing = binaries.missing()
    if missing:
        raise ClusterError(
            f"control-plane binaries missing in {binaries.bin_dir}: {', '.join(missing)}; "
            "build them with `make control-plane` (hack/build-control-plane.sh)"
        )
    return binaries


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _free_ports(count: int) -> list[int]:
    # Hold all sockets open while picking so the same port is not handed out twice.
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _pid_gone(pid: int) -> bool:
    return not _pid_alive(pid)


def _cmdline0(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except OSError:
        return ""


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        ["openssl", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    if proc.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {proc.stdout.strip()}")


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@dataclass
class _Proc:
    name: str
    pid: int
    exe: str
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return _pid_alive(self.pid) and _cmdline0(self.pid) == self.exe


# --------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------


class LocalCluster:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + KWOK on 127.0.0.1.

    ``start()`` returns once /readyz is ok, the fake node is Ready, the scheduler and controller
    manager answer /healthz, and the ``default`` ServiceAccount exists.

    ``crds`` (manifest files, directories of them, or CRD objects as dicts) are applied and
    waited for (Established and in discovery) *before* kube-controller-manager starts, so its
    garbage collector knows their kinds from the start; a CRD created later is learnt only at
    the collector's next discovery refresh (every 30 s), and deleting an owner of that kind can
    then take 30-60 s to reach its dependents. ``stop()`` ends every
    process group and removes the run directory (unless ``keep_run_dir``; etcd's data is
    removed either way).
    """

    def __init__(
        self,
        binaries: Binaries | None = None,
        run_dir: Path | str | None = None,
        *,
        node_name: str = "kwok-node-0",
        controllers: Sequence[str] = DEFAULT_CONTROLLERS,
        crds: Sequence[Path | str | Mapping[str, Any]] = (),
        keep_run_dir: bool = False,
        die_with_parent: bool = True,
        startup_timeout: float = 180.0,
    ) -> None:
        self.binaries = binaries if binaries is not None else find_binaries()
        self.run_dir = Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix="ltm-cluster-"))
        self.node_name = node_name
        self.controllers = tuple(controllers)
        self.crds = tuple(crds)
        self.keep_run_dir = keep_run_dir
        self.die_with_parent = die_with_parent
        self.startup_timeout = startup_timeout
        self.ports: dict[str, int] = {}
        self.startup_seconds: float | None = None
        self._procs: dict[str, _Proc] = {}
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
    def volumes_supported(self) -> bool:
        """Whether PersistentVolumeClaims get bound (KWOK's volume stages are in the build)."""
        return (self.binaries.kwok_stages / "pvc-provision.yaml").exists()

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
        """Run this cluster's kubectl against it; output captured as text."""
        return subprocess.run(
            [str(self.binaries.kubectl), "--kubeconfig", str(self.kubeconfig_path), *args],
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
        status, body = self._request("GET", path, timeout=timeout)
        if status != 200:
            raise ClusterError(f"GET {path}: HTTP {status}: {body[:300]!r}")
        return json.loads(body)

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start every component and wait until the cluster is usable (raises ClusterError)."""
        if self._started:
            raise ClusterError("this LocalCluster was already started")
        self._started = True
        began = time.monotonic()
        atexit.register(self.stop)
        try:
            for d in (self.pki_dir, self.log_dir, self.audit_log_path.parent):
                d.mkdir(parents=True, exist_ok=True)
            names = ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler")
            self.ports = dict(zip(names, _free_ports(len(names)), strict=True))
            self._make_pki()
            self._write_configs()
            deadline = began + self.startup_timeout
            self._start_etcd()
            self._start_apiserver()
            self._wait("kube-apiserver /readyz", self._apiserver_ready, deadline)
            self._install_crds(deadline)
            if self.volumes_supported:
                self._create_storage_class()
            self._create_node()
            self._start_controller_manager()
            self._start_scheduler()
            self._start_kwok()
            self._wait(f"node {self.node_name} Ready", self._node_ready, deadline)
            self._wait("kube-controller-manager /healthz", lambda: self._healthz("controller-manager"), deadline)
            self._wait("kube-scheduler /healthz", lambda: self._healthz("scheduler"), deadline)
            if "serviceaccount-controller" in self.controllers:
                self._wait("the default ServiceAccount", self._default_sa_exists, deadline)
        except BaseException:
            self.stop(keep_logs=True)
            raise
        self.startup_seconds = time.monotonic() - began

    def detach(self) -> None:
        """Leave the processes running when this interpreter exits (the CLI's ``up``)."""
        atexit.unregister(self.stop)

    def stop(self, keep_logs: bool = False) -> None:
        """End all processes (whole process groups) and clean up. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        # Everything that talks to the API server first (all at once), then it, then etcd.
        waves = (COMPONENTS[2:], ("kube-apiserver",), ("etcd",))
        for wave in waves:
            _terminate([p for name, p in self._procs.items() if name in wave])
        shutil.rmtree(self.run_dir / "etcd-data", ignore_errors=True)
        if not (self.keep_run_dir or keep_logs):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def stop_apiserver(self) -> None:
        """Stops kube-apiserver only (fault tests: clients see refused connections until restart)."""
        _terminate([self._procs["kube-apiserver"]])

    def start_apiserver(self, timeout: float = 60.0) -> None:
        """Starts kube-apiserver again on the same port, with the same etcd, and waits for /readyz."""
        if self._procs["kube-apiserver"].alive():
            raise ClusterError("kube-apiserver is still running; stop_apiserver() first")
        self._start_apiserver()
        self._wait("kube-apiserver /readyz after restart", self._apiserver_ready, time.monotonic() + timeout)

    def alive(self) -> dict[str, bool]:
        """Whether each started component's process is still running."""
        return {name: p.alive() for name, p in self._procs.items()}

    # -- state for the CLI -------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "bin_dir": str(self.binaries.bin_dir),
            "server": self.server,
            "kubeconfig": str(self.kubeconfig_path),
            "audit_log": str(self.audit_log_path),
            "node_name": self.node_name,
            "ports": self.ports,
            "keep_run_dir": self.keep_run_dir,
            "processes": {n: {"pid": p.pid, "exe": p.exe, "log": str(p.log)} for n, p in self._procs.items()},
            "startup_seconds": self.startup_seconds,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LocalCluster:
        """A handle on a cluster started elsewhere (``up``), able to inspect and ``stop()`` it."""
        cluster = cls(
            Binaries(Path(state["bin_dir"])),
            Path(state["run_dir"]),
            node_name=state["node_name"],
            keep_run_dir=bool(state.get("keep_run_dir", False)),
        )
        cluster.ports = {k: int(v) for k, v in state["ports"].items()}
        cluster.startup_seconds = state.get("startup_seconds")
        cluster._procs = {
            name: _Proc(name, int(p["pid"]), p["exe"], Path(p["log"])) for name, p in state["processes"].items()
        }
        cluster._started = True
        return cluster

    # -- internals: PKI and configuration ----------------------------------------------------

    def _make_pki(self) -> None:
        pki = self.pki_dir
        days = "30"
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        _openssl(
            "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", days,
            "-subj", "/CN=loadtest-monitor-local-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=pki,
        )  # fmt: skip
        sans = ",".join(
            [
                "IP:127.0.0.1",
                "IP:10.0.0.1",
                "DNS:localhost",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
            ]
        )
        self._leaf("apiserver", "/CN=kube-apiserver", "serverAuth", f"subjectAltName={sans}")
        # Client identities: distinct user names so the audit log tells them apart.
        self._leaf("admin", "/O=system:masters/CN=admin", "clientAuth")
        self._leaf("controller-manager", "/O=system:masters/CN=system:kube-controller-manager", "clientAuth")
        self._leaf("scheduler", "/CN=system:kube-scheduler", "clientAuth")
        self._leaf("kwok", "/O=system:masters/CN=kwok-controller", "clientAuth")
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key", cwd=pki)
        _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)

    def _leaf(self, name: str, subject: str, usage: str, *extra: str) -> None:
        args = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "30", "-subj", subject,
            "-CA", "ca.crt", "-CAkey", "ca.key",
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
            "-addext", f"extendedKeyUsage={usage}",
        ]  # fmt: skip
        for ext in extra:
            args += ["-addext", ext]
        _openssl(*args, cwd=self.pki_dir)

    def _kubeconfig(self, user: str, path: Path) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "loadtest-monitor-local",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": _b64(self.ca_cert_path),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": _b64(self.pki_dir / f"{user}.crt"),
                        "client-key-data": _b64(self.pki_dir / f"{user}.key"),
                    },
                }
            ],
            "contexts": [
                {"name": "loadtest-monitor-local", "context": {"cluster": "loadtest-monitor-local", "user": user}}
            ],
            "current-context": "loadtest-monitor-local",
        }
        path.write_text(json.dumps(config, indent=2) + "\n")
        path.chmod(0o600)

    def _write_configs(self) -> None:
        self._kubeconfig("admin", self.kubeconfig_path)
        for user in ("controller-manager", "scheduler", "kwok"):
            self._kubeconfig(user, self.run_dir / f"{user}.kubeconfig")
        # Metadata for every request, once (at ResponseComplete; watches also at ResponseStarted).
        policy = {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived"],
            "rules": [{"level": "Metadata"}],
        }
        (self.run_dir / "audit-policy.json").write_text(json.dumps(policy, indent=2) + "\n")
        stages = sorted(self.binaries.kwok_stages.glob("*.yaml"))
        (self.run_dir / "kwok-stages.yaml").write_text("\n---\n".join(s.read_text().strip() for s in stages) + "\n")

    # -- internals: processes ----------------------------------------------------------------

    def _spawn(self, name: str, program: str, args: Sequence[str]) -> None:
        exe = str(self.binaries.path(program))
        log = self.log_path(name)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [exe, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.run_dir,
                start_new_session=True,  # its own process group, away from the terminal's signals
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        self._procs[name] = _Proc(name, popen.pid, exe, log, popen)

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

    def _start_apiserver(self) -> None:
        pki = self.pki_dir
        disabled = ["TaintNodesByCondition"]  # else the new node keeps a not-ready taint nobody removes
        if "serviceaccount-controller" not in self.controllers:
            disabled.append("ServiceAccount")  # it rejects pods whose ServiceAccount nobody creates
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
                f"--disable-admission-plugins={','.join(disabled)}",
                f"--audit-policy-file={self.run_dir / 'audit-policy.json'}",
                f"--audit-log-path={self.audit_log_path}",
                "--audit-log-format=json",
                "--audit-log-maxbackup=0",
                "--audit-log-maxsize=0",
                "--profiling=false",
            ],
        )

    def _start_controller_manager(self) -> None:
        kubeconfig = str(self.run_dir / "controller-manager.kubeconfig")
        self._spawn(
            "kube-controller-manager",
            "kube-controller-manager",
            [
                f"--kubeconfig={kubeconfig}",
                f"--controllers={','.join(self.controllers)}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['controller-manager']}",
                f"--cert-dir={self.run_dir / 'controller-manager-certs'}",
                f"--service-account-private-key-file={self.pki_dir / 'sa.key'}",
                f"--root-ca-file={self.ca_cert_path}",
                "--cluster-name=loadtest-monitor-local",
                "--profiling=false",
            ],
        )

    def _start_scheduler(self) -> None:
        self._spawn(
            "kube-scheduler",
            "kube-scheduler",
            [
                f"--kubeconfig={self.run_dir / 'scheduler.kubeconfig'}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['scheduler']}",
                f"--cert-dir={self.run_dir / 'scheduler-certs'}",
                "--profiling=false",
            ],
        )

    def _start_kwok(self) -> None:
        self._spawn(
            "kwok",
            "kwok",
            [
                f"--kubeconfig={self.run_dir / 'kwok.kubeconfig'}",
                f"--config={self.run_dir / 'kwok-stages.yaml'}",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                f"--cidr={POD_CIDR}",
            ],
        )

    # -- internals: talking to the API server ------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context(cafile=str(self.ca_cert_path))
            ctx.load_cert_chain(str(self.pki_dir / "admin.crt"), str(self.pki_dir / "admin.key"))
            self._ssl = ctx
        return self._ssl

    def _request(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("User-Agent", USER_AGENT)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(), timeout=timeout) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as err:
            return int(err.code), bytes(err.read())

    def _apiserver_ready(self) -> bool:
        try:
            status, body = self._request("GET", "/readyz", timeout=5)
        except OSError:
            return False
        return status == 200 and body.strip() == b"ok"

    def _install_crds(self, deadline: float) -> None:
        if not self.crds:
            return
        files: list[Path] = []
        for index, crd in enumerate(self.crds):
            if isinstance(crd, Mapping):
                path = self.run_dir / "crds" / f"{index:02d}.json"
                path.parent.mkdir(exist_ok=True)
                path.write_text(json.dumps(crd) + "\n")
                files.append(path)
            else:
                files.append(Path(crd))
        args = [arg for f in files for arg in ("-f", str(f))]
        # kubectl's own default field manager: a later `kubectl apply --server-side` of an edited CRD
        # then updates it instead of hitting a field-ownership conflict.
        proc = self.kubectl("apply", "--server-side", *args, "-o", "json")
        if proc.returncode != 0:
            raise ClusterError(self._diagnose(f"applying {', '.join(map(str, files))} failed: {proc.stderr.strip()}"))
        applied = json.loads(proc.stdout)
        items = applied.get("items", []) if applied.get("kind", "").endswith("List") else [applied]
        for item in items:
            if item.get("kind") != "CustomResourceDefinition":
                continue
            name = item["metadata"]["name"]
            spec = item["spec"]
            self._wait(f"CRD {name} Established", functools.partial(self._crd_established, name), deadline)
            for version in spec["versions"]:
                if version.get("served"):
                    check = functools.partial(
                        self._discovered, f"/apis/{spec['group']}/{version['name']}", spec["names"]["plural"]
                    )
                    self._wait(
                        f"{spec['names']['plural']}.{spec['group']}/{version['name']} in discovery", check, deadline
                    )

    def _crd_established(self, name: str) -> bool:
        status, body = self._request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        if status != 200:
            return False
        conditions = json.loads(body).get("status", {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    def _discovered(self, group_version_path: str, plural: str) -> bool:
        status, body = self._request("GET", group_version_path)
        if status != 200:
            return False
        return any(r.get("name") == plural for r in json.loads(body).get("resources", []))

    def _create_storage_class(self) -> None:
        storage_class = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kwok.x-k8s.io/volume",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        status, body = self._request("POST", "/apis/storage.k8s.io/v1/storageclasses", storage_class)
        if status not in (200, 201):
            raise ClusterError(f"creating StorageClass {STORAGE_CLASS}: HTTP {status}: {body[:500]!r}")

    def _create_node(self) -> None:
        # Room for 500 monitors (1,000 pods with their default requests); the node is fake.
        resources = {"cpu": "1024", "memory": "4Ti", "pods": "1500", "ephemeral-storage": "16Ti"}
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
            "spec": {},  # no taints: every pod may land here
            "status": {"allocatable": resources, "capacity": resources},
        }
        status, body = self._request("POST", "/api/v1/nodes", node)
        if status not in (200, 201):
            raise ClusterError(f"creating node {self.node_name}: HTTP {status}: {body[:500]!r}")

    def _node_ready(self) -> bool:
        status, body = self._request("GET", f"/api/v1/nodes/{self.node_name}")
        if status != 200:
            return False
        conditions = json.loads(body).get("status", {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _default_sa_exists(self) -> bool:
        status, _ = self._request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return status == 200

    def _healthz(self, component: str) -> bool:
        # Serving certificates of these two are self-signed in their cert dirs: don't verify.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        url = f"https://127.0.0.1:{self.ports[component]}/healthz"
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def _wait(self, what: str, check: Callable[[], bool], deadline: float) -> None:
        while True:
            dead = [name for name, p in self._procs.items() if not p.alive()]
            if dead:
                raise ClusterError(self._diagnose(f"{', '.join(dead)} exited while waiting for {what}"))
            if check():
                return
            if time.monotonic() > deadline:
                raise ClusterError(self._diagnose(f"timed out after {self.startup_timeout:.0f} s waiting for {what}"))
            time.sleep(0.1)

    def _diagnose(self, message: str) -> str:
        parts = [message, f"run dir: {self.run_dir}"]
        # The dead first and at length, then the rest briefly.
        procs = sorted(self._procs.values(), key=lambda p: p.alive())
        for proc in procs:
            state = "running" if proc.alive() else "EXITED"
            parts.append(f"--- {proc.name} ({state}), last lines of {proc.log} ---")
            parts.append(_tail(proc.log, 12 if proc.alive() else 40))
        return "\n".join(parts)


def wait_for(condition: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``condition`` until it returns something other than None/False; return that.

    Raises TimeoutError naming ``what`` after ``timeout`` seconds. Exceptions propagate.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def _terminate(procs: Sequence[_Proc], grace: float = 10.0) -> None:
    """SIGTERM the processes' groups, then SIGKILL whatever is left after ``grace`` seconds."""
    for proc in procs:
        if proc.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in procs:
        if proc.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
    for proc in procs:
        if proc.popen is not None:
            proc.popen.wait()
        else:  # not our child (``down``): init reaps it; wait until it is gone
            wait_for(functools.partial(_pid_gone, proc.pid), 10.0, f"{proc.name} (pid {proc.pid}) to exit", 0.05)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _state_path(state_dir: Path) -> Path:
    return state_dir / "state.json"


def _load_state(state_dir: Path) -> LocalCluster | None:
    path = _state_path(state_dir)
    if not path.exists():
        return None
    try:
        return LocalCluster.from_state(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as err:
        print(f"ignoring unreadable {path}: {err}", file=sys.stderr)
        return None


def _clear_state(state_dir: Path) -> None:
    for name in ("state.json", "kubeconfig"):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / name).unlink()


def project_crds() -> list[Path]:
    """The project's CRD manifests (``crds/*.yaml``)."""
    return sorted(PROJECT_CRDS_DIR.glob("*.yaml"))


def cmd_up(state_dir: Path, timeout: float, keep_run_dir: bool, crds: Sequence[Path]) -> int:
    existing = _load_state(state_dir)
    if existing is not None:
        if all(existing.alive().values()):
            print(f"cluster already running at {existing.server} (run dir {existing.run_dir})", file=sys.stderr)
            print(f"export KUBECONFIG={state_dir.resolve() / 'kubeconfig'}")
            return 0
        print("a previous cluster is partly dead: stopping it first", file=sys.stderr)
        existing.stop()
        _clear_state(state_dir)
    try:
        binaries = find_binaries()
        cluster = LocalCluster(
            binaries, crds=crds, keep_run_dir=keep_run_dir, die_with_parent=False, startup_timeout=timeout
        )
        cluster.start()
    except ClusterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    cluster.detach()
    state_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cluster.kubeconfig_path, state_dir / "kubeconfig")
    (state_dir / "kubeconfig").chmod(0o600)
    _state_path(state_dir).write_text(json.dumps(cluster.state(), indent=2) + "\n")
    print(
        f"cluster up at {cluster.server} in {cluster.startup_seconds:.1f} s "
        f"(binaries present -> /readyz ok and node {cluster.node_name} Ready); run dir {cluster.run_dir}",
        file=sys.stderr,
    )
    print(f"export KUBECONFIG={(state_dir / 'kubeconfig').resolve()}")
    return 0


def cmd_down(state_dir: Path) -> int:
    cluster = _load_state(state_dir)
    if cluster is None:
        print("no cluster state found: nothing to stop", file=sys.stderr)
        _clear_state(state_dir)
        return 0
    cluster.stop()
    _clear_state(state_dir)
    print(f"cluster stopped; removed {cluster.run_dir}", file=sys.stderr)
    return 0


def cmd_status(state_dir: Path) -> int:
    cluster = _load_state(state_dir)
    if cluster is None:
        print("no cluster (run `make cluster`)")
        return 1
    alive = cluster.alive()
    print(f"server:     {cluster.server}")
    print(f"run dir:    {cluster.run_dir}")
    print(f"kubeconfig: {state_dir.resolve() / 'kubeconfig'}")
    print(f"audit log:  {cluster.audit_log_path}")
    for name, pid in cluster.pids.items():
        print(f"  {name:<24} pid {pid:<8} {'running' if alive[name] else 'DEAD'}")
    ready = all(alive.values()) and cluster._apiserver_ready()
    node = ready and cluster._node_ready()
    print(f"/readyz:    {'ok' if ready else 'not ready'}; node {cluster.node_name}: {'Ready' if node else 'not Ready'}")
    return 0 if ready and node else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--state-dir", type=Path, default=STATE_DIR, help="where kubeconfig and state.json go (default: .cluster)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a cluster in the background")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
    up.add_argument("--keep-run-dir", action="store_true", help="keep logs and audit log after `down`")
    up.add_argument(
        "--crd",
        dest="crds",
        action="append",
        type=Path,
        help="CRD manifest (file or directory) to install before the controllers start; repeatable "
        "(default: the project's crds/*.yaml)",
    )
    up.add_argument("--no-crds", action="store_true", help="install no CRDs")
    sub.add_parser("down", help="stop the cluster and clean up")
    sub.add_parser("status", help="show the cluster's processes and readiness")
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir
    if args.command == "up":
        crds: list[Path] = [] if args.no_crds else (args.crds or project_crds())
        return cmd_up(state_dir, args.timeout, args.keep_run_dir, crds)
    if args.command == "down":
        return cmd_down(state_dir)
    return cmd_status(state_dir)


if __name__ == "__main__":
    sys.exit(main())
