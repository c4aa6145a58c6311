"""The local control plane as the integration and image tests and the benches start it, the admin's
pykube client (the tests' reader of the cluster) and throwaway namespaces."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pykube

from ltm_harness.binaries import find_binaries
from ltm_harness.cluster import LocalCluster
from ltm_harness.errors import ClusterError


def start_cluster(
    run_dir: Path, crds: Sequence[Path | Mapping[str, Any]], *, keep_run_dir: bool = False
) -> LocalCluster:
    """A started LocalCluster with ``crds`` installed before the controllers start; the caller stops it.

    ClusterError (naming what is missing or what did not start) when it cannot start: the test layers
    turn it into a failure with that reason, never a skip.
    """
    try:
        local = LocalCluster(find_binaries(), run_dir, crds=crds, keep_run_dir=keep_run_dir)
        local.start()
    except ClusterError as err:
        raise ClusterError(f"local control plane did not start: {err}") from err
    return local


def admin_client(cluster: LocalCluster) -> pykube.HTTPClient:
    """pykube client for the cluster's admin kubeconfig."""
    return pykube.HTTPClient(pykube.KubeConfig.from_file(str(cluster.kubeconfig_path)))


@contextlib.contextmanager
def bare_cluster(run_dir: Path) -> Iterator[LocalCluster]:
    """A started control plane with no CRD installed: what `up` and `doctor` meet on a new cluster."""
    local = LocalCluster(find_binaries(), run_dir, crds=[], keep_run_dir=True)
    local.start()
    try:
        yield local
    finally:
        local.stop()


@contextlib.contextmanager
def fresh_namespace(api: pykube.HTTPClient, prefix: str) -> Iterator[str]:
    """A new namespace (``<prefix>-<hex>``); deleted (not waited for) afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    ns = pykube.Namespace(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    ns.create()
    try:
        yield name
    finally:
        if ns.exists():
            ns.delete()
