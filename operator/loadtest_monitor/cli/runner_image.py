"""`loadtest-monitor runner-image build|push`: the Gatling runner image with your simulations.

build: stages the runner's build context (docker/gatling-runner, shipped in the package) with
       your simulations folder and builds it with the chosen Gatling version (build arg
       GATLING_VERSION) using podman, docker or buildah, whichever is on PATH. Scala and Kotlin
       sources turn on the pom's compiler profile (build arg MAVEN_PROFILES); the dependencies
       of your project's pom.xml and each --dependency are added to the runner's pom
       (cli/runner_pom.py).
push:  to ECR (`--aws-profile P --repository NAME`: the repository is created if missing and
       the login comes from ecr.get_authorization_token), or to any registry (`--registry`,
       user and password from --username and stdin).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from loadtest_monitor.cli.runner_pom import (
    Dependency,
    PomError,
    dependency_names,
    parse_dependency,
    profiles_for,
    user_dependencies,
    user_repositories,
)
from loadtest_monitor.cli.runner_pom import with_dependencies as pom_with_dependencies

ENGINES = ("podman", "docker", "buildah")
DEFAULT_GATLING_VERSION = "3.15.1"
SOURCE_SUFFIXES = (".java", ".scala", ".kt")
LOCAL_REPOSITORY = "gatling-runner"


def find_engine(wanted: str | None) -> str:
    """The container engine to use: the one asked for, else the first of ENGINES on PATH."""
    for name in [wanted] if wanted else list(ENGINES):
        if name and shutil.which(name):
            return name
    if wanted:
        raise SystemExit(f"error: --engine {wanted}: not found on PATH")
    raise SystemExit(f"error: no container engine found: install one of {', '.join(ENGINES)} (or pass --engine)")


def packaged_runner_dir() -> Path:
    root = resources.files("loadtest_monitor") / "install_manifests" / "gatling-runner"
    path = Path(str(root))
    if not (path / "Dockerfile").is_file():
        raise SystemExit("error: this package carries no runner build context; pass --runner-dir docker/gatling-runner")
    return path


def check_gatling_version(version: str) -> str:
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", version):
        raise SystemExit(f"error: --gatling-version {version!r}: use a release number such as 3.11.5 or 3.15.1")
    return version


def _route_by_language(tree: Path, test_dir: Path) -> None:
    """Moves .scala and .kt files of a plain simulations folder (copied to src/test/java) to
    src/test/scala and src/test/kotlin, where their compilers look, keeping their package paths."""
    for source in sorted(tree.rglob("*")):
        language = {".scala": "scala", ".kt": "kotlin"}.get(source.suffix)
        if language and source.is_file():
            target = test_dir / language / source.relative_to(tree)
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)


def stage_context(
    runner_dir: Path, simulations: Path, into: Path, dependencies: Sequence[Dependency] = ()
) -> Path:
    """A copy of the runner's build context with the user's simulations in it.

    A folder with a Maven `src/test` tree replaces the context's whole `src` (simulations,
    resources, feeders) and its pom.xml's dependencies and repositories go into the runner's
    pom; any other folder becomes `src/test/java` (.scala and .kt files go to `src/test/scala` and
    `src/test/kotlin`; the default resources stay). `dependencies` (--dependency) are added last.
    """
    if not (runner_dir / "Dockerfile").is_file():
        raise SystemExit(f"error: --runner-dir {runner_dir}: no Dockerfile there")
    if not simulations.is_dir():
        raise SystemExit(f"error: --simulations {simulations}: not a folder")
    sources = [p for p in simulations.rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file()]
    if not sources:
        raise SystemExit(
            f"error: --simulations {simulations}: no {', '.join(SOURCE_SUFFIXES)} files; "
            "give the folder of your simulation sources (or a Maven project folder with src/test)"
        )
    context = into / "context"
    ignore = shutil.ignore_patterns("target", "results", ".git")
    shutil.copytree(runner_dir, context, ignore=ignore)
    extra: list[Dependency] = []
    properties: dict[str, str] = {}
    repositories: list[tuple[str, str]] = []
    if (simulations / "src" / "test").is_dir():
        shutil.rmtree(context / "src", ignore_errors=True)
        shutil.copytree(simulations / "src", context / "src", ignore=ignore)
        if (context / "src" / "test" / "java").is_dir():
            _route_by_language(context / "src" / "test" / "java", context / "src" / "test")
        user_pom = simulations / "pom.xml"
        if user_pom.is_file():
            try:
                extra, properties = user_dependencies(user_pom.read_text(), str(user_pom))
                repositories = user_repositories(user_pom.read_text(), str(user_pom))
            except PomError as err:
                raise SystemExit(f"error: {err}") from err
    else:
        target = context / "src" / "test" / "java"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(simulations, target, ignore=ignore)
        _route_by_language(target, context / "src" / "test")
    if extra or dependencies or repositories:
        pom = context / "pom.xml"
        if not pom.is_file():
            raise SystemExit(f"error: --runner-dir {runner_dir}: no pom.xml to add dependencies to")
        try:
            pom.write_text(pom_with_dependencies(pom.read_text(), [*extra, *dependencies], properties, repositories))
        except PomError as err:
            raise SystemExit(f"error: {err}") from err
    return context


def context_profiles(context: Path) -> list[str]:
    """The pom profiles the staged simulations need (scala, kotlin)."""
    return profiles_for(p for p in (context / "src").rglob("*") if p.is_file())


def run(argv: Sequence[str], *, stdin: str | None = None) -> None:
    """Runs one engine command with its output shown; a failure is one line naming the command."""
    sys.stdout.write("+ " + " ".join(argv) + "\n")
    sys.stdout.flush()
    proc = subprocess.run(list(argv), input=stdin, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"error: `{' '.join(argv[:2])}` exited {proc.returncode} (its output is above)")


def build_command(
    engine: str,
    context: Path,
    image: str,
    gatling_version: str,
    extra: Sequence[str],
    profiles: Sequence[str] = (),
) -> list[str]:
    verb = ["build"] if engine != "buildah" else ["build", "--format", "docker"]
    languages = ["--build-arg", f"MAVEN_PROFILES={','.join(profiles)}"] if profiles else []
    return [
        engine,
        *verb,
        "-t",
        image,
        "--build-arg",
        f"GATLING_VERSION={gatling_version}",
        *languages,
        *extra,
        "-f",
        str(context / "Dockerfile"),
        str(context),
    ]


def tls_flags(engine: str, insecure: bool) -> list[str]:
    # docker has no per-command switch: it trusts plain HTTP only for loopback or configured registries.
    return ["--tls-verify=false"] if insecure and engine != "docker" else []


def push_image(
    engine: str, local: str, remote: str, registry: str, username: str, password: str, insecure: bool
) -> None:
    tls = tls_flags(engine, insecure)
    run([engine, "login", *tls, "--username", username, "--password-stdin", registry], stdin=password)
    run([engine, "tag", local, remote])
    run([engine, "push", *tls, remote])


def _report_added(runner_dir: Path, context: Path) -> None:
    """Says which dependencies the build adds to the runner's own, so none goes unnoticed."""
    before, after = runner_dir / "pom.xml", context / "pom.xml"
    if not before.is_file() or not after.is_file():
        return
    own = set(dependency_names(before.read_text()))
    added = [d for d in dependency_names(after.read_text()) if d not in own]
    if added:
        sys.stdout.write(f"adding dependencies: {', '.join(added)}\n")


