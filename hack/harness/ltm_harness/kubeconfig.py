"""Kubeconfigs with the certificates embedded, one per client identity of a run."""

from __future__ import annotations

import base64
import json
from pathlib import Path

CONTEXT = "loadtest-monitor-local"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, pki: Path, user: str) -> None:
    """A kubeconfig for ``server`` as ``user`` (``<user>.crt``/``.key`` in ``pki``), mode 0600."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": _b64(pki / "ca.crt")}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(pki / f"{user}.crt"),
                    "client-key-data": _b64(pki / f"{user}.key"),
                },
            }
        ],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)


def with_server(source: Path, path: Path, server: str) -> Path:
    """A copy of the kubeconfig ``source`` (one this module wrote) whose clusters all point at
    ``server`` (a proxy in front of the API server), at ``path``, mode 0600."""
    config = json.loads(source.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = server
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path
