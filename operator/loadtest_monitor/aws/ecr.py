"""ECR for the runner image: create the repository if it is missing, and the registry login.

The login is what `aws ecr get-login-password` gives: ecr.get_authorization_token returns
base64("AWS:<password>") and the registry's endpoint; the password is valid for 12 hours.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any


class EcrError(RuntimeError):
    """A one-line reason (shown to the user as is)."""


@dataclass(frozen=True)
class RegistryLogin:
    registry: str  # host[:port], no scheme
    username: str
    password: str


def ensure_repository(ecr: Any, name: str) -> tuple[str, bool]:
    """(repositoryUri, created now?) of the ECR repository `name`, created with scan-on-push if missing."""
    import botocore.exceptions

    try:
        repos = ecr.describe_repositories(repositoryNames=[name])["repositories"]
        return str(repos[0]["repositoryUri"]), False
    except botocore.exceptions.ClientError as err:
        if err.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
            raise EcrError(f"--repository {name}: {err.response.get('Error', {}).get('Message', err)}") from err
    try:
        created = ecr.create_repository(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": True},
            imageTagMutability="MUTABLE",
        )["repository"]
    except botocore.exceptions.ClientError as err:
        raise EcrError(f"--repository {name}: {err.response.get('Error', {}).get('Message', err)}") from err
    return str(created["repositoryUri"]), True


def registry_login(ecr: Any) -> RegistryLogin:
    """User and password for the account's registry, from ecr.get_authorization_token."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    if not password:
        raise EcrError("ECR returned an authorization token without a password")
    registry = str(data["proxyEndpoint"]).removeprefix("https://").removeprefix("http://").rstrip("/")
    return RegistryLogin(registry, user, password)
