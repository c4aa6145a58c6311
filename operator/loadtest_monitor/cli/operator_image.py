"""The operator image for `up`: which one it installs, and whether the nodes can pull it.

Which: `--operator-image`, else what `images push` recorded for the AWS profile, else the package's
default (the release's published image in a published package, the kustomize base's name in a
checkout). Pullable: while `up` waits for a monitor, the operator's pods are read; a pull state that
does not heal by waiting ends `up` at once with the pod, the image, the kubelet's message and the
fix, instead of "no status yet" until --timeout.
"""

from __future__ import annotations

from loadtest_monitor.cli import image_record
from loadtest_monitor.cli.install import default_image
from loadtest_monitor.doctor.cluster import images_pullable
from loadtest_monitor.doctor.result import Status
from loadtest_monitor.identity import OPERATOR_SELECTOR
from loadtest_monitor.kube.rest import Rest, path
from loadtest_monitor.obj import Obj

# Pull states that do not heal by waiting. ErrImagePull alone is left out: a slow or flaky first pull
# shows it once before it succeeds, while ImagePullBackOff means the kubelet already retried.
FATAL_PULL_REASONS = ("ImagePullBackOff", "InvalidImageName")


def choose(flag: str | None, aws_profile: str | None) -> tuple[str, str]:
    """(image, where it comes from; "" for the package's default)."""
    if flag:
        return flag, "--operator-image"
    pushed = image_record.recorded(aws_profile)
    if pushed:
        return pushed.operator, f"pushed by `images push`, recorded in {image_record.record_file()}"
    return default_image(), ""


def find_operators(rest: Rest) -> list[Obj]:
    """Operator Deployments in any namespace (kustomize, Helm or `up` installs alike)."""
    return rest.list(path("apps/v1", "Deployment"), OPERATOR_SELECTOR)


def pull_failure(rest: Rest) -> str | None:
    """The error and fix for an operator pod whose image cannot be pulled; None while none says so."""
    for deployment in find_operators(rest):
        meta = deployment["metadata"]
        pods = rest.list(path("v1", "Pod", meta["namespace"]), OPERATOR_SELECTOR)
        for check in images_pullable(pods):
            if check.status is Status.FAIL and any(reason in check.detail for reason in FATAL_PULL_REASONS):
                containers = deployment["spec"]["template"]["spec"]["containers"]
                return failure_message(check.detail, meta["namespace"], meta["name"], containers[0]["name"])
    return None


def failure_message(detail: str, namespace: str, deployment: str, container: str) -> str:
    return (
        f"error: the operator cannot start: {detail}.\n"
        "  fix: make the image pullable by the nodes, then point the operator at it:\n"
        "    - the release's image (docs/images.md), or your own registry's copy: "
        "`loadtest-monitor images push --aws-profile P` pushes the operator and runner images to ECR;\n"
        f"    - then: kubectl -n {namespace} set image deployment/{deployment} {container}=IMAGE "
        "(an operator installed by `up` itself: `loadtest-monitor down NAME --uninstall`, then `up` again, "
        "which installs the image `images push` recorded or --operator-image)"
    )
