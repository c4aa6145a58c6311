"""spec.archive on the OLDEST Kubernetes the docs state: the CRD with its bucket rule installs,
a monitor with an archive is accepted and defaulted, and bad bucket names, prefixes and schedules
are refused by the API server with the CRD's own messages (what `kubectl apply` prints)."""

from __future__ import annotations

import pytest
import yaml

from ltm_harness.apiserver import ApiServer
from tests.integration.floor_support import _monitor

pytestmark = pytest.mark.integration

ARCHIVE = {"s3": {"bucket": "perf-archives"}, "serviceAccountName": "loadtest-archive"}


def test_a_monitor_with_an_archive_is_accepted_and_defaulted(old_apiserver: ApiServer) -> None:
    created = old_apiserver.kubectl("apply", "-f", "-", input=_monitor("archived", {"archive": ARCHIVE}))
    assert created.returncode == 0, created.stderr
    got = yaml.safe_load(old_apiserver.kubectl("get", "ltm", "archived", "-n", "default", "-o", "yaml").stdout)
    assert got["spec"]["archive"] == {
        **ARCHIVE,
        "s3": {"bucket": "perf-archives", "prefix": "loadtest-monitor"},
        "onDelete": False,
        "timeoutSeconds": 600,
        "image": "loadtest-monitor:0.1.0",
    }


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        ({**ARCHIVE, "s3": {"bucket": "perf..archives"}}, "archive.s3.bucket is not an S3 bucket name"),
        ({**ARCHIVE, "s3": {"bucket": "192.168.1.10"}}, "archive.s3.bucket is not an S3 bucket name"),
        ({**ARCHIVE, "s3": {"bucket": "perf-s3alias"}}, "archive.s3.bucket is not an S3 bucket name"),
        ({**ARCHIVE, "s3": {"bucket": "Perf_Archives"}}, "spec.archive.s3.bucket in body should match"),
        ({**ARCHIVE, "s3": {"bucket": "ab"}}, "spec.archive.s3.bucket in body should be at least 3"),
        ({**ARCHIVE, "s3": {"bucket": "perf-archives", "prefix": "/lead"}}, "spec.archive.s3.prefix in body should"),
        ({**ARCHIVE, "schedule": "@daily"}, "spec.archive.schedule in body should match"),
        ({"s3": {"bucket": "perf-archives"}}, "spec.archive.serviceAccountName: Required value"),
        ({**ARCHIVE, "timeoutSeconds": 10}, "should be greater than or equal to 60"),
    ],
)
def test_bad_archives_are_refused_with_the_crds_message(
    old_apiserver: ApiServer,
    archive: dict[str, object],
    message: str,
) -> None:
    result = old_apiserver.kubectl("apply", "-f", "-", input=_monitor("bad-archive", {"archive": archive}))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
