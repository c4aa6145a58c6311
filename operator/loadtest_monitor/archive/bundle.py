"""One archive as a local folder: InfluxDB's portable backup, the dashboards, and a manifest.

    <folder>/influxdb/...          `influxd backup -portable -db <the monitor's database>` output
    <folder>/dashboards/*.json     the provisioned dashboards as Grafana loaded them
    <folder>/manifest.json         what is inside, with the size and sha256 of every file

`influxd backup` and `influxd restore` talk to InfluxDB's RPC service, which the monitor binds to
127.0.0.1:8088 in the InfluxDB pod only (render/influxdb.py): that is why the archive container runs
in that pod. The `influxd` binary used is the one of the monitor's own InfluxDB image (copied in by an
init container), so the backup format always matches the server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest_monitor.aws.s3 import MANIFEST, TIME_FORMAT

MANIFEST_FORMAT = 1
INFLUXDB_DIR = "influxdb"
DASHBOARDS_DIR = "dashboards"


class BundleError(RuntimeError):
    """A one-line reason with the command's own error output."""


@dataclass(frozen=True)
class Influxd:
    """Where `influxd backup|restore` runs: the binary and the RPC address (host:port)."""

    binary: str
    rpc: str = "127.0.0.1:8088"


def _run(cmd: list[str], what: str, timeout: float) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise BundleError(f"{what}: {cmd[0]} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise BundleError(f"{what}: no answer within {timeout:.0f}s") from exc
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).split())[-600:]
        raise BundleError(f"{what} failed (exit {done.returncode}): {tail}")
    return done.stdout + done.stderr


def _file_entries(folder: Path) -> list[dict[str, Any]]:
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        entries.append(
            {"path": path.relative_to(folder).as_posix(), "size": path.stat().st_size, "sha256": digest.hexdigest()}
        )
    return entries


def make_bundle(
    influxd: Influxd,
    folder: Path,
    *,
    monitor: str,
    namespace: str,
    database: str,
    dashboards: Path | None,
    now: dt.datetime | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Writes one archive into the empty `folder`; returns its manifest."""
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    folder.mkdir(parents=True, exist_ok=True)
    backup_dir = folder / INFLUXDB_DIR
    _run(
        [influxd.binary, "backup", "-portable", "-host", influxd.rpc, "-db", database, str(backup_dir)],
        f"influxd backup of database {database!r} from {influxd.rpc}",
        timeout,
    )
    copied: list[str] = []
    if dashboards is not None and dashboards.is_dir():
        (folder / DASHBOARDS_DIR).mkdir()
        for path in sorted(dashboards.glob("*.json")):
            shutil.copyfile(path, folder / DASHBOARDS_DIR / path.name)
            copied.append(path.name)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "monitor": monitor,
        "namespace": namespace,
        "created": created.strftime(TIME_FORMAT),
        "influxdb": {"database": database, "backup": "influxd backup -portable", "path": INFLUXDB_DIR},
        "dashboards": copied,
        "files": _file_entries(folder),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def verify_bundle(folder: Path) -> dict[str, Any]:
    """The manifest of a downloaded archive, after checking every file's size and sha256."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{folder} has no {MANIFEST}")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BundleError(
            f"archive format {manifest.get('format')!r} is not {MANIFEST_FORMAT}: use a matching loadtest-monitor"
        )
    listed = {e["path"]: e for e in manifest.get("files", [])}
    found = {e["path"]: e for e in _file_entries(folder)}
    if listed != found:
        differing = sorted(
            set(listed) ^ set(found) | {p for p in listed.keys() & found.keys() if listed[p] != found[p]}
        )
        raise BundleError(
            f"archive files differ from its manifest (missing, extra or changed): {', '.join(differing[:5])}"
        )
    return manifest


def restore_bundle(influxd: Influxd, folder: Path, *, into_database: str | None = None, timeout: float = 600.0) -> str:
    """Restores the archive's database with `influxd restore -portable`; returns the database name.

    The target must not have the database yet (InfluxDB refuses to restore over one): restore into
    a new monitor, or name another database with `into_database`."""
    manifest = verify_bundle(folder)
    database = str(manifest["influxdb"]["database"])
    cmd = [influxd.binary, "restore", "-portable", "-host", influxd.rpc, "-db", database]
    if into_database and into_database != database:
        cmd += ["-newdb", into_database]
    target = into_database or database
    try:
        what = f"influxd restore of database {database!r} into {influxd.rpc}"
        _run([*cmd, str(folder / INFLUXDB_DIR)], what, timeout)
    except BundleError as exc:
        if "already exist" in str(exc):
            raise BundleError(
                f"the target InfluxDB already has a database {target!r} and InfluxDB never restores over one: "
                "restore into a new monitor (`loadtest-monitor archive restore URL --into NEW_MONITOR`)"
            ) from exc
        raise
    return target