def cmd_build(args: argparse.Namespace) -> int:
    version = check_gatling_version(args.gatling_version)
    try:
        dependencies = [parse_dependency(d) for d in args.dependency or []]
    except PomError as err:
        raise SystemExit(f"error: {err}") from err
    engine = find_engine(args.engine)
    image = args.tag or f"{LOCAL_REPOSITORY}:{version}"
    runner_dir = Path(args.runner_dir) if args.runner_dir else packaged_runner_dir()
    with tempfile.TemporaryDirectory(prefix="gatling-runner-") as tmp:
        context = stage_context(runner_dir, Path(args.simulations), Path(tmp), dependencies)
        _report_added(runner_dir, context)
        profiles = context_profiles(context)
        if profiles:
            sys.stdout.write(f"compiling with the pom's profiles: {', '.join(profiles)}\n")
        run(build_command(engine, context, image, version, args.engine_arg or [], profiles))
    sys.stdout.write(f"built {image} (Gatling {version})\n")
    return 0


def _ecr_destination(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """(registry, repository uri, user, password) of the ECR repository, creating it if missing."""
    from loadtest_monitor.aws.ecr import EcrError, ensure_repository, registry_login
    from loadtest_monitor.aws.eks import EksError, session_for

    try:
        ecr = session_for(args.aws_profile, args.region).client("ecr")
        uri, created = ensure_repository(ecr, args.repository)
        login = registry_login(ecr)
    except (EcrError, EksError) as err:
        raise SystemExit(f"error: {err}") from err
    sys.stdout.write(f"ECR repository {uri}: {'created' if created else 'present'}\n")
    return login.registry, uri, login.username, login.password


def stdin_login(args: argparse.Namespace) -> tuple[str, str, str]:
    """(registry, user, password) of `--registry HOST --username U`, the password read from stdin
    (never a flag: it would show in the process list and the shell history)."""
    if args.aws_profile:
        raise SystemExit("error: give either --registry (any registry) or --aws-profile (ECR), not both")
    if not args.username:
        raise SystemExit("error: --registry needs --username (the password is read from stdin)")
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise SystemExit("error: --registry: no password on stdin (e.g. echo $TOKEN | loadtest-monitor …)")
    return str(args.registry).rstrip("/"), str(args.username), password


def cmd_push(args: argparse.Namespace) -> int:
    engine = find_engine(args.engine)
    local = args.image
    tag = args.tag or (local.rsplit(":", 1)[1] if ":" in local.rsplit("/", 1)[-1] else "latest")
    if args.registry:
        registry, username, password = stdin_login(args)
        repository = f"{registry}/{args.repository}"
    else:
        registry, repository, username, password = _ecr_destination(args)
    remote = f"{repository}:{tag}"
    push_image(engine, local, remote, registry, username, password, args.insecure)
    sys.stdout.write(f"pushed {remote}\n")
    return 0


def register(sub: Any) -> None:
    """Adds `runner-image build|push` to the CLI's subcommands."""
    image = sub.add_parser("runner-image", help="build the Gatling runner image with your simulations, push it")
    verbs = image.add_subparsers(dest="verb", required=True, metavar="build|push")

    build = verbs.add_parser("build", help="build the runner image with your simulations and a Gatling version")
    build.add_argument("--simulations", required=True, help="folder of simulation sources (or a Maven project)")
    build.add_argument("--gatling-version", default=DEFAULT_GATLING_VERSION, help="default: %(default)s")
    build.add_argument("-t", "--tag", help=f"local image name (default: {LOCAL_REPOSITORY}:<gatling-version>)")
    build.add_argument("--runner-dir", help="the runner's build context (default: the one in this package)")
    build.add_argument(
        "--dependency",
        action="append",
        metavar="G:A:V[:SCOPE]",
        help="add a Maven dependency to the image (repeatable); a Maven project's pom.xml dependencies are added too",
    )
    build.add_argument("--engine", choices=ENGINES, help="container engine (default: the first found on PATH)")
    build.add_argument(
        "--engine-arg", action="append", metavar="ARG", help="extra argument for the build (e.g. --pull=never)"
    )
    build.set_defaults(func=cmd_build)

    push = verbs.add_parser("push", help="push the image to ECR (created if missing) or another registry")
    push.add_argument("--image", default=f"{LOCAL_REPOSITORY}:{DEFAULT_GATLING_VERSION}", help="default: %(default)s")
    push.add_argument("--repository", default=LOCAL_REPOSITORY, help="ECR repository / path (default: %(default)s)")
    push.add_argument("--tag", help="remote tag (default: the local image's tag)")
    push.add_argument("--registry", help="push to this registry (host[:port]) instead of ECR")
    push.add_argument("--username", help="--registry user; the password is read from stdin")
    push.add_argument("--insecure", action="store_true", help="plain HTTP / unverified TLS (a local registry)")
    push.add_argument("--engine", choices=ENGINES, help="container engine (default: the first found on PATH)")
    push.add_argument("--aws-profile", metavar="PROFILE", help="AWS profile of the ECR account")
    push.add_argument("--region", metavar="REGION", help="AWS region of the ECR registry (default: the profile's)")
    push.set_defaults(func=cmd_push)
