"""`loadtest-monitor runner-image build|push` with a real podman and a real OCI registry.

The registry is CNCF Distribution (what `registry:3` runs), built from the Go module proxy by
hack/build-registry.sh and served on 127.0.0.1 with htpasswd login, the way ECR asks for a user
(`AWS`) and a password. What is pushed is read back through the registry's HTTP API: the tag, the
image config's labels and the files of the layer. The build uses a small stand-in runner context
(FROM scratch: the real runner's base images are not pullable here; 8a's image tests build the
real one); the staging of the real context is checked on its own. ECR's calls run against moto.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from loadtest_monitor.aws.ecr import ensure_repository, registry_login
from loadtest_monitor.cli.runner_image import build_command, packaged_runner_dir, stage_context
from ltm_harness import registry as harness_registry
from ltm_harness.registry import Registry
from tests.packaging.packaging_support import ROOT

CLI = str(Path(sys.executable).parent / "loadtest-monitor")
USER = "AWS"
PASSWORD = "ecr-style-password-0123456789"
STAND_IN_DOCKERFILE = """\
FROM scratch
ARG GATLING_VERSION=3.11.5
LABEL org.example.gatling-version=$GATLING_VERSION
COPY src /opt/gatling/src
"""


@pytest.fixture(scope="module")
def registry_binary() -> Path:
    try:
        return harness_registry.registry_binary()
    except harness_registry.RegistryError as err:
        raise AssertionError(str(err)) from None


@pytest.fixture(scope="module")
def engine_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """podman with its own storage and login file, so the test touches nothing of the machine's."""
    assert shutil.which("podman"), "podman is missing: run `bash hack/install-podman.sh` (or `make registry`)"
    root = tmp_path_factory.mktemp("podman")
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/graph"\nrunroot = "{root}/run"\n'
    )
    return {**os.environ, "CONTAINERS_STORAGE_CONF": str(root / "storage.conf"),
            "REGISTRY_AUTH_FILE": str(root / "auth.json")}


