"""The chart's operator image: `image.registry` in front of the name, the release's stamp goes there.

The chart in the repository names no registry (empty `image.registry`); the release stamps its
registry path into the published copy (hack/publish-chart.sh, test_publish_path.py). Here: how the
value composes with the tag and the digest, and what a wrong value gets.
"""

from __future__ import annotations

from tests.packaging.packaging_support import CHART, helm_binary, helm_template, one, run

DIGEST = "sha256:" + "ab" * 32


def image(*args: str) -> str:
    deployment = one(helm_template(*args, include_crds=False), "Deployment")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def test_registry_goes_in_front_of_the_repository_with_the_tag_or_digest() -> None:
    assert image() == "loadtest-monitor:0.1.0"
    assert image("--set", "image.registry=123456789012.dkr.ecr.eu-west-1.amazonaws.com/perf") == (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/perf/loadtest-monitor:0.1.0")
    assert image("--set", "image.registry=localhost:5000", "--set", f"image.digest={DIGEST}") == (
        f"localhost:5000/loadtest-monitor@{DIGEST}")
    assert image("--set", "image.registry=registry.example/acme", "--set", "image.tag=0.2.0") == (
        "registry.example/acme/loadtest-monitor:0.2.0")


def test_a_registry_with_a_scheme_or_a_trailing_slash_is_refused_naming_the_value() -> None:
    for bad in ("https://registry.example/acme", "registry.example/acme/", "Registry.Example"):
        proc = run([str(helm_binary()), "template", "x", str(CHART), "--set", f"image.registry={bad}"], check=False)
        assert proc.returncode != 0
        assert f"at '/image/registry': '{bad}' does not match pattern" in proc.stderr
