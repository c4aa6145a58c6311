"""The EKS connection (`--aws-profile P --eks-cluster C`) against moto's EKS; no AWS call leaves the machine.

The bearer token is checked the way the EKS API server's authenticator reads it: base64url of a
presigned STS GetCallerIdentity URL, the cluster header among the signed headers, 60 s expiry, and
a SigV4 signature that an independent computation (written here from the SigV4 specification,
not with botocore) reproduces from the profile's secret key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest
from kubernetes.config import kube_config
from moto import mock_aws

from loadtest_monitor.aws.eks import RenewingToken, bearer_token, connect, describe_cluster, session_for
from loadtest_monitor.cli.main import main

REGION = "eu-west-1"
PROFILE = "perf-team"
ACCESS_KEY = "AKIAPERFTEAMEXAMPLE1"
SECRET_KEY = "perf/team/secret/key/example/0123456789"
CLUSTER = "loadtest"


@pytest.fixture
def aws_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A profile in its own config files, as `aws configure --profile perf-team` writes them."""
    (tmp_path / "credentials").write_text(
        f"[{PROFILE}]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    (tmp_path / "config").write_text(f"[profile {PROFILE}]\nregion = {REGION}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def eks_cluster(aws_profile: Path) -> Iterator[dict[str, Any]]:
    with mock_aws():
        eks = boto3.session.Session(profile_name=PROFILE).client("eks")
        cluster = eks.create_cluster(
            name=CLUSTER,
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": ["subnet-1"]},
        )["cluster"]
        yield cluster


def decode(token: str) -> str:
    prefix, _, payload = token.partition(".")
    assert prefix == "k8s-aws-v1"
    assert "=" not in payload, "base64url without padding"
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def expected_signature(url: str, headers: dict[str, str], secret: str) -> str:
    """SigV4 for a presigned GET, from the specification (canonical request -> string to sign -> HMAC chain)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "X-Amz-Signature"]
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query))
    params = dict(query)
    signed = params["X-Amz-SignedHeaders"].split(";")
    all_headers = {"host": parts.netloc, **{k.lower(): v for k, v in headers.items()}}
    canonical_headers = "".join(f"{name}:{all_headers[name].strip()}\n" for name in signed)
    empty_payload = hashlib.sha256(b"").hexdigest()
    signed_list = ";".join(signed)
    canonical = "\n".join(["GET", parts.path or "/", canonical_query, canonical_headers, signed_list, empty_payload])
    _, date, region, service, _ = params["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/aws4_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope, digest])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), "aws4_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_token_is_a_presigned_get_caller_identity_with_the_cluster_header_signed(aws_profile: Path) -> None:
    session = session_for(PROFILE, None)
    token = bearer_token(session.get_credentials(), CLUSTER, session.region_name)
    url = decode(token)
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    assert (parts.scheme, parts.netloc, parts.path) == ("https", f"sts.{REGION}.amazonaws.com", "/")
    assert params["Action"] == "GetCallerIdentity"
    assert params["Version"] == "2011-06-15"
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Expires"] == "60"
    assert params["X-Amz-SignedHeaders"].split(";") == ["host", "x-k8s-aws-id"]
    access_key, date, region, service, terminal = params["X-Amz-Credential"].split("/")
    assert (access_key, region, service, terminal) == (ACCESS_KEY, REGION, "sts", "aws4_request")
    signed_at = dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - signed_at).total_seconds()) < 60
    assert date == params["X-Amz-Date"][:8]
    assert params["X-Amz-Signature"] == expected_signature(url, {"x-k8s-aws-id": CLUSTER}, SECRET_KEY)
    # The signature binds the cluster: the same URL presented for another cluster does not verify.
    assert params["X-Amz-Signature"] != expected_signature(url, {"x-k8s-aws-id": "other"}, SECRET_KEY)


def test_connect_describes_the_cluster_and_configures_endpoint_ca_and_token(eks_cluster: dict[str, Any]) -> None:
    cluster, configuration = connect(PROFILE, CLUSTER, None)
    assert cluster.region == REGION
    assert configuration.host == eks_cluster["endpoint"].rstrip("/")
    assert configuration.verify_ssl is True
    assert configuration.ssl_ca_cert is not None
    assert Path(configuration.ssl_ca_cert).read_bytes() == base64.b64decode(eks_cluster["certificateAuthority"]["data"])
    assert oct(os.stat(configuration.ssl_ca_cert).st_mode & 0o777) == "0o600"
    header = configuration.auth_settings()["BearerToken"]
    assert header["value"] is not None
    assert header["key"] == "authorization"
    scheme, token = header["value"].split(" ", 1)
    assert scheme == "Bearer"
    assert "x-k8s-aws-id" in dict(parse_qsl(urlsplit(decode(token)).query))["X-Amz-SignedHeaders"]


def test_unknown_cluster_and_unknown_profile_are_one_line_errors(eks_cluster: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"--eks-cluster nope: .*"):
        describe_cluster(session_for(PROFILE, None), "nope")
    with pytest.raises(SystemExit, match=r"--aws-profile: .*nobody.*"):
        main(["eks-token", "--aws-profile", "nobody", "--eks-cluster", CLUSTER])
    with pytest.raises(SystemExit, match=r"--aws-profile needs --eks-cluster"):
        main(["run", "--aws-profile", PROFILE])


def test_token_is_renewed_after_ten_minutes() -> None:
    made: list[int] = []
    clock = [0.0]

    def make() -> str:
        made.append(1)
        return f"token-{len(made)}"

    token = RenewingToken(make, clock=lambda: clock[0])
    assert token() == "token-1"
    clock[0] = 599.0
    assert token() == "token-1"
    clock[0] = 600.0
    assert token() == "token-2"


def test_run_kubeconfig_execs_eks_token_and_the_client_gets_a_fresh_token(
    eks_cluster: dict[str, Any], tmp_path: Path
) -> None:
    """`run --eks-cluster` gives kopf a private kubeconfig whose exec plugin is `loadtest-monitor eks-token`."""
    from argparse import Namespace

    from loadtest_monitor.cli.connection import eks_kubeconfig

    path = eks_kubeconfig(Namespace(aws_profile=PROFILE, eks_cluster=CLUSTER, region=None), str(tmp_path))
    assert path is not None
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    from kubernetes import client

    configuration = client.Configuration()
    kube_config.load_kube_config(config_file=path, client_configuration=configuration)  # runs the exec plugin
    assert configuration.host == eks_cluster["endpoint"].rstrip("/")
    assert configuration.ssl_ca_cert is not None
    assert Path(configuration.ssl_ca_cert).read_bytes() == base64.b64decode(eks_cluster["certificateAuthority"]["data"])
    token = configuration.api_key["BearerToken"].removeprefix("Bearer ")
    params = dict(parse_qsl(urlsplit(decode(token)).query))
    assert params["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/")
    assert params["X-Amz-Signature"] == expected_signature(decode(token), {"x-k8s-aws-id": CLUSTER}, SECRET_KEY)


def test_eks_token_prints_an_exec_credential(aws_profile: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loadtest_monitor.cli", "eks-token", "--aws-profile", PROFILE, "--eks-cluster", CLUSTER],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    ).stdout
    credential = json.loads(out)
    assert credential["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert credential["kind"] == "ExecCredential"
    expires = dt.datetime.strptime(credential["status"]["expirationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    assert 500 < (expires.replace(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)).total_seconds() <= 600
    assert "GetCallerIdentity" in decode(credential["status"]["token"])


def test_up_and_down_parse_the_connection_flags_into_an_eks_client(eks_cluster: dict[str, Any]) -> None:
    from loadtest_monitor.cli.connection import api_client
    from loadtest_monitor.cli.main import build_parser

    for argv in (
        ["up", "-f", "m.yaml", "--aws-profile", PROFILE, "--eks-cluster", CLUSTER],
        ["down", "checkout", "--aws-profile", PROFILE, "--eks-cluster", CLUSTER, "--region", REGION],
    ):
        api = api_client(build_parser().parse_args(argv))
        assert api.configuration.host == eks_cluster["endpoint"].rstrip("/")
        assert api.configuration.auth_settings()["BearerToken"]["value"].startswith("Bearer k8s-aws-v1.")
        assert api.user_agent.startswith("loadtest-monitor/")
