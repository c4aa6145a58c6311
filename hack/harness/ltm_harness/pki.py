"""A throwaway PKI for one control-plane run, made with ``openssl``: a CA, the API server's serving
certificate, one client certificate per identity and the service-account signing key pair."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from ltm_harness.errors import ClusterError

DAYS = "30"
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
# Every name and address the API server is reached by, from the host and (for KWOK's pods) in-cluster.
APISERVER_SANS = ",".join(
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


def openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(
        ["openssl", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    if proc.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {proc.stdout.strip()}")


def _ca(pki: Path) -> None:
    openssl(
        "req", "-x509", *EC_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-days", DAYS,
        "-subj", "/CN=loadtest-monitor-local-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=pki,
    )  # fmt: skip


def leaf(pki: Path, name: str, subject: str, usage: str, *extra: str) -> None:
    """``<name>.crt``/``<name>.key`` signed by the CA in ``pki``; ``usage`` is the extendedKeyUsage."""
    args = [
        "req", "-x509", *EC_KEY,
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", DAYS, "-subj", subject,
        "-CA", "ca.crt", "-CAkey", "ca.key",
        "-addext", "basicConstraints=critical,CA:FALSE",
        "-addext", "keyUsage=critical,digitalSignature,keyEncipherment",
        "-addext", f"extendedKeyUsage={usage}",
    ]  # fmt: skip
    for ext in extra:
        args += ["-addext", ext]
    openssl(*args, cwd=pki)


def make_pki(pki: Path, clients: Sequence[tuple[str, str]]) -> None:
    """CA, the API server's certificate, a client certificate for each (name, subject) and the
    service-account keys (``sa.key``/``sa.pub``), all in ``pki``."""
    _ca(pki)
    leaf(pki, "apiserver", "/CN=kube-apiserver", "serverAuth", f"subjectAltName={APISERVER_SANS}")
    for name, subject in clients:
        leaf(pki, name, subject, "clientAuth")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key", cwd=pki)
    openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
