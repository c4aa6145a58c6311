"""The publishing path, as far as this machine allows: a real registry, real podman, real Helm.

The release workflow pushes the images to `<registry>/<owner>/…` and the chart, by
hack/publish-chart.sh, to `oci://<registry>/<owner>/charts/loadtest-monitor`. Here the same script
pushes to a local CNCF Distribution registry (with a login), and the chart is then pulled from it by
`helm template oci://…` the way a user installs it: it must install the operator image of the same
release from the same place. The images are tiny stand-ins (FROM scratch, built in a private podman
store: the real images' bases are not pullable here) pushed by `loadtest-monitor images push
--registry`, and the reference the published chart installs must be a manifest the registry serves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from loadtest_monitor import __version__
from tests.packaging.packaging_support import BASE, CRD_FILE, ROOT, helm_binary, kustomize, load_all, one, tools_dir
from tests.packaging.registry_support import MANIFEST_TYPES, PASSWORD, USER, pushed_image, registry_get

CLI = str(Path(sys.executable).parent / "loadtest-monitor")
OWNER = "acme"
HELM_CONFIG_TYPE = "application/vnd.cncf.helm.config.v1+json"


@pytest.fixture(scope="module")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Helm with its own registry login file and caches: nothing of the machine's Helm is touched."""
    root = tmp_path_factory.mktemp("helm")
    return {**os.environ, "HELM": str(helm_binary()), "HELM_PUSH_ARGS": "--plain-http",
            "HELM_REGISTRY_CONFIG": str(root / "registry.json"), "HELM_CACHE_HOME": str(root / "cache"),
            "HELM_CONFIG_HOME": str(root / "config"), "HELM_DATA_HOME": str(root / "data")}


