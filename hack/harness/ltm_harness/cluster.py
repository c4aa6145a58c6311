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
"""

from __future__ import annotations

import functools
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ltm_harness.apiserver import ApiServer
from ltm_harness.binaries import Binaries, find_binaries
from ltm_harness.errors import ClusterError
from ltm_harness.pod_spec import RUN_LABEL
from ltm_harness.processes import Process

POD_CIDR = "10.244.0.0/16"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
#: The default StorageClass; KWOK's volume stages provision and bind PVCs of exactly this class.
STORAGE_CLASS = "kwok-volume"

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


def runner_pods_left_alone(stage_text: str) -> str:
    """KWOK's pod-complete stage ends every Running pod of a Job at once with exit 0; runner pods
    (label RUN_LABEL) are ended by the pod runner with their real Gatling's exit code instead."""
    stage = yaml.safe_load(stage_text)
    if not isinstance(stage, dict) or stage.get("metadata", {}).get("name") != "pod-complete":
        return stage_text
    expressions = stage["spec"]["selector"]["matchExpressions"]
    expressions.append({"key": f'.metadata.labels["{RUN_LABEL}"]', "operator": "DoesNotExist"})
    return str(yaml.safe_dump(stage, sort_keys=False))


class LocalCluster(ApiServer):
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + KWOK on 127.0.0.1.

    ``start()`` returns once /readyz is ok, the fake node is Ready, the scheduler and controller
    manager answer /healthz, and the ``default`` ServiceAccount exists.

    ``crds`` (manifest files, directories of them, or CRD objects as dicts) are applied and
    waited for (Established and in discovery) *before* kube-controller-manager starts, so its
    garbage collector knows their kinds from the start; a CRD created later is learnt only at
    the collector's next discovery refresh (every 30 s), and deleting an owner of that kind can
    then take 30-60 s to reach its dependents. ``stop()`` ends every process group and removes
    the run directory (unless ``keep_run_dir``; etcd's data is removed either way).
    """

    PORT_NAMES: ClassVar[tuple[str, ...]] = (*ApiServer.PORT_NAMES, "controller-manager", "scheduler")
    # Client identities: distinct user names so the audit log tells them apart.
    CLIENTS: ClassVar[tuple[tuple[str, str], ...]] = (
        *ApiServer.CLIENTS,
        ("controller-manager", "/O=system:masters/CN=system:kube-controller-manager"),
        ("scheduler", "/CN=system:kube-scheduler"),
        ("kwok", "/O=system:masters/CN=kwok-controller"),
    )

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
        super().__init__(
            binaries if binaries is not None else find_binaries(),
            run_dir,
            keep_run_dir=keep_run_dir,
            die_with_parent=die_with_parent,
            startup_timeout=startup_timeout,
        )
        self.node_name = node_name
        self.controllers = tuple(controllers)
        self.crds = tuple(crds)

    @property
    def volumes_supported(self) -> bool:
        """Whether PersistentVolumeClaims get bound (KWOK's volume stages are in the build)."""
        return (self.binaries.kwok_stages / "pvc-provision.yaml").exists()

    def node_ready(self) -> bool:
        status, body = self.request("GET", f"/api/v1/nodes/{self.node_name}")
        if status != 200:
            return False
        conditions = json.loads(body).get("status", {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    # -- lifecycle ---------------------------------------------------------------------------

    def _start_more(self, deadline: float) -> None:
        self._install_crds(deadline)
        if self.volumes_supported:
            self._create_storage_class()
        self._create_node()
        self._start_controller_manager()
        self._start_scheduler()
        self._start_kwok()
        self._wait(f"node {self.node_name} Ready", self.node_ready, deadline)
        self._wait("kube-controller-manager /healthz", lambda: self._healthz("controller-manager"), deadline)
        self._wait("kube-scheduler /healthz", lambda: self._healthz("scheduler"), deadline)
        if "serviceaccount-controller" in self.controllers:
            self._wait("the default ServiceAccount", self._default_sa_exists, deadline)

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
            name: Process(name, int(p["pid"]), p["exe"], Path(p["log"])) for name, p in state["processes"].items()
        }
        cluster._started = True
        return cluster

    # -- internals: configuration and components ---------------------------------------------

    def _write_configs(self) -> None:
        super()._write_configs()
        stages = sorted(self.binaries.kwok_stages.glob("*.yaml"))
        (self.run_dir / "kwok-stages.yaml").write_text(
            "\n---\n".join(runner_pods_left_alone(s.read_text()).strip() for s in stages) + "\n"
        )

    def _disabled_admission_plugins(self) -> list[str]:
        disabled = ["TaintNodesByCondition"]  # else the new node keeps a not-ready taint nobody removes
        if "serviceaccount-controller" not in self.controllers:
            disabled.append("ServiceAccount")  # it rejects pods whose ServiceAccount nobody creates
        return disabled

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

    # -- internals: objects the cluster starts with ------------------------------------------

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
        status, body = self.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        if status != 200:
            return False
        conditions = json.loads(body).get("status", {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)

    def _discovered(self, group_version_path: str, plural: str) -> bool:
        status, body = self.request("GET", group_version_path)
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
        status, body = self.request("POST", "/apis/storage.k8s.io/v1/storageclasses", storage_class)
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
        status, body = self.request("POST", "/api/v1/nodes", node)
        if status not in (200, 201):
            raise ClusterError(f"creating node {self.node_name}: HTTP {status}: {body[:500]!r}")

    def _default_sa_exists(self) -> bool:
        status, _ = self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
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
        except urllib.error.HTTPError as err:
            err.close()
            return False
        except OSError:
            return False
