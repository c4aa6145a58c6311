"""Connect to an EKS cluster with an AWS profile: no aws CLI, no kubeconfig edit.

EKS authenticates a Kubernetes request by a bearer token that is a presigned URL of
STS GetCallerIdentity (what `aws eks get-token` prints): the API server calls that URL and learns
who signed it. The header `x-k8s-aws-id: <cluster>` is part of the signature, so a token made for
one cluster is refused by every other. The URL is signed for 60 s; EKS accepts the token for up
to 15 minutes after signing, so a client makes a new one well before that.
"""

from __future__ import annotations

import base64
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from kubernetes import client

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
PRESIGN_SECONDS = 60
# EKS refuses a token 15 minutes after it was signed; renew it well before.
TOKEN_RENEW_SECONDS = 10 * 60


class EksError(RuntimeError):
    """A one-line reason the cluster cannot be reached (shown to the user as is)."""


@dataclass(frozen=True)
class EksCluster:
    name: str
    region: str
    endpoint: str
    ca_data: bytes  # PEM


def session_for(profile: str | None, region: str | None) -> Any:
    """A boto3 session of the named profile (`--aws-profile`); the region from the flag or the profile."""
    import boto3
    import botocore.exceptions

    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound as err:
        raise EksError(f"--aws-profile: {err}; list yours with `aws configure list-profiles`") from err
    if not session.region_name:
        raise EksError("--region: no region given and the profile sets none; pass --region (e.g. eu-west-1)")
    return session


def describe_cluster(session: Any, name: str) -> EksCluster:
    """The API server's endpoint and CA of an EKS cluster (eks:DescribeCluster)."""
    import botocore.exceptions

    try:
        cluster = session.client("eks").describe_cluster(name=name)["cluster"]
    except botocore.exceptions.ClientError as err:
        raise EksError(f"--eks-cluster {name}: {err.response.get('Error', {}).get('Message', err)}") from err
    except botocore.exceptions.NoCredentialsError as err:
        raise EksError(f"--aws-profile: {err}") from err
    endpoint = cluster.get("endpoint")
    ca = (cluster.get("certificateAuthority") or {}).get("data")
    if not endpoint or not ca:
        status = cluster.get("status", "unknown")
        raise EksError(f"--eks-cluster {name}: no endpoint yet (cluster status {status}); wait until it is ACTIVE")
    return EksCluster(name, session.region_name, str(endpoint).rstrip("/"), base64.b64decode(ca))


def bearer_token(credentials: Any, cluster_name: str, region: str) -> str:
    """`k8s-aws-v1.` + base64url (no padding) of a presigned STS GetCallerIdentity URL.

    `credentials` are botocore credentials (session.get_credentials()); the regional STS endpoint
    is the one EKS expects for a regional signature.
    """
    url = f"https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"
    request = AWSRequest(method="GET", url=url, headers={CLUSTER_ID_HEADER: cluster_name})
    signer = SigV4QueryAuth(credentials.get_frozen_credentials(), "sts", region, expires=PRESIGN_SECONDS)
    signer.add_auth(request)
    encoded = base64.urlsafe_b64encode(request.url.encode()).decode().rstrip("=")
    return TOKEN_PREFIX + encoded


class RenewingToken:
    """A bearer token that is made again when it is older than TOKEN_RENEW_SECONDS (thread-safe)."""

    def __init__(self, make: Callable[[], str], clock: Callable[[], float] = time.monotonic) -> None:
        self._make = make
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._made_at = 0.0

    def __call__(self) -> str:
        with self._lock:
            now = self._clock()
            if not self._token or now - self._made_at >= TOKEN_RENEW_SECONDS:
                self._token = self._make()
                self._made_at = now
            return self._token


def client_configuration(cluster: EksCluster, token: Callable[[], str]) -> client.Configuration:
    """A kubernetes client Configuration for the cluster: its endpoint, its CA, the renewing token."""
    # The client wants the CA as a file; it lives as long as the process.
    ca_file = tempfile.NamedTemporaryFile(prefix=f"eks-{cluster.name}-ca-", suffix=".pem", delete=False)  # noqa: SIM115
    with ca_file:
        ca_file.write(cluster.ca_data)
    configuration = client.Configuration()
    configuration.host = cluster.endpoint
    configuration.ssl_ca_cert = ca_file.name
    configuration.verify_ssl = True
    configuration.api_key_prefix["BearerToken"] = "Bearer"

    def refresh(config: client.Configuration) -> None:
        config.api_key["BearerToken"] = token()

    refresh(configuration)
    configuration.refresh_api_key_hook = refresh  # type: ignore[assignment]  # the client types it as None
    return configuration


def connect(profile: str | None, cluster_name: str, region: str | None) -> tuple[EksCluster, client.Configuration]:
    """Describe the cluster with the profile and build a client configuration that authenticates to it."""
    session = session_for(profile, region)
    cluster = describe_cluster(session, cluster_name)
    credentials = session.get_credentials()
    if credentials is None:
        raise EksError(f"--aws-profile {profile}: no credentials found for this profile")
    token = RenewingToken(lambda: bearer_token(credentials, cluster.name, cluster.region))
    return cluster, client_configuration(cluster, token)
