"""The `archive` container of the InfluxDB pod: archives on a schedule and when the pod stops.

It runs `loadtest-monitor archive agent` from the operator's image beside influxd, because InfluxDB's
backup service listens on the pod's loopback only (no Service, no NetworkPolicy hole, no Job can
reach it). Chosen over a CronJob for that reason, and because a sidecar can archive on the pod's
stop, which is when emptyDir data is lost.

On stop (with --on-stop): influxd's preStop hook waits until this agent writes STOPPED_FILE into the
shared state folder, so influxd still serves while the last archive is made; the pod's
terminationGracePeriodSeconds bounds the wait (the renderer sets it from archive.timeoutSeconds).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest_monitor.archive.bundle import Influxd, make_bundle
from loadtest_monitor.aws.s3 import TIME_FORMAT, ArchiveUrl, archive_url, upload_archive
from loadtest_monitor.spec.cron import Cron

log = logging.getLogger(__name__)

#: Written into the state folder once the agent is done on stop; influxd's preStop waits for it.
STOPPED_FILE = "stopped"
#: The outcome of the last archive (JSON), for `kubectl exec ... cat` and the doctor.
LAST_FILE = "last.json"


@dataclass(frozen=True)
class AgentConfig:
    monitor: str
    namespace: str
    database: str
    bucket: str
    prefix: str
    influxd: Influxd
    state_dir: Path
    work_dir: Path
    dashboards: Path | None = None
    schedule: Cron | None = None
    on_stop: bool = False
    timeout: float = 600.0


def archive_once(cfg: AgentConfig, s3: Any, now: dt.datetime | None = None) -> tuple[ArchiveUrl, int]:
    """One archive: backup into a scratch folder, upload, remove the scratch. (url, bytes sent)."""
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    url = archive_url(cfg.bucket, cfg.prefix, cfg.monitor, created.strftime(TIME_FORMAT))
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="archive-", dir=cfg.work_dir) as tmp:
        folder = Path(tmp) / "bundle"
        make_bundle(
            cfg.influxd,
            folder,
            monitor=cfg.monitor,
            namespace=cfg.namespace,
            database=cfg.database,
            dashboards=cfg.dashboards,
            now=created,
            timeout=cfg.timeout,
        )
        sent = upload_archive(s3, folder, url)
    return url, sent


def _record(cfg: AgentConfig, reason: str, outcome: dict[str, Any]) -> None:
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    entry = {"reason": reason, "at": dt.datetime.now(dt.UTC).strftime(TIME_FORMAT), **outcome}
    (cfg.state_dir / LAST_FILE).write_text(json.dumps(entry, sort_keys=True) + "\n", encoding="utf-8")
    # One line a person can read in `kubectl logs -c archive`.
    log.info("archive %s: %s", reason, json.dumps(outcome, sort_keys=True))


def _attempt(cfg: AgentConfig, s3: Any, reason: str) -> bool:
    try:
        url, sent = archive_once(cfg, s3)
    except Exception as exc:  # an archive that fails must not end the agent: the next one may work
        _record(cfg, reason, {"ok": False, "error": str(exc)[:1000]})
        return False
    _record(cfg, reason, {"ok": True, "url": str(url), "bytes": sent})
    return True


class Agent:
    """Waits for the next scheduled time or a stop; `stop()` is what SIGTERM calls."""

    def __init__(self, cfg: AgentConfig, s3: Any, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.cfg = cfg
        self.s3 = s3
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> int:
        stopped = self.cfg.state_dir / STOPPED_FILE
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        stopped.unlink(missing_ok=True)
        try:
            while not self._stopping.is_set():
                if self.cfg.schedule is None:
                    self._stopping.wait()
                    break
                due = self.cfg.schedule.next_after(self.clock())
                wait = max(0.0, (due - self.clock()).total_seconds())
                if self._stopping.wait(wait):
                    break
                _attempt(self.cfg, self.s3, "schedule")
            if self.cfg.on_stop:
                _attempt(self.cfg, self.s3, "stop")
        finally:
            stopped.write_text("done\n", encoding="utf-8")  # releases influxd's preStop hook
        return 0


def run_agent(cfg: AgentConfig, s3: Any) -> int:
    """Runs the agent until SIGTERM (the kubelet stopping the pod) or SIGINT; the handlers before
    are put back afterwards."""
    agent = Agent(cfg, s3)
    previous = {sig: signal.signal(sig, lambda *_: agent.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return agent.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
