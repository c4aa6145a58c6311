"""Image references: the kubelet's grammar, stated once, and the InfluxDB 1.x rule.

The grammar is the distribution library's, which the kubelet parses references with (anything
else ends in InvalidImageName on every pod): [host[:port]/]path[:tag][@sha256:digest]. Host
components may hold capitals, path components are lowercase with '.', '_', '__' or dashes between,
a tag is at most 128 word characters, '.' and '-'. Only sha256 digests. No (?:) or \\w: the same
text must mean the same thing to Python and RE2 (the API server's CEL).

This module is the one source of the grammar: it is built from its parts here because the tag's
group number follows from them, and the CRD's CEL rule on every image field states exactly
IMAGE_RULE (tests/unit/test_crd.py checks each one).
"""

from __future__ import annotations

import re

from loadtest_monitor.spec import schema
from loadtest_monitor.spec.reader import short

_HOST_PART = "[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH_PART = "[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*"
IMAGE_NAME_PATTERN = f"({_HOST_PART}([.]{_HOST_PART})*(:[0-9]+)?/)?{_PATH_PART}(/{_PATH_PART})*"
IMAGE_TAG_PATTERN = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
IMAGE_DIGEST_PATTERN = "sha256:[a-f0-9]{64}"
IMAGE_PATTERN = f"({IMAGE_NAME_PATTERN})(:({IMAGE_TAG_PATTERN}))?(@{IMAGE_DIGEST_PATTERN})?"
# 64 hex digits alone are an image ID, not a name: refused by the same parser.
IMAGE_ID_PATTERN = "[a-f0-9]{64}"
#: The CEL rule of every image field of the CRD: the grammar, and not an image ID.
IMAGE_RULE = f"self.matches('^({IMAGE_PATTERN})$') && !self.matches('^{IMAGE_ID_PATTERN}$')"
#: The kubelet also refuses a name (the part before the tag) longer than this, which a pattern cannot say.
IMAGE_NAME_MAX = 255

_IMAGE_RE = re.compile(IMAGE_PATTERN)
_IMAGE_ID_RE = re.compile(IMAGE_ID_PATTERN)
# The tag's group: IMAGE_PATTERN's groups are counted, so the number follows from its parts.
_TAG_GROUP = 1 + re.compile(IMAGE_NAME_PATTERN).groups + 2
_INFLUXDB_1X_TAG = re.compile(r"1\.[0-9]+")
# Good references to show in a message: the CRD's defaults.
_EXAMPLE: str = schema.at("spec.grafana.image").default
_INFLUXDB_EXAMPLE: str = schema.at("spec.influxdb.image").default


def image_problem(image: str, example: str = _EXAMPLE) -> str | None:
    """Why the kubelet would refuse `image` (InvalidImageName), or None; `example` is a good one."""
    match = _IMAGE_RE.fullmatch(image)
    if match is None:
        return (
            f"{short(image)} is not an image reference: use [registry[:port]/]name[:tag][@sha256:<64 hex>] "
            f"with a lowercase name, such as {example} (one ':' before the tag, no spaces)"
        )
    if _IMAGE_ID_RE.fullmatch(image):
        return f"{short(image)} is an image ID, which the kubelet refuses: use [registry[:port]/]name[:tag]"
    if len(match.group(1)) > IMAGE_NAME_MAX:
        return f"the name before the tag is longer than {IMAGE_NAME_MAX} characters, which the kubelet refuses"
    return None


def image_tag(image: str) -> str:
    """The tag of a valid image reference ('' when it has none, digest or not)."""
    match = _IMAGE_RE.fullmatch(image)
    return (match.group(_TAG_GROUP) or "") if match else ""


def influxdb_1x_problem(image: str, example: str = _INFLUXDB_EXAMPLE) -> str | None:
    """Only InfluxDB 1.x has the Graphite listener; `latest` and 2.x/3.x silently lose all data.

    A digest pins the bytes but does not say which version they are, so a digest-pinned reference is
    judged by the tag beside it (name:1.12.4@sha256:...; the digest is what gets pulled), and a bare
    name@sha256:... is refused: nothing the operator can read vouches for 1.x. `example` is a good
    1.x reference; an image that is no reference at all is image_problem's to report.
    """
    if _IMAGE_RE.fullmatch(image) is None:
        return None
    tag = image_tag(image)
    if not tag and "@" in image:
        name = image.split("@", 1)[0]
        return (
            f"{short(image)} is pinned by digest without a tag, so nothing shows it is InfluxDB 1.x; put the 1.x "
            f"tag beside the digest, such as {name}:{image_tag(example)}@sha256:..."
        )
    if not tag:
        return (
            f"{image!r} has no tag, which means latest (InfluxDB 2.x or newer, without the Graphite "
            f"listener); pin a 1.x tag such as {example}"
        )
    if not _INFLUXDB_1X_TAG.match(tag):
        return (
            f"tag {tag!r} is not InfluxDB 1.x; only 1.x has the Graphite listener that Gatling "
            f"writes to; use a 1.x tag such as {example}"
        )
    return None
