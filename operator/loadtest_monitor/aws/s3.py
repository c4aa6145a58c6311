"""S3 for archives: upload a local archive folder, list the archives under a prefix, download one.

Layout (one archive): s3://<bucket>/<prefix>/<monitor>/<time>/ with the files of the archive and a
`manifest.json` that is uploaded last. An archive without its manifest is an upload that did not
finish: `list_archives` leaves it out, `download_archive` refuses it.

The caller passes a boto3 S3 client: the archive container builds it from the pod's credentials
(IRSA or EKS Pod Identity), the CLI from the user's profile. Nothing here reads or stores keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

MANIFEST = "manifest.json"
# UTC, second precision, sortable as text: 20261206T180512Z.
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_TIME_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z")


class S3Error(RuntimeError):
    """A one-line reason, shown to the user as is."""


@dataclass(frozen=True)
class ArchiveUrl:
    bucket: str
    key_prefix: str  # <prefix>/<monitor>/<time>, no trailing '/'

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key_prefix}/"

    @property
    def monitor(self) -> str:
        return PurePosixPath(self.key_prefix).parent.name

    @property
    def time(self) -> str:
        return PurePosixPath(self.key_prefix).name


@dataclass(frozen=True)
class ArchiveEntry:
    url: ArchiveUrl
    size: int  # bytes of every object of the archive, manifest included
    files: int


def parse_archive_url(url: str) -> ArchiveUrl:
    """s3://bucket/<prefix>/<monitor>/<time>[/] as `archive list` prints it, or a clear error."""
    if not url.startswith("s3://"):
        raise S3Error(f"{url!r} is not an s3:// URL: pass one that `loadtest-monitor archive list` printed")
    bucket, _, key = url[len("s3://") :].partition("/")
    key = key.strip("/")
    parts = key.split("/")
    if not bucket or len(parts) < 2 or not _TIME_RE.fullmatch(parts[-1]) or "" in parts:
        raise S3Error(
            f"{url!r} names no archive: expected s3://<bucket>/<prefix>/<monitor>/<time>/ "
            "(time like 20261206T180512Z), as `loadtest-monitor archive list` prints it"
        )
    return ArchiveUrl(bucket, key)


def archive_url(bucket: str, prefix: str, monitor: str, time: str) -> ArchiveUrl:
    return ArchiveUrl(bucket, "/".join(p for p in (prefix.strip("/"), monitor, time) if p))


def _client_error(err: Exception, what: str) -> S3Error:
    response = getattr(err, "response", {}) or {}
    detail = response.get("Error", {})
    code = detail.get("Code", type(err).__name__)
    message = detail.get("Message", str(err))
    return S3Error(f"{what}: {code}: {message}")


def upload_archive(s3: Any, folder: Path, url: ArchiveUrl) -> int:
    """Uploads every file of `folder` (relative paths kept), the manifest last; returns the bytes sent."""
    import botocore.exceptions

    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise S3Error(f"{folder} has no {MANIFEST}: not an archive folder")
    files = [*sorted(p for p in folder.rglob("*") if p.is_file() and p != manifest), manifest]
    sent = 0
    for path in files:
        key = f"{url.key_prefix}/{path.relative_to(folder).as_posix()}"
        try:
            s3.upload_file(str(path), url.bucket, key)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            raise _client_error(err, f"upload of s3://{url.bucket}/{key}") from err
        sent += path.stat().st_size
    return sent


def _objects(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    import botocore.exceptions

    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
        raise _client_error(err, f"listing s3://{bucket}/{prefix}") from err


def list_archives(s3: Any, bucket: str, prefix: str = "") -> list[ArchiveEntry]:
    """Every complete archive under `prefix` (any monitor), oldest first within a monitor."""
    base = prefix.strip("/")
    sizes: dict[str, list[int]] = {}
    complete: set[str] = set()
    for obj in _objects(s3, bucket, f"{base}/" if base else ""):
        key = str(obj["Key"])
        # <base>/<monitor>/<time>/<file...>: find the time segment after the base.
        rest = key[len(base) + 1 :] if base else key
        parts = rest.split("/")
        if len(parts) < 3 or not _TIME_RE.fullmatch(parts[1]):
            continue
        archive_key = "/".join(p for p in (base, parts[0], parts[1]) if p)
        sizes.setdefault(archive_key, []).append(int(obj["Size"]))
        if parts[2:] == [MANIFEST]:
            complete.add(archive_key)
    return [
        ArchiveEntry(ArchiveUrl(bucket, key), sum(sizes[key]), len(sizes[key]))
        for key in sorted(complete, key=lambda k: (PurePosixPath(k).parent.name, PurePosixPath(k).name))
    ]


def download_archive(s3: Any, url: ArchiveUrl, folder: Path) -> dict[str, Any]:
    """Downloads one complete archive into `folder`; returns its manifest."""
    import botocore.exceptions

    keys = [str(o["Key"]) for o in _objects(s3, url.bucket, f"{url.key_prefix}/")]
    if f"{url.key_prefix}/{MANIFEST}" not in keys:
        raise S3Error(f"{url} has no {MANIFEST}: no archive there, or its upload did not finish")
    for key in keys:
        relative = key[len(url.key_prefix) + 1 :]
        target = folder / relative
        if ".." in PurePosixPath(relative).parts:
            raise S3Error(f"s3://{url.bucket}/{key}: a key with '..' is not part of an archive")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            s3.download_file(url.bucket, key, str(target))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            raise _client_error(err, f"download of s3://{url.bucket}/{key}") from err
    manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return manifest


def client(region: str | None = None, profile: str | None = None) -> Any:
    """An S3 client from the default credential chain (the pod's IRSA or Pod Identity credentials,
    or the user's profile)."""
    import boto3

    session = boto3.session.Session(profile_name=profile, region_name=region)
    return session.client("s3")
