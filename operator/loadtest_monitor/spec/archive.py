"""`spec.archive`: the optional S3 archive of a monitor's data (parsing and the checks the CRD cannot make).

Defaults, bounds and patterns are read from the packaged CRD (spec/schema.py), so what `kubectl
explain` shows is what the operator assumes. S3's bucket naming rules that a pattern cannot state
(no '..', not an IP address, reserved prefixes and suffixes) are checked here as the CRD's CEL
rule checks them, so `render` and the operator refuse the same names the API server does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loadtest_monitor.spec import kube_rules, schema
from loadtest_monitor.spec.cron import CronError, parse_cron
from loadtest_monitor.spec.image import image_problem
from loadtest_monitor.spec.reader import Reader, short

_BASE = "spec.archive"
BUCKET_PATTERN = re.compile(schema.at(f"{_BASE}.s3.bucket").pattern)
BUCKET_MIN = int(schema.at(f"{_BASE}.s3.bucket").raw["minLength"])
BUCKET_MAX = schema.at(f"{_BASE}.s3.bucket").max_length
PREFIX_PATTERN = re.compile(schema.at(f"{_BASE}.s3.prefix").pattern)
PREFIX_MAX = schema.at(f"{_BASE}.s3.prefix").max_length
DEFAULT_PREFIX: str = schema.at(f"{_BASE}.s3.prefix").default
REGION_PATTERN = re.compile(schema.at(f"{_BASE}.s3.region").pattern)
DEFAULT_ON_DELETE: bool = schema.at(f"{_BASE}.onDelete").default
DEFAULT_TIMEOUT: int = schema.at(f"{_BASE}.timeoutSeconds").default
TIMEOUT_MIN = int(schema.at(f"{_BASE}.timeoutSeconds").minimum)
TIMEOUT_MAX = int(schema.at(f"{_BASE}.timeoutSeconds").maximum)
DEFAULT_IMAGE: str = schema.at(f"{_BASE}.image").default

_IP_ADDRESS = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_RESERVED_PREFIXES = ("xn--", "sthree-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = DEFAULT_PREFIX
    region: str | None = None


@dataclass(frozen=True)
class ArchiveSpec:
    s3: S3Location
    service_account_name: str
    schedule: str | None = None
    on_delete: bool = DEFAULT_ON_DELETE
    timeout_seconds: int = DEFAULT_TIMEOUT
    image: str = DEFAULT_IMAGE


def bucket_problem(bucket: str) -> str | None:
    """Why S3 would refuse `bucket` as a bucket name, with the rule; None when it is valid."""
    rule = (
        f"an S3 bucket name is {BUCKET_MIN} to {BUCKET_MAX} lowercase letters, digits, '.' and '-', "
        "starting and ending with a letter or digit"
    )
    if not BUCKET_MIN <= len(bucket) <= BUCKET_MAX or not BUCKET_PATTERN.fullmatch(bucket):
        return f"{short(bucket)} is not a bucket name: {rule} (such as my-team-loadtests)"
    if ".." in bucket:
        return f"{short(bucket)} is not a bucket name: two '.' may not be adjacent"
    if _IP_ADDRESS.fullmatch(bucket):
        return f"{short(bucket)} is not a bucket name: it may not look like an IP address"
    if bucket.startswith(_RESERVED_PREFIXES) or bucket.endswith(_RESERVED_SUFFIXES):
        return (
            f"{short(bucket)} is not a bucket name: the prefixes xn--, sthree- and the suffixes -s3alias, "
            "--ol-s3 are reserved"
        )
    return None


def prefix_problem(prefix: str) -> str | None:
    if len(prefix) > PREFIX_MAX or not PREFIX_PATTERN.fullmatch(prefix):
        return (
            f"{short(prefix)} is not a key prefix: use segments of letters, digits, '.', '_' and '-' joined by "
            f"single '/', without a leading or trailing '/' (at most {PREFIX_MAX} characters), such as team-a/archives"
        )
    return None


def parse_archive(r: Reader) -> ArchiveSpec | None:
    """`spec.archive` (None when absent). Problems are recorded on `r` with the field path."""
    if not r.has("archive"):
        return None
    a = r.child("archive")
    s3 = a.child("s3")
    bucket = s3.string("bucket", "")
    if not bucket:
        s3.problem("bucket", "is required: the name of an existing S3 bucket, such as my-team-loadtests")
    else:
        problem = bucket_problem(bucket)
        if problem:
            s3.problem("bucket", problem)
    prefix = s3.string("prefix", DEFAULT_PREFIX)
    problem = prefix_problem(prefix)
    if problem:
        s3.problem("prefix", problem)
        prefix = DEFAULT_PREFIX
    region = s3.string("region", "") or None
    if region is not None and not REGION_PATTERN.fullmatch(region):
        s3.problem("region", f"{short(region)} is not an AWS region name: use one such as eu-west-1, or leave it out")
        region = None
    schedule = a.string("schedule", "") or None
    if schedule is not None:
        try:
            parse_cron(schedule)
        except CronError as exc:
            a.problem("schedule", str(exc))
            schedule = None
    account = a.string("serviceAccountName", "")
    if not account:
        a.problem(
            "serviceAccountName",
            "is required: name a ServiceAccount of this namespace that may write to the bucket "
            "(IRSA annotation eks.amazonaws.com/role-arn, or an EKS Pod Identity association)",
        )
    elif kube_rules.dns1123_subdomain(account):
        a.problem(
            "serviceAccountName",
            f"{short(account)} is not a ServiceAccount name: it {kube_rules.dns1123_subdomain(account)}",
        )
    image = a.string("image", DEFAULT_IMAGE)

    if image_problem(image):
        a.problem("image", str(image_problem(image)))
        image = DEFAULT_IMAGE
    return ArchiveSpec(
        s3=S3Location(bucket=bucket, prefix=prefix, region=region),
        service_account_name=account,
        schedule=schedule,
        on_delete=a.boolean("onDelete", DEFAULT_ON_DELETE),
        timeout_seconds=a.integer("timeoutSeconds", DEFAULT_TIMEOUT, TIMEOUT_MIN, TIMEOUT_MAX),
        image=image,
    )
