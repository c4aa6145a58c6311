"""Restoring an archive into a monitor's InfluxDB, run inside its InfluxDB pod (`archive restore-here`).

A new monitor's bootstrap has already created its (empty) database, and InfluxDB refuses to restore
over an existing database. So: the database must hold no measurement (a restore never replaces data
somebody may still need), it is dropped, and `influxd restore -portable` brings it back from the
archive with its retention policies. Queries go to the pod's own HTTP port with the admin user.
"""

from __future__ import annotations

import base64
import json
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest_monitor.archive.bundle import BundleError, Influxd, restore_bundle, verify_bundle
from loadtest_monitor.aws.s3 import ArchiveUrl, download_archive


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


def restore_into_empty(influxd: Influxd, http: InfluxHttp, folder: Path) -> str:
    """Restores the downloaded archive in `folder` over the target's empty database; its name."""
    manifest = verify_bundle(folder)
    database = str(manifest["influxdb"]["database"])
    present = _measurements(http, database)
    if present:
        raise BundleError(
            f"database {database!r} of this monitor already holds data ({', '.join(present)}): restore into a "
            "new monitor (`loadtest-monitor archive restore URL --into NEW_MONITOR`), nothing was changed"
        )
    http.query(f'DROP DATABASE "{database}"')
    return restore_bundle(influxd, folder)


def restore_from_s3(influxd: Influxd, http: InfluxHttp, s3: Any, url: ArchiveUrl, work_dir: Path) -> str:
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="restore-", dir=work_dir) as tmp:
        folder = Path(tmp)
        download_archive(s3, url, folder)
        return restore_into_empty(influxd, http, folder)
