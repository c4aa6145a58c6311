"""`loadtest-monitor images push`: both images to ECR (moto) or to a real local registry.

ECR itself is out of reach, so its calls run against moto and the engine is a recording script,
as in the runner-image tests; the push to a real registry (test_publish_path.py and below) uses
real podman and CNCF Distribution. What a user checks: the repositories exist, the references
printed are the ones pushed, and `up` then installs the pushed operator image.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from loadtest_monitor import __version__
from loadtest_monitor.aws.ecr import registry_login
from loadtest_monitor.cli import image_record
from loadtest_monitor.cli.operator_image import choose as choose_operator_image
from tests.packaging.registry_support import PASSWORD, USER, pushed_image, registry_get

CLI = str(Path(sys.executable).parent / "loadtest-monitor")
REGION = "eu-west-1"


@pytest.fixture
def ecr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[object]:
    """moto's ECR, and an AWS profile `perf` (region included) as a user's ~/.aws would hold it."""
    (tmp_path / "aws-config").write_text(f"[profile perf]\nregion = {REGION}\n")
    (tmp_path / "aws-credentials").write_text("[perf]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {"AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
                       "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
                       "LTM_CONFIG_DIR": str(tmp_path / "config")}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("ecr", region_name=REGION)


def recording_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, known: tuple[str, ...]) -> Path:
    """A `podman` on PATH that logs its calls and knows only the `known` local images."""
    log = tmp_path / "calls"
    fake = tmp_path / "bin" / "podman"
    fake.parent.mkdir()
    cases = " | ".join(known) if known else "__none__"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        'if [ "$1 $2" = "image inspect" ]; then\n'
        f'  case "$5" in {cases}) echo sha256:0; exit 0 ;; *) echo "image not known" >&2; exit 125 ;; esac\n'
        "fi\n"
        f'[ "$1" = login ] && cat >> {log}.stdin\n'
        "exit 0\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    return log


def test_push_to_ecr_creates_both_repositories_and_up_installs_the_pushed_operator(
    ecr, tmp_path, monkeypatch, capsys
) -> None:
    local_operator, local_runner = f"loadtest-monitor:{__version__}", "gatling-runner:3.15.1"
    log = recording_engine(tmp_path, monkeypatch, (local_operator, local_runner))
    from loadtest_monitor.cli.main import main

    assert main(["images", "push", "--aws-profile", "perf", "--repository-prefix", "perf/",
                 "--runner-image", local_runner, "--engine", "podman"]) == 0
    out = capsys.readouterr().out
    repos = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    assert set(repos) == {"perf/loadtest-monitor", "perf/gatling-runner"}
    assert all(r["imageScanningConfiguration"] == {"scanOnPush": True} for r in repos.values())
    operator_ref = f"{repos['perf/loadtest-monitor']['repositoryUri']}:{__version__}"
    runner_ref = f"{repos['perf/gatling-runner']['repositoryUri']}:3.15.1"
    assert operator_ref.split("/")[0].endswith(f".dkr.ecr.{REGION}.amazonaws.com")
    assert f"operator image: {operator_ref}\n" in out
    assert f"runner image:   {runner_ref}\n" in out
    login = registry_login(ecr)
    calls = log.read_text().splitlines()
    assert calls[:2] == [f"image inspect --format {{{{.Id}}}} {local_operator}",
                         f"image inspect --format {{{{.Id}}}} {local_runner}"]
    assert calls[2:] == [
        f"login --username AWS --password-stdin {login.registry}",
        f"tag {local_operator} {operator_ref}",
        f"push {operator_ref}",
        f"login --username AWS --password-stdin {login.registry}",
        f"tag {local_runner} {runner_ref}",
        f"push {runner_ref}",
    ]
    assert Path(f"{log}.stdin").read_text() == login.password * 2
    assert login.password not in out

    # `up --aws-profile perf` installs that image; another profile, or the flag, does not.
    assert choose_operator_image(None, "perf") == (
        operator_ref, f"pushed by `images push`, recorded in {image_record.record_file()}")
    assert choose_operator_image(None, "other")[0] == f"loadtest-monitor:{__version__}"
    assert choose_operator_image("mine/op:1", "perf") == ("mine/op:1", "--operator-image")
    recorded = json.loads(image_record.record_file().read_text())
    assert recorded == {"profiles": {"perf": {"operator": operator_ref, "runner": runner_ref}}}


def test_a_missing_local_image_is_refused_before_anything_is_created(ecr, tmp_path, monkeypatch) -> None:
    recording_engine(tmp_path, monkeypatch, (f"loadtest-monitor:{__version__}",))
    from loadtest_monitor.cli.main import main

    with pytest.raises(SystemExit) as refused:
        main(["images", "push", "--aws-profile", "perf", "--runner-image", "gatling-runner:9.9.9",
              "--engine", "podman"])
    assert refused.value.code == (
        "error: --runner-image gatling-runner:9.9.9: no such image in podman's local store; build it with "
        "`loadtest-monitor runner-image build --simulations DIR` (it names the image so), or pass --runner-image")
    assert ecr.describe_repositories()["repositories"] == []
    assert not image_record.record_file().exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--aws-profile", "perf", "--repository-prefix", "Team Perf"],
     "error: --repository-prefix 'Team Perf': use lowercase letters, digits, `.`, `_`, `-` and `/` between parts"),
    ([], "error: say where to push: --aws-profile P (ECR of that account) or --registry HOST"),
])
def test_bad_arguments_name_the_flag(tmp_path, monkeypatch, args, message) -> None:
    recording_engine(tmp_path, monkeypatch, ())
    proc = subprocess.run([CLI, "images", "push", "--engine", "podman", *args], capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, "LTM_CONFIG_DIR": str(tmp_path / "c")})
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith(message)


def test_push_to_a_real_registry_with_the_default_local_names(registry, engine_env, tmp_path) -> None:
    """No prefix: <registry>/loadtest-monitor:<version> and <registry>/gatling-runner:<tag>, pullable."""
    env = {**engine_env, "LTM_CONFIG_DIR": str(tmp_path / "config")}
    runner = "gatling-runner:3.11.5"
    for image in (f"loadtest-monitor:{__version__}", runner):
        context = tmp_path / image.replace(":", "_")
        context.mkdir()
        (context / "Dockerfile").write_text(f"FROM scratch\nLABEL org.example.stand-in={image}\nCOPY Dockerfile /\n")
        built = subprocess.run(["podman", "build", "-q", "-t", image, str(context)], env=env, capture_output=True,
                               text=True, timeout=300, check=False)
        assert built.returncode == 0, built.stderr
    pushed = subprocess.run([CLI, "images", "push", "--registry", registry, "--username", USER, "--insecure",
                             "--engine", "podman", "--runner-image", runner], env=env, input=PASSWORD + "\n",
                            capture_output=True, text=True, timeout=300, check=False)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert PASSWORD not in pushed.stdout + pushed.stderr
    for repository, tag in (("loadtest-monitor", __version__), ("gatling-runner", "3.11.5")):
        assert json.loads(registry_get(registry, f"/v2/{repository}/tags/list"))["tags"] == [tag]
        config, _ = pushed_image(registry, repository, tag)
        assert config["config"]["Labels"]["org.example.stand-in"] == f"{repository}:{tag}"
    saved = json.loads((tmp_path / "config" / "images.json").read_text())
    assert saved["profiles"][""] == {"operator": f"{registry}/loadtest-monitor:{__version__}",
                                     "runner": f"{registry}/gatling-runner:3.11.5"}
