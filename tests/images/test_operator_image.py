"""The operator image as a cluster runs it: its own numeric non-root UID, a read-only root
filesystem with a tmpfs on /tmp, the image's real entrypoint (`loadtest-monitor run`), a mounted
kubeconfig. It must take a monitor to Ready on the local control plane: no other operator runs
against this control plane, so Ready can only come from the container.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pykube

from ltm_harness.cluster import LocalCluster
from ltm_harness.monitors import apply_monitor, children, minimal, wait_ready
from ltm_harness.podman import Podman
from ltm_harness.ports import free_port

IMAGE_UID = 65532  # docker/operator/Dockerfile: USER 65532:65532, the Deployment's runAsUser
KUBECONFIG_IN_CONTAINER = "/var/run/loadtest-monitor/kubeconfig"


def _process_ids(pid: int) -> tuple[int, int]:
    """(real UID, real GID) of a process, as the kernel sees it."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


def _healthz(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
        return int(resp.status)


def test_operator_image_runs_as_non_root_read_only_and_makes_a_monitor_ready(
    podman: Podman,
    operator_image: str,
    cluster: LocalCluster,
    kube_api: pykube.HTTPClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    # A copy the container's user may read (the harness writes its kubeconfig for root only).
    kubeconfig = tmp_path / "kubeconfig"
    shutil.copyfile(cluster.kubeconfig_path, kubeconfig)
    kubeconfig.chmod(0o644)
    liveness = free_port()
    options = [
        "--read-only",
        "--tmpfs", "/tmp",
        "--network", "host",  # the control plane listens on loopback
        "-v", f"{kubeconfig}:{KUBECONFIG_IN_CONTAINER}:ro",
        "-e", f"KUBECONFIG={KUBECONFIG_IN_CONTAINER}",
    ]
    # Only the arguments change (the image's CMD would use port 8080): the ENTRYPOINT stays.
    with podman.container(operator_image, options, ["--all-namespaces", "--liveness-port", str(liveness)]) as name:
        info = podman.inspect(name)
        assert info["Config"]["User"] == f"{IMAGE_UID}:{IMAGE_UID}"
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        pid = int(info["State"]["Pid"])
        assert _process_ids(pid) == (IMAGE_UID, IMAGE_UID)
        # The image's own virtualenv runs the entrypoint (not the package of the test's venv).
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert "/opt/loadtest-monitor/bin/loadtest-monitor" in argv and "run" in argv, argv

        # The root filesystem refuses writes, /tmp takes them.
        refused = podman.run("exec", name, "python", "-c", "open('/opt/loadtest-monitor/probe', 'w')", check=False)
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr, refused
        podman.run("exec", name, "python", "-c", "open('/tmp/probe', 'w').write('ok')")

        apply_monitor(cluster, namespace, minimal("checkout"))
        try:
            monitor = wait_ready(kube_api, namespace, "checkout", timeout=180)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\noperator container log:\n{podman.logs(name)}") from None
        assert monitor["status"]["observedGeneration"] == monitor["metadata"]["generation"]
        kinds = {key.split("/", 1)[0] for key in children(kube_api, namespace, "checkout")}
        assert {"Deployment", "Service", "ConfigMap", "Secret"} <= kinds, kinds
        assert _healthz(liveness) == 200
        assert podman.inspect(name)["State"]["Running"] is True, podman.logs(name)
