"""`spec.archive`: parsed with the CRD's defaults; bad buckets, prefixes, regions, schedules and
ServiceAccounts refused with the field named and the fix; the CRD refuses the same bucket names."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from loadtest_monitor.spec import crd_check
from loadtest_monitor.spec.archive import ArchiveSpec, S3Location
from loadtest_monitor.spec.cron import CronError, parse_cron
from loadtest_monitor.spec.monitor import SpecError, parse_spec

GOOD = {"s3": {"bucket": "perf-archives"}, "serviceAccountName": "loadtest-archive"}


def _archive(**changes: Any) -> dict[str, Any]:
    out = {**GOOD, **changes}
    return {"archive": out}


def _problems(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)
    return dict(caught.value.problems)


def test_no_archive_by_default() -> None:
    assert parse_spec({}).archive is None


def test_archive_defaults_come_from_the_crd() -> None:
    assert parse_spec(_archive()).archive == ArchiveSpec(
        s3=S3Location(bucket="perf-archives", prefix="loadtest-monitor", region=None),
        service_account_name="loadtest-archive",
        schedule=None,
        on_delete=False,
        timeout_seconds=600,
        image="loadtest-monitor:0.1.0",
    )


def test_every_field_is_read() -> None:
    archive = parse_spec(
        _archive(
            s3={"bucket": "perf.archives-2", "prefix": "team-a/loadtests", "region": "eu-west-1"},
            schedule="0 */6 * * 1-5",
            onDelete=True,
            timeoutSeconds=900,
        )
    ).archive
    assert archive is not None
    assert archive.s3 == S3Location("perf.archives-2", "team-a/loadtests", "eu-west-1")
    assert (archive.schedule, archive.on_delete, archive.timeout_seconds) == ("0 */6 * * 1-5", True, 900)


BAD_BUCKETS = [
    "ab",  # too short
    "a" * 64,  # too long
    "Perf-Archives",  # capitals
    "perf_archives",  # underscore
    "-perf",  # starts with '-'
    "perf-",  # ends with '-'
    "perf..archives",  # adjacent dots
    "192.168.10.1",  # an IP address
    "xn--perf",  # reserved prefix
    "sthree-perf",  # reserved prefix
    "perf-s3alias",  # reserved suffix
    "perf--ol-s3",  # reserved suffix
    "s3://perf-archives",  # a URL, not a name
]


@pytest.mark.parametrize("bucket", BAD_BUCKETS)
def test_bad_bucket_names_are_refused_with_the_field_named(bucket: str) -> None:
    problems = _problems(_archive(s3={"bucket": bucket}))
    assert list(problems) == ["spec.archive.s3.bucket"]
    assert "is not a bucket name" in problems["spec.archive.s3.bucket"]


@pytest.mark.parametrize("bucket", [*BAD_BUCKETS, "perf-archives", "a.b.c", "123", "my.bucket-2026"])
def test_the_crd_and_the_operator_agree_on_bucket_names(bucket: str) -> None:
    raw = _archive(s3={"bucket": bucket})
    monitor = {"apiVersion": "loadtest.dev/v1alpha1", "kind": "LoadtestMonitor", "metadata": {"name": "m"}, "spec": raw}
    crd_ok = not [p for p in crd_check.check(monitor) if p[0].startswith("spec.archive.s3.bucket")]
    try:
        parse_spec(raw)
        spec_ok = True
    except SpecError:
        spec_ok = False
    assert crd_ok == spec_ok == (bucket not in BAD_BUCKETS)


def test_bucket_and_service_account_are_required() -> None:
    problems = _problems({"archive": {"s3": {}}})
    assert "is required" in problems["spec.archive.s3.bucket"]
    assert "IRSA" in problems["spec.archive.serviceAccountName"]


@pytest.mark.parametrize("prefix", ["/team-a", "team-a/", "team a", "a//b", "x" * 257])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    problems = _problems(_archive(s3={"bucket": "perf-archives", "prefix": prefix}))
    assert "without a leading or trailing '/'" in problems["spec.archive.s3.prefix"]


def test_bad_region_and_service_account() -> None:
    problems = _problems(_archive(s3={"bucket": "perf-archives", "region": "Frankfurt"}, serviceAccountName="Bad_SA"))
    assert "is not an AWS region name" in problems["spec.archive.s3.region"]
    assert "is not a ServiceAccount name" in problems["spec.archive.serviceAccountName"]


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ("@daily", "five-field"),
        ("0 0 * *", "five-field"),
        ("0  0 * * *", "five-field"),
        ("61 * * * *", "minute field has '61': values go from 0 to 59"),
        ("0 0 * * MON", "no names"),
        ("*/0 * * * *", "step"),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_bad_schedules_are_refused_with_the_reason(schedule: str, says: str) -> None:
    problems = _problems(_archive(schedule=schedule))
    assert says in problems["spec.archive.schedule"]


def _utc(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 */6 * * *", _utc(2026, 12, 6, 17, 59), _utc(2026, 12, 6, 18, 0)),
        ("0 */6 * * *", _utc(2026, 12, 6, 18, 0), _utc(2026, 12, 7, 0, 0)),
        ("30 2 * * 1-5", _utc(2026, 12, 5, 12, 0), _utc(2026, 12, 7, 2, 30)),  # Saturday -> Monday
        ("15 3 1 * *", _utc(2026, 12, 6, 0, 0), _utc(2027, 1, 1, 3, 15)),
        ("0 0 29 2 *", _utc(2026, 3, 1, 0, 0), _utc(2028, 2, 29, 0, 0)),
        ("0 12 1 * 0", _utc(2026, 12, 2, 0, 0), _utc(2026, 12, 6, 12, 0)),  # day 1 OR Sunday (classic cron)
        ("*/15 * * * 7", _utc(2026, 12, 6, 10, 7), _utc(2026, 12, 6, 10, 15)),  # 7 is Sunday too
    ],
)
def test_cron_next_time(expression: str, after: dt.datetime, expected: dt.datetime) -> None:
    assert parse_cron(expression).next_after(after) == expected


def test_cron_error_is_a_value_error_with_the_fix() -> None:
    with pytest.raises(CronError, match="such as '0 \\*/6 \\* \\* \\*'"):
        parse_cron("hourly")