@pytest.fixture(scope="module")
def registry(registry_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        server = Registry(registry_binary, tmp_path_factory.mktemp("registry"), USER, PASSWORD).start()
    except harness_registry.RegistryError as err:
        raise AssertionError(str(err)) from None
    try:
        yield server.host
    finally:
        server.stop()


def registry_get(host: str, path: str, accept: str = "*/*") -> bytes:
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(f"http://{host}{path}", headers={"Authorization": f"Basic {auth}",
                                                                      "Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


MANIFEST_TYPES = ",".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def pushed_image(host: str, repository: str, tag: str) -> tuple[dict, set[str]]:
    """(image config, files in its layers) of repository:tag, as any client would pull them."""
    manifest = json.loads(registry_get(host, f"/v2/{repository}/manifests/{tag}", MANIFEST_TYPES))
    config = json.loads(registry_get(host, f"/v2/{repository}/blobs/{manifest['config']['digest']}"))
    files: set[str] = set()
    for layer in manifest["layers"]:
        blob = registry_get(host, f"/v2/{repository}/blobs/{layer['digest']}")
        if blob[:2] == b"\x1f\x8b":
            blob = gzip.decompress(blob)
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            files |= {m.name.lstrip("./") for m in tar.getmembers() if m.isfile()}
    return config, files


def simulations(tmp_path: Path) -> Path:
    sims = tmp_path / "my-simulations"
    (sims / "perf").mkdir(parents=True)
    (sims / "perf" / "SearchSimulation.java").write_text("package perf;\npublic class SearchSimulation {}\n")
    return sims


def stand_in_runner(tmp_path: Path) -> Path:
    runner = tmp_path / "runner"
    example = runner / "src" / "test" / "java" / "loadtest"
    example.mkdir(parents=True)
    (example / "CheckoutSimulation.java").write_text("class CheckoutSimulation {}")
    (runner / "src" / "test" / "resources").mkdir(parents=True)
    (runner / "src" / "test" / "resources" / "logback-test.xml").write_text("<configuration/>")
    (runner / "Dockerfile").write_text(STAND_IN_DOCKERFILE)
    return runner


def cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "runner-image", *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=300, check=False)


def test_build_then_push_to_a_real_registry_with_a_login(tmp_path, engine_env, registry) -> None:
    built = cli(engine_env, "build", "--simulations", str(simulations(tmp_path)), "--gatling-version", "3.15.1",
                "--runner-dir", str(stand_in_runner(tmp_path)), "--engine", "podman")
    assert built.returncode == 0, built.stderr
    assert "built gatling-runner:3.15.1 (Gatling 3.15.1)" in built.stdout

    pushed = cli(engine_env, "push", "--image", "gatling-runner:3.15.1", "--registry", registry, "--username", USER,
                 "--repository", "perf/gatling-runner", "--insecure", "--engine", "podman", stdin=PASSWORD + "\n")
    assert pushed.returncode == 0, pushed.stderr
    assert f"pushed {registry}/perf/gatling-runner:3.15.1" in pushed.stdout
    assert PASSWORD not in pushed.stdout + pushed.stderr, "the password never appears in the output"

    tags = json.loads(registry_get(registry, "/v2/perf/gatling-runner/tags/list"))
    assert tags["tags"] == ["3.15.1"]
    config, files = pushed_image(registry, "perf/gatling-runner", "3.15.1")
    assert config["config"]["Labels"]["org.example.gatling-version"] == "3.15.1"  # the build arg arrived
    assert "opt/gatling/src/test/java/perf/SearchSimulation.java" in files  # the user's simulation
    assert "opt/gatling/src/test/resources/logback-test.xml" in files  # the runner's default resources stay
    assert not any(f.endswith("CheckoutSimulation.java") for f in files)  # the example is replaced


def test_wrong_password_fails_in_one_line(tmp_path, engine_env, registry) -> None:
    built = cli(engine_env, "build", "--simulations", str(simulations(tmp_path)), "--gatling-version", "3.11.5",
                "--runner-dir", str(stand_in_runner(tmp_path)), "--engine", "podman")
    assert built.returncode == 0, built.stderr
    pushed = cli(engine_env, "push", "--image", "gatling-runner:3.11.5", "--registry", registry, "--username", USER,
                 "--insecure", "--engine", "podman", stdin="not-the-password\n")
    assert pushed.returncode != 0
    assert pushed.stderr.strip().splitlines()[-1] == "error: `podman login` exited 125 (its output is above)"


def test_bad_input_is_refused_before_any_build(tmp_path, engine_env) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli(engine_env, "build", "--simulations", str(empty), "--engine", "podman")
    assert result.returncode != 0
    assert f"--simulations {empty}: no .java, .scala, .kt files" in result.stderr
    result = cli(engine_env, "build", "--simulations", str(simulations(tmp_path)), "--gatling-version", "latest")
    assert "--gatling-version 'latest': use a release number such as 3.11.5" in result.stderr


def test_the_real_runner_context_is_staged_with_the_users_simulations(tmp_path) -> None:
    runner = packaged_runner_dir()
    assert (runner / "Dockerfile").read_bytes() == (ROOT / "docker" / "gatling-runner" / "Dockerfile").read_bytes()
    context = stage_context(runner, simulations(tmp_path), tmp_path)
    java = context / "src" / "test" / "java"
    assert sorted(p.relative_to(java).as_posix() for p in java.rglob("*.java")) == ["perf/SearchSimulation.java"]
    assert (context / "src" / "test" / "resources" / "logback-test.xml").is_file()
    assert (context / "Dockerfile").read_bytes() == (runner / "Dockerfile").read_bytes()
    # A Maven project folder brings its own resources too.
    project = tmp_path / "project"
    (project / "src" / "test" / "java" / "perf").mkdir(parents=True)
    (project / "src" / "test" / "java" / "perf" / "A.java").write_text("class A {}")
    (project / "src" / "test" / "resources").mkdir()
    (project / "src" / "test" / "resources" / "users.csv").write_text("user\n")
    staged = stage_context(runner, project, tmp_path / "second")
    assert (staged / "src" / "test" / "resources" / "users.csv").is_file()
    assert not (staged / "src" / "test" / "resources" / "logback-test.xml").exists()
    argv = build_command("podman", staged, "gatling-runner:3.15.1", "3.15.1", ["--pull=never"])
    assert argv[:6] == ["podman", "build", "-t", "gatling-runner:3.15.1", "--build-arg", "GATLING_VERSION=3.15.1"]


# --- ECR (moto) ---------------------------------------------------------------------------------


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("ecr", region_name="eu-west-1")


def test_ecr_repository_is_created_once_with_scan_on_push(ecr) -> None:
    uri, created = ensure_repository(ecr, "perf/gatling-runner")
    assert created
    assert uri.endswith(".dkr.ecr.eu-west-1.amazonaws.com/perf/gatling-runner")
    again, created_again = ensure_repository(ecr, "perf/gatling-runner")
    assert (again, created_again) == (uri, False)
    (repo,) = ecr.describe_repositories(repositoryNames=["perf/gatling-runner"])["repositories"]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}


def test_ecr_login_comes_from_the_authorization_token(ecr) -> None:
    data = ecr.get_authorization_token()["authorizationData"][0]
    login = registry_login(ecr)
    assert f"{login.username}:{login.password}" == base64.b64decode(data["authorizationToken"]).decode()
    assert login.username == "AWS"
    assert login.registry == data["proxyEndpoint"].removeprefix("https://")
    assert "://" not in login.registry


def test_ecr_push_logs_in_to_the_repositorys_registry(ecr, tmp_path, monkeypatch, capsys) -> None:
    """The whole ECR push in-process: repository created, login with ECR's token, then tag + push of
    <account>.dkr.ecr…/<repo>:<tag>. The engine is a recording script here (ECR itself is out of reach)."""
    engine_log = tmp_path / "calls"
    fake = tmp_path / "bin" / "podman"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> {engine_log}\n[ "$1" = login ] && cat >> {engine_log}.stdin\nexit 0\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    from loadtest_monitor.cli.main import main

    assert main(["runner-image", "push", "--image", "gatling-runner:3.11.5", "--repository", "perf/runner",
                 "--region", "eu-west-1", "--engine", "podman"]) == 0
    out = capsys.readouterr().out
    uri = ecr.describe_repositories(repositoryNames=["perf/runner"])["repositories"][0]["repositoryUri"]
    login = registry_login(ecr)
    assert f"ECR repository {uri}: created" in out
    assert engine_log.read_text().splitlines() == [
        f"login --username AWS --password-stdin {login.registry}",
        f"tag gatling-runner:3.11.5 {uri}:3.11.5",
        f"push {uri}:3.11.5",
    ]
    assert Path(f"{engine_log}.stdin").read_text() == login.password
