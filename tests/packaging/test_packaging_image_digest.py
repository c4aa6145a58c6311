"""The chart pins the operator image by digest when one is given (values image.digest)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.packaging.packaging_support import CHART, KUBE_VERSION, helm_binary, helm_template, run

DIGEST = "sha256:" + "ab" * 32


def _image(*args: str) -> str:
    (deployment,) = [o for o in helm_template(*args) if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return str(container["image"])


def _values(tmp_path: Path, image: dict[str, str]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"image": image}))
    return str(path)


def test_digest_wins_over_the_tag(tmp_path: Path) -> None:
    values = _values(tmp_path, {"repository": "registry.example/ltm/operator", "tag": "9.9.9", "digest": DIGEST})
    assert _image("-f", values) == f"registry.example/ltm/operator@{DIGEST}"


def test_no_digest_by_default_the_tag_then() -> None:
    assert "@" not in _image()


def test_a_digest_that_is_not_sha256_hex_is_refused(tmp_path: Path) -> None:
    values = _values(tmp_path, {"repository": "r", "digest": "latest"})
    proc = run([str(helm_binary()), "template", "x", str(CHART), "--kube-version", KUBE_VERSION, "-f", values],
               check=False)
    assert proc.returncode != 0 and "digest" in proc.stderr, proc.stderr
