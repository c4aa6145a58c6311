"""S3 side of archives through moto: the layout, `archive list` (complete archives only, with
monitor, time and size), downloads that refuse an unfinished upload, and the CLI's errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from loadtest_monitor.aws.s3 import (
    S3Error,
    archive_url,
    download_archive,
    list_archives,
    parse_archive_url,
    upload_archive,
)
from loadtest_monitor.cli.main import main

PROFILE = "perf-team"
REGION = "eu-west-1"
BUCKET = "perf-archives"


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A bucket in moto, reachable with a profile written the way `aws configure` writes it."""
    (tmp_path / "credentials").write_text(f"[{PROFILE}]\naws_access_key_id = AKIAFAKE\naws_secret_access_key = fake\n")
    (tmp_path / "config").write_text(f"[profile {PROFILE}]\nregion = {REGION}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    with mock_aws():
        client = boto3.session.Session(profile_name=PROFILE).client("s3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def _folder(tmp_path: Path, name: str, payload: bytes) -> Path:
    folder = tmp_path / name
    (folder / "influxdb").mkdir(parents=True)
    (folder / "influxdb" / "20261206T120000Z.s1.tar.gz").write_bytes(payload)
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "monitor": name}))
    return folder


def test_upload_list_and_download(s3: Any, tmp_path: Path) -> None:
    first = archive_url(BUCKET, "team-a", "checkout", "20261206T120000Z")
    second = archive_url(BUCKET, "team-a", "search", "20261206T130000Z")
    assert str(first) == "s3://perf-archives/team-a/checkout/20261206T120000Z/"
    sent = upload_archive(s3, _folder(tmp_path, "checkout", b"x" * 1000), first)
    upload_archive(s3, _folder(tmp_path, "search", b"y" * 10), second)
    # An upload cut short: files but no manifest. Not an archive.
    s3.put_object(Bucket=BUCKET, Key="team-a/checkout/20261206T140000Z/influxdb/x.tar.gz", Body=b"zz")
    # Another prefix is somebody else's.
    upload_archive(s3, _folder(tmp_path, "other", b"o"), archive_url(BUCKET, "team-b", "checkout", "20261206T120000Z"))

    listed = list_archives(s3, BUCKET, "team-a")
    assert [(e.url.monitor, e.url.time, e.size, e.files) for e in listed] == [
        ("checkout", "20261206T120000Z", sent, 2),
        ("search", "20261206T130000Z", listed[1].size, 2),
    ]
    assert list_archives(s3, BUCKET, "/team-a/") == listed, "slashes around the prefix do not matter"

    manifest = download_archive(s3, first, tmp_path / "down")
    assert manifest == {"format": 1, "monitor": "checkout"}
    assert (tmp_path / "down" / "influxdb" / "20261206T120000Z.s1.tar.gz").read_bytes() == b"x" * 1000


def test_download_refuses_an_unfinished_upload(s3: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key="team-a/checkout/20261206T140000Z/influxdb/x.tar.gz", Body=b"zz")
    with pytest.raises(S3Error, match=r"has no manifest[.]json: no archive there, or its upload did not finish"):
        download_archive(s3, parse_archive_url(f"s3://{BUCKET}/team-a/checkout/20261206T140000Z/"), tmp_path)


def test_missing_bucket_is_said_in_one_line(s3: Any) -> None:
    with pytest.raises(S3Error, match=r"listing s3://no-such-bucket/.*NoSuchBucket"):
        list_archives(s3, "no-such-bucket", "team-a")


@pytest.mark.parametrize(
    "url", ["perf-archives/team-a/checkout/20261206T120000Z", "s3://perf-archives/checkout", "s3:///a/20261206T120000Z"]
)
def test_urls_that_name_no_archive_are_refused(url: str) -> None:
    with pytest.raises(S3Error, match="archive list"):
        parse_archive_url(url)


def test_archive_list_command(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    upload_archive(
        s3, _folder(tmp_path, "checkout", b"x" * 3000), archive_url(BUCKET, "team-a", "checkout", "20261206T120000Z")
    )
    assert main(["archive", "list", "--bucket", BUCKET, "--prefix", "team-a", "--aws-profile", PROFILE]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MONITOR", "TIME", "(UTC)", "SIZE", "ARCHIVE"]
    assert lines[1].split() == [
        "checkout",
        "20261206T120000Z",
        "3.0",
        "KiB",
        f"s3://{BUCKET}/team-a/checkout/20261206T120000Z/",
    ]


def test_archive_list_says_when_there_is_none(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["archive", "list", "--bucket", BUCKET, "--aws-profile", PROFILE]) == 0
    assert capsys.readouterr().out.strip() == f"no archives under s3://{BUCKET}/loadtest-monitor"


def test_archive_list_refuses_a_bad_bucket_name_before_calling_aws() -> None:
    with pytest.raises(SystemExit, match="--bucket: 'Perf_Archives' is not a bucket name"):
        main(["archive", "list", "--bucket", "Perf_Archives"])


def test_archive_list_names_an_unknown_profile(s3: Any) -> None:
    with pytest.raises(SystemExit, match="--aws-profile nobody"):
        main(["archive", "list", "--bucket", BUCKET, "--aws-profile", "nobody"])


def test_archive_restore_refuses_a_url_that_is_no_archive() -> None:
    with pytest.raises(SystemExit, match="names no archive"):
        main(["archive", "restore", "s3://perf-archives/checkout", "--into", "checkout-2"])
