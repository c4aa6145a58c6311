"""Helpers for the operator's integration tests: the operator as a subprocess, waits, reads.

Every read goes through pykube or kubectl, never through the operator's own code.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pykube
import yaml

from ltm_harness import wait
from ltm_harness.monitors import EXAMPLE as EXAMPLE
from ltm_harness.monitors import apply_monitor as apply_monitor
from ltm_harness.monitors import children as children
from ltm_harness.monitors import condition as condition
from ltm_harness.monitors import get_monitor as get_monitor
from ltm_harness.monitors import minimal as minimal
from ltm_harness.monitors import monitor_kind as monitor_kind
from ltm_harness.monitors import wait_ready as wait_ready
from ltm_harness.operator_process import OperatorProcess
from ltm_harness.repo import MONITOR_CRD, REPO_ROOT

REPO = REPO_ROOT
CRD = MONITOR_CRD
OPERATOR_AGENT = "loadtest-monitor/"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """The harness's wait_for, riding out transient API errors while objects come and go."""
    return wait.wait_for(check, timeout, what, interval, retry_on=(Exception,))


class Operator:
    """`loadtest-monitor run` as a subprocess, restartable."""

    def __init__(
        self,
        cluster: Any,
        log_path: Path,
        kubeconfig: Path | None = None,
        *,
        resync_seconds: int = 20,
        extra: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.log_path = log_path
        self.kubeconfig = kubeconfig
        self.resync_seconds = resync_seconds
        self.extra = extra
        self.extra_env = dict(extra_env or {})
        self.proc: OperatorProcess | None = None

    def start(self) -> None:
        env = self.cluster.env()
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        env["LTM_RESYNC_SECONDS"] = str(self.resync_seconds)
        env.update(self.extra_env)
        self.proc = OperatorProcess(env, self.log_path, "--verbose", *self.extra)

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a node failure would: no clean shutdown."""
        if self.proc is None:
            return
        self.proc.kill()
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.stop()
        self.proc = None

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def default_children(monitor: str) -> set[str]:
    """Kind/name of every child a monitor with an empty spec gets (14 objects)."""
    return {
        f"ConfigMap/{monitor}-gatling",
        f"ConfigMap/{monitor}-influxdb-config",
        f"ConfigMap/{monitor}-grafana-datasources",
        f"ConfigMap/{monitor}-grafana-dashboard-providers",
        f"ConfigMap/{monitor}-grafana-dashboards",
        f"Secret/{monitor}-grafana-admin",
        f"Secret/{monitor}-influxdb-auth",
        f"Service/{monitor}-grafana",
        f"Service/{monitor}-graphite",
        f"Service/{monitor}-influxdb",
        f"Deployment/{monitor}-grafana",
        f"Deployment/{monitor}-influxdb",
        f"NetworkPolicy/{monitor}-influxdb",
        f"NetworkPolicy/{monitor}-grafana",
    }


def install_crd(cluster: Any) -> None:
    """The project's CRD applied (again: a test may have removed it) and Established."""
    applied = cluster.kubectl("apply", "--server-side", "-f", str(CRD))
    assert applied.returncode == 0, applied.stderr
    waited = cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/loadtestmonitors.loadtest.dev"
    )
    assert waited.returncode == 0, waited.stderr


@contextlib.contextmanager
def running_operator(cluster: Any, log_dir: Path, **options: Any) -> Iterator[Operator]:
    """`loadtest-monitor run` for the duration of a with-block (a test module's fixture)."""
    op = Operator(cluster, log_dir / "operator.log", **options)
    op.start()
    try:
        yield op
    finally:
        op.stop()


def deployment(api: pykube.HTTPClient, namespace: str, name: str) -> dict[str, Any]:
    return dict(pykube.Deployment.objects(api, namespace=namespace).get(name=name).obj)


def replica_sets(api: pykube.HTTPClient, namespace: str, app: str) -> set[str]:
    selector = {"app.kubernetes.io/name": app}
    return {rs.name for rs in pykube.ReplicaSet.objects(api, namespace=namespace).filter(selector=selector)}


def config_map_data(api: pykube.HTTPClient, namespace: str, name: str) -> dict[str, str]:
    return dict(pykube.ConfigMap.objects(api, namespace=namespace).get(name=name).obj.get("data") or {})


def operator_requests(cluster: Any, since: int) -> list[dict[str, Any]]:
    return [
        e
        for e in cluster.audit_events(since)
        if e.get("stage") == "ResponseComplete"
        and (e.get("userAgent", "").startswith(OPERATOR_AGENT) or e.get("userAgent", "").startswith("kopf/"))
    ]


