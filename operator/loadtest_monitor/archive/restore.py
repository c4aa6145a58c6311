"""Restoring an archive into a monitor's InfluxDB, run inside its InfluxDB pod (`archive restore-here`).

A new monitor's bootstrap has already created its (empty) database, and InfluxDB refuses to restore
over an existing database. So: the database must hold no measurement (a restore never replaces data
somebody may still need) and the target's retention must keep the archive's points; then it is
dropped and `influxd restore -portable` brings it back from the archive with its retention
policies. Queries go to the pod's own HTTP port with the admin user.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest_monitor.archive.bundle import BundleError, Influxd, restore_bundle, verify_bundle
from loadtest_monitor.aws.s3 import TIME_FORMAT, ArchiveUrl, download_archive


@dataclass(frozen=True)
class InfluxHttp:
    url: str  # http://127.0.0.1:8086
    user: str
    password: str

    def query(self, q: str, db: str | None = None) -> dict[str, Any]:
        params = {"q": q, **({"db": db} if db else {})}
        req = urllib.request.Request(f"{self.url}/query", data=urllib.parse.urlencode(params).encode(), method="POST")
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            body: dict[str, Any] = json.load(resp)
        for result in body.get("results", []):
            if "error" in result:
                raise BundleError(f"InfluxDB refused {q!r}: {result['error']}")
        return body


def _measurements(http: InfluxHttp, database: str) -> list[str]:
    names = [
        str(row[0])
        for result in http.query("SHOW DATABASES")["results"]
        for series in result.get("series", [])
        for row in series.get("values", [])
    ]
    if database not in names:
        return []
    body = http.query("SHOW MEASUREMENTS LIMIT 5", db=database)
    return [str(row[0]) for r in body["results"] for s in r.get("series", []) for row in s.get("values", [])]


_DURATION_RE = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")


def _default_retention(http: InfluxHttp, database: str) -> dt.timedelta | None:
    """The duration of the database's default retention policy (None: infinite, or no database).
    The monitor's bootstrap set it from spec.influxdb.retention and sets it again at every start."""
    body = http.query(f'SHOW RETENTION POLICIES ON "{database}"')
    for result in body["results"]:
        for series in result.get("series", []):
            columns = series["columns"]
            for row in series.get("values", []):
                policy = dict(zip(columns, row, strict=True))
                if policy.get("default"):
                    match = _DURATION_RE.fullmatch(str(policy.get("duration", "")))
                    if match is None:
                        return None
                    h, m, sec = (int(g or 0) for g in match.groups())
                    span = dt.timedelta(hours=h, minutes=m, seconds=sec)
                    return span or None  # 0s is INF
    return None


def _span(span: dt.timedelta) -> str:
    hours = int(span.total_seconds()) // 3600
    return f"{hours // 24} days" if hours % 24 == 0 else f"{hours} hours"


def restore_into_empty(influxd: Influxd, http: InfluxHttp, folder: Path, now: dt.datetime | None = None) -> str:
    """Restores the downloaded archive in `folder` over the target's empty database; its name.

    Refused, with nothing changed, when the database holds data, or when the archive is older than
    the target's retention (InfluxDB would delete every restored point within its 30-minute check)."""
    manifest = verify_bundle(folder)
    database = str(manifest["influxdb"]["database"])
    present = _measurements(http, database)
    if present:
        raise BundleError(
            f"database {database!r} of this monitor already holds data ({', '.join(present)}): restore into a "
            "new monitor (`loadtest-monitor archive restore URL --into NEW_MONITOR`), nothing was changed"
        )
    retention = _default_retention(http, database)
    created = dt.datetime.strptime(str(manifest["created"]), TIME_FORMAT).replace(tzinfo=dt.UTC)
    age = (now or dt.datetime.now(dt.UTC)) - created
    if retention is not None and age > retention:
        raise BundleError(
            f"the archive is {age.days} days old and this monitor keeps data for {_span(retention)}: InfluxDB would "
            "delete the restored points. Give the new monitor spec.influxdb.retention: INF (or longer than the "
            "archive's age) and restore again; nothing was changed"
        )
    http.query(f'DROP DATABASE "{database}"')
    return restore_bundle(influxd, folder)


def restore_from_s3(influxd: Influxd, http: InfluxHttp, s3: Any, url: ArchiveUrl, work_dir: Path) -> str:
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="restore-", dir=work_dir) as tmp:
        folder = Path(tmp)
        download_archive(s3, url, folder)
        return restore_into_empty(influxd, http, folder)
