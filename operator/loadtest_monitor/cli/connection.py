"""How a command reaches its cluster: the kubeconfig, or an EKS cluster through an AWS profile.

`--aws-profile P --eks-cluster C [--region R]` describe the cluster with boto3 and authenticate
with an EKS bearer token made from the profile's credentials; without them, the kubeconfig
(KUBECONFIG or ~/.kube/config) or the in-cluster service account is used.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a command talks to a cluster, so offline commands start fast
    from kubernetes import client


def add_connection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster connection (default: KUBECONFIG or in-cluster)")
    group.add_argument("--aws-profile", metavar="PROFILE", help="AWS profile to authenticate to --eks-cluster with")
    group.add_argument("--eks-cluster", metavar="NAME", help="EKS cluster to connect to (needs eks:DescribeCluster)")
    group.add_argument("--region", metavar="REGION", help="AWS region of the EKS cluster (default: the profile's)")


def check_connection_args(args: argparse.Namespace) -> None:
    """Refuses flag combinations that would silently fall back to the kubeconfig."""
    if getattr(args, "eks_cluster", None) is None and (args.aws_profile or args.region):
        given = "--aws-profile" if args.aws_profile else "--region"
        raise SystemExit(f"error: {given} needs --eks-cluster NAME (the EKS cluster to connect to)")


def eks_configuration(args: argparse.Namespace) -> client.Configuration | None:
    """The client configuration of the EKS cluster named on the command line, or None."""
    check_connection_args(args)
    if not args.eks_cluster:
        return None
    from loadtest_monitor.aws.eks import EksError, connect

    try:
        _, configuration = connect(args.aws_profile, args.eks_cluster, args.region)
    except EksError as err:
        raise SystemExit(f"error: {err}") from err
    return configuration


def api_client(args: argparse.Namespace) -> client.ApiClient:
    """An ApiClient for the command's cluster (see the module docstring)."""
    from kubernetes import client

    from loadtest_monitor.kube.client import USER_AGENT, load_client_config

    configuration = eks_configuration(args)
    if configuration is None:
        return load_client_config()
    api = client.ApiClient(configuration)
    api.user_agent = USER_AGENT
    return api


def exec_credential(token: str, expires_in: float) -> dict[str, object]:
    """The ExecCredential a kubeconfig `exec` plugin prints (client.authentication.k8s.io/v1beta1)."""
    import datetime as dt

    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_in)
    return {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "spec": {},
        "status": {"token": token, "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


def cmd_eks_token(args: argparse.Namespace) -> int:
    """Prints an ExecCredential for the cluster: what `aws eks get-token` prints, made without the aws CLI."""
    import json
    import sys

    from loadtest_monitor.aws.eks import TOKEN_RENEW_SECONDS, EksError, bearer_token, session_for

    if not args.eks_cluster:
        raise SystemExit("error: eks-token needs --eks-cluster NAME (the EKS cluster the token is for)")
    try:
        session = session_for(args.aws_profile, args.region)
    except EksError as err:
        raise SystemExit(f"error: {err}") from err
    credentials = session.get_credentials()
    if credentials is None:
        raise SystemExit(f"error: --aws-profile {args.aws_profile}: no credentials found for this profile")
    token = bearer_token(credentials, args.eks_cluster, session.region_name)
    json.dump(exec_credential(token, TOKEN_RENEW_SECONDS), sys.stdout)
    sys.stdout.write("\n")
    return 0


def eks_kubeconfig(args: argparse.Namespace, directory: str) -> str | None:
    """For `run` (kopf logs in through the kubeconfig machinery): a private kubeconfig in `directory`
    whose user is an `exec` plugin calling `loadtest-monitor eks-token`, so tokens are renewed as
    they expire. The user's own kubeconfig is never touched. None without --eks-cluster."""
    import base64
    import os
    import sys

    import yaml

    check_connection_args(args)
    if not args.eks_cluster:
        return None
    from loadtest_monitor.aws.eks import EksError, describe_cluster, session_for

    try:
        session = session_for(args.aws_profile, args.region)
        cluster = describe_cluster(session, args.eks_cluster)
    except EksError as err:
        raise SystemExit(f"error: {err}") from err
    token_args = ["-m", "loadtest_monitor.cli", "eks-token", "--eks-cluster", cluster.name, "--region", cluster.region]
    if args.aws_profile:
        token_args += ["--aws-profile", args.aws_profile]
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster.name,
                "cluster": {
                    "server": cluster.endpoint,
                    "certificate-authority-data": base64.b64encode(cluster.ca_data).decode(),
                },
            }
        ],
        "users": [
            {
                "name": "eks",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": sys.executable,
                        "args": token_args,
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": cluster.name, "context": {"cluster": cluster.name, "user": "eks"}}],
        "current-context": cluster.name,
    }
    path = os.path.join(directory, "kubeconfig")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        yaml.safe_dump(kubeconfig, out)
    return path