def helm(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([env["HELM"], *args], env=env, input=stdin, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, f"helm {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def publish_chart(env: dict[str, str], registry_path: str, version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "hack" / "publish-chart.sh"), registry_path, version], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def build_stand_in(env: dict[str, str], tmp_path: Path, image: str) -> None:
    context = tmp_path / image.replace(":", "_")
    context.mkdir()
    (context / "what").write_text(f"stand-in of {image}\n")
    (context / "Dockerfile").write_text(f"FROM scratch\nLABEL org.example.stand-in={image}\nCOPY what /what\n")
    proc = subprocess.run(["podman", "build", "-q", "-t", image, str(context)], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr


def test_chart_published_as_oci_installs_the_released_image_from_the_same_registry(
    registry, engine_env, helm_env, tmp_path
) -> None:
    registry_path = f"{registry}/{OWNER}"
    # The images of the release, pushed to <registry>/<owner>/ with the version as their tag.
    env = {**engine_env, "LTM_CONFIG_DIR": str(tmp_path / "config")}
    build_stand_in(env, tmp_path, f"loadtest-monitor:{__version__}")
    build_stand_in(env, tmp_path, "gatling-runner:3.15.1")
    pushed = subprocess.run(
        [CLI, "images", "push", "--registry", registry, "--username", USER, "--insecure", "--engine", "podman",
         "--repository-prefix", OWNER, "--operator-image", f"loadtest-monitor:{__version__}",
         "--runner-image", "gatling-runner:3.15.1"],
        env=env, input=PASSWORD + "\n", capture_output=True, text=True, timeout=300, check=False)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    operator_ref = f"{registry_path}/loadtest-monitor:{__version__}"
    assert f"operator image: {operator_ref}\n" in pushed.stdout

    # The chart, by the release's own script, after a login like the workflow's.
    helm(helm_env, "registry", "login", registry, "--username", USER, "--password-stdin", "--plain-http",
         stdin=PASSWORD)
    published = publish_chart(helm_env, registry_path, f"v{__version__}")
    assert published.returncode == 0, published.stderr
    chart_ref = f"oci://{registry_path}/charts/loadtest-monitor"
    assert published.stdout.strip().splitlines()[-1] == f"{chart_ref}:{__version__}"

    # What the registry holds is a Helm chart artifact, tagged with the version.
    tags = json.loads(registry_get(registry, f"/v2/{OWNER}/charts/loadtest-monitor/tags/list"))
    assert tags["tags"] == [__version__]
    manifest = json.loads(registry_get(registry, f"/v2/{OWNER}/charts/loadtest-monitor/manifests/{__version__}",
                                       "application/vnd.oci.image.manifest.v1+json"))
    assert manifest["config"]["mediaType"] == HELM_CONFIG_TYPE

    # A user installs it from there: no value to set, and the image is the one the release pushed.
    rendered = load_all(helm(helm_env, "template", "loadtest-monitor", chart_ref, "--version", __version__,
                             "--plain-http", "--namespace", "loadtest-monitor-system", "--kube-version", "1.33.0",
                             "--include-crds").stdout)
    container = one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == operator_ref
    image_manifest = json.loads(registry_get(registry, f"/v2/{OWNER}/loadtest-monitor/manifests/{__version__}",
                                             MANIFEST_TYPES))
    assert image_manifest["layers"], "the image the chart installs is served by the registry"
    config, files = pushed_image(registry, f"{OWNER}/loadtest-monitor", __version__)
    assert config["config"]["Labels"]["org.example.stand-in"] == f"loadtest-monitor:{__version__}"
    assert "what" in files
    # And a node's pull of it works: podman with an empty store of its own pulls what the chart names.
    fresh = tmp_path / "node-store"
    (fresh / "storage.conf").parent.mkdir()
    (fresh / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{fresh}/graph"\nrunroot = "{fresh}/run"\n')
    node = {**engine_env, "CONTAINERS_STORAGE_CONF": str(fresh / "storage.conf")}
    pulled = subprocess.run(["podman", "pull", "-q", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
                             container["image"]], env=node, capture_output=True, text=True, timeout=120, check=False)
    assert pulled.returncode == 0, pulled.stderr
    label = subprocess.run(["podman", "image", "inspect", "--format", '{{index .Labels "org.example.stand-in"}}',
                            container["image"]], env=node, capture_output=True, text=True, timeout=60, check=True)
    assert label.stdout.strip() == f"loadtest-monitor:{__version__}"
    # The chart carries the CRD itself (crds/ is a link in the repository) and the values say where.
    crd = one(rendered, "CustomResourceDefinition", "loadtestmonitors.loadtest.dev")
    assert crd["spec"] == yaml.safe_load(CRD_FILE.read_text())["spec"]
    values = yaml.safe_load(helm(helm_env, "show", "values", chart_ref, "--version", __version__,
                                 "--plain-http").stdout)
    assert values["image"]["registry"] == registry_path
    # The repository's own chart is unchanged: the host lives only in the published copy.
    assert yaml.safe_load((ROOT / "charts" / "loadtest-monitor" / "values.yaml").read_text())["image"]["registry"] == ""


def test_publish_chart_refuses_bad_arguments_before_pushing(helm_env) -> None:
    no_owner = publish_chart(helm_env, "127.0.0.1:5000", "0.1.0")
    assert no_owner.returncode == 2
    assert "REGISTRY_PATH '127.0.0.1:5000': give host[:port]/owner" in no_owner.stderr
    bad_version = publish_chart(helm_env, "127.0.0.1:5000/acme", "latest")
    assert bad_version.returncode == 2
    assert "VERSION 'latest': give a SemVer release such as 0.2.0" in bad_version.stderr


def test_install_yaml_of_a_release_is_the_base_with_the_released_image() -> None:
    """What the release attaches as install.yaml: every object of the kustomize base, unchanged but for
    the operator image, which names the release's registry path and version."""
    rendered = subprocess.run(["bash", str(ROOT / "hack" / "render-install.sh"), "registry.example:5000/acme",
                               "v0.2.0"], env={**os.environ, "KUSTOMIZE": str(tools_dir() / "kustomize")},
                              capture_output=True, text=True, timeout=120, check=False)
    assert rendered.returncode == 0, rendered.stderr
    released = load_all(rendered.stdout)
    base = kustomize(BASE)
    image = "registry.example:5000/acme/loadtest-monitor:0.2.0"
    assert one(released, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"] == image
    for obj in base:
        if obj["kind"] == "Deployment":
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
    assert released == base
    monitor_crd = one(released, "CustomResourceDefinition", "loadtestmonitors.loadtest.dev")
    assert monitor_crd["spec"] == yaml.safe_load(CRD_FILE.read_text())["spec"]
