"""`loadtest-monitor images push`: the operator and runner images into the team's own registry.

For teams that cannot pull the released images from GitHub's container registry: both local images
(podman/docker store, e.g. built by `make images` or pulled from the release) go to ECR
(`--aws-profile P`: each repository created if missing, login from ecr.get_authorization_token) or
to any registry (`--registry HOST --username U`, password on stdin). The pushed references are
printed and recorded (cli/image_record.py), and `up --aws-profile P` installs that operator image.

The engine, login, tag and push steps are runner-image push's (cli/runner_image.py), the ECR calls
aws/ecr.py's: this module only says which two images go where.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from loadtest_monitor import __version__
from loadtest_monitor.cli import image_record
from loadtest_monitor.cli.runner_image import (
    DEFAULT_GATLING_VERSION,
    ENGINES,
    LOCAL_REPOSITORY,
    find_engine,
    push_image,
    stdin_login,
)

OPERATOR_REPOSITORY = "loadtest-monitor"
RUNNER_REPOSITORY = LOCAL_REPOSITORY
# ECR's repository name grammar (and a registry path's): lowercase components joined by `/`.
REPOSITORY_PATH = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")


@dataclass(frozen=True)
class Destination:
    registry: str  # host[:port] to log in to
    username: str
    password: str
    repositories: dict[str, str]  # local image -> repository path or ECR repository URI (no tag)


def repository_prefix(value: str | None) -> str:
    """`perf`, `perf/` or `team/perf` -> `perf/`, `team/perf/`; refused unless ECR would take it."""
    prefix = (value or "").strip("/")
    if prefix and not REPOSITORY_PATH.fullmatch(prefix):
        raise SystemExit(
            f"error: --repository-prefix {value!r}: use lowercase letters, digits, `.`, `_`, `-` and `/` "
            "between parts (e.g. perf or team/perf)"
        )
    return f"{prefix}/" if prefix else ""


def remote_tag(local: str) -> str:
    """The tag of a local image reference (`latest` when it has none)."""
    last = local.rsplit("/", 1)[-1].split("@", 1)[0]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def check_local(engine: str, flag: str, image: str, hint: str) -> None:
    """Refuses a missing local image before anything is created or pushed."""
    found = subprocess.run([engine, "image", "inspect", "--format", "{{.Id}}", image], capture_output=True,
                           text=True, check=False)
    if found.returncode != 0:
        raise SystemExit(f"error: {flag} {image}: no such image in {engine}'s local store; {hint}")


def ecr_destination(profile: str | None, region: str | None, names: dict[str, str]) -> Destination:
    """ECR repositories (created if missing) for each local image, and the account registry's login."""
    from loadtest_monitor.aws.ecr import EcrError, ensure_repository, registry_login
    from loadtest_monitor.aws.eks import EksError, session_for

    try:
        ecr = session_for(profile, region).client("ecr")
        uris = {}
        for local, name in names.items():
            uri, created = ensure_repository(ecr, name)
            sys.stdout.write(f"ECR repository {uri}: {'created' if created else 'present'}\n")
            uris[local] = uri
        login = registry_login(ecr)
    except (EcrError, EksError) as err:
        raise SystemExit(f"error: {err}") from err
    return Destination(login.registry, login.username, login.password, uris)


def registry_destination(args: argparse.Namespace, names: dict[str, str]) -> Destination:
    registry, username, password = stdin_login(args)
    return Destination(registry, username, password, {local: f"{registry}/{n}" for local, n in names.items()})


def cmd_push(args: argparse.Namespace) -> int:
    if not args.aws_profile and not args.registry:
        raise SystemExit("error: say where to push: --aws-profile P (ECR of that account) or --registry HOST")
    engine = find_engine(args.engine)
    prefix = repository_prefix(args.repository_prefix)
    operator, runner = args.operator_image, args.runner_image
    check_local(engine, "--operator-image", operator,
                f"build it (`LTM_OPERATOR_IMAGE={operator} make images`, or docker/operator/Dockerfile), "
                "or pull the release's image and tag it so, or pass --operator-image")
    check_local(engine, "--runner-image", runner,
                "build it with `loadtest-monitor runner-image build --simulations DIR` (it names the image so), "
                "or pass --runner-image")
    names = {operator: prefix + OPERATOR_REPOSITORY, runner: prefix + RUNNER_REPOSITORY}
    dest = ecr_destination(args.aws_profile, args.region, names) if not args.registry else registry_destination(
        args, names
    )
    pushed = {}
    for local, repository in dest.repositories.items():
        remote = f"{repository}:{remote_tag(local)}"
        push_image(engine, local, remote, dest.registry, dest.username, dest.password, args.insecure)
        pushed[local] = remote
    images = image_record.PushedImages(operator=pushed[operator], runner=pushed[runner])
    where = image_record.save(args.aws_profile, images)
    profile = f" --aws-profile {args.aws_profile}" if args.aws_profile else ""
    sys.stdout.write(
        f"operator image: {images.operator}\n"
        f"runner image:   {images.runner}\n"
        f"recorded in {where}: `loadtest-monitor up{profile} …` installs this operator image "
        "(--operator-image overrides it); runner Jobs: `image:` the runner image above\n"
    )
    return 0


def register(sub: Any) -> None:
    """Adds `images push` to the CLI's subcommands."""
    images = sub.add_parser("images", help="push the operator and runner images to ECR or another registry")
    verbs = images.add_subparsers(dest="verb", required=True, metavar="push")
    push = verbs.add_parser("push", help="push both local images; ECR repositories are created if missing")
    push.add_argument("--aws-profile", metavar="PROFILE", help="AWS profile of the ECR account")
    push.add_argument("--region", metavar="REGION", help="AWS region of the ECR registry (default: the profile's)")
    push.add_argument("--repository-prefix", metavar="PREFIX",
                      help="repositories PREFIX/loadtest-monitor and PREFIX/gatling-runner (default: none)")
    push.add_argument("--operator-image", default=f"{OPERATOR_REPOSITORY}:{__version__}",
                      help="local operator image (default: %(default)s); its tag is the remote tag")
    push.add_argument("--runner-image", default=f"{RUNNER_REPOSITORY}:{DEFAULT_GATLING_VERSION}",
                      help="local runner image (default: %(default)s, what `runner-image build` names it)")
    push.add_argument("--registry", help="push to this registry (host[:port]) instead of ECR")
    push.add_argument("--username", help="--registry user; the password is read from stdin")
    push.add_argument("--insecure", action="store_true", help="plain HTTP / unverified TLS (a local registry)")
    push.add_argument("--engine", choices=ENGINES, help="container engine (default: the first found on PATH)")
    push.set_defaults(func=cmd_push)