def warnings_with_reason(cluster: Any, namespace: str, reason: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "events", "-n", namespace, "--field-selector", f"reason={reason}", "-o", "yaml")
    items = (yaml.safe_load(out.stdout) or {}).get("items") or []
    return [e for e in items if e.get("type") == "Warning"]


def operator_writes(cluster: Any, since: int, namespace: str) -> list[tuple[str, str, str]]:
    return [
        (e["verb"], e.get("objectRef", {}).get("resource", ""), e.get("objectRef", {}).get("name", ""))
        for e in operator_requests(cluster, since)
        if e["verb"] in WRITE_VERBS and e.get("objectRef", {}).get("namespace") == namespace
    ]


class FreezableProxy:
    """A TCP forwarder to the API server that can stop passing bytes while keeping connections
    open: an API server that accepts and never answers, for the operator only."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._closing = False
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: Any, dst: Any) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.frozen.is_set() and not self._closing:
                    time.sleep(0.05)  # hold the bytes: the peer waits for an answer that does not come
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self._closing = True
        self.frozen.clear()
        self.listener.close()

    def kubeconfig(self, cluster: Any, path: Path) -> Path:
        config = yaml.safe_load(Path(cluster.kubeconfig_path).read_text())
        for entry in config["clusters"]:
            entry["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        path.write_text(yaml.safe_dump(config))
        return path


def check_create_only_apply(kube: Any, kubectl: Callable[..., subprocess.CompletedProcess[str]], namespace: str) -> int:
    """The operator's create-only apply (kube.Kube.apply without a uid) on a real API server, for
    every kind a monitor has: a free name is created with our Apply field ownership; a name that
    is taken, by somebody else or by ourselves, is refused with 409 and that object stays exactly
    as it was. Returns the number of kinds checked."""
    from loadtest_monitor.identity import FIELD_MANAGER
    from loadtest_monitor.kube.client import KubeError
    from loadtest_monitor.render.common import Owner, RenderContext
    from loadtest_monitor.render.monitor import offline_credentials, render_all
    from loadtest_monitor.spec.monitor_input import check_monitor

    doc = {**minimal("taken"), "spec": {"influxdb": {"storage": {"enabled": True}}}}
    doc["metadata"]["namespace"] = namespace
    found = check_monitor(doc, None)
    ctx = RenderContext(Owner(found.name, namespace, "no-owner"), found.spec, "cluster.local")
    credentials = {name: dict.fromkeys(keys, "x") for name, keys in offline_credentials(ctx).items()}
    kinds: set[str] = set()
    for desired in render_all(ctx, credentials):
        desired["metadata"].pop("ownerReferences", None)  # the garbage collector would remove them
        kind, name = desired["kind"], desired["metadata"]["name"]
        kinds.add(kind)
        foreign = {**desired, "metadata": {"name": f"{name}-x", "namespace": namespace, "labels": {"team": "other"}}}
        made = kubectl("create", "-f", "-", "-o", "json", input=yaml.safe_dump(foreign))
        assert made.returncode == 0, made.stderr
        before = yaml.safe_load(made.stdout)
        try:
            kube.apply({**desired, "metadata": {**desired["metadata"], "name": f"{name}-x"}})
            raise AssertionError(f"{kind} {name}-x: a create-only apply onto somebody else's object succeeded")
        except KubeError as err:
            assert err.status == 409, (kind, err.status, str(err))
        after = kube.get(desired["apiVersion"], kind, namespace, f"{name}-x")
        # Controllers may write to it meanwhile (a PVC gets bound); we must not have.
        assert FIELD_MANAGER not in {m["manager"] for m in after["metadata"]["managedFields"]}, kind
        assert after["metadata"]["labels"] == before["metadata"]["labels"] == {"team": "other"}, kind
        assert "ownerReferences" not in after["metadata"], kind

        created = kube.apply(desired)
        managers = [(m["manager"], m["operation"]) for m in created["metadata"]["managedFields"]]
        assert (FIELD_MANAGER, "Apply") in managers, (kind, managers)
        assert created["metadata"]["resourceVersion"] != "9223372036854775807"
        try:
            kube.apply(desired)
            raise AssertionError(f"{kind} {name}: a second create-only apply succeeded")
        except KubeError as err:
            assert err.status == 409, (kind, err.status, str(err))
    return len(kinds)
