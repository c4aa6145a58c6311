"""The forwarder's loop: wait for the log, decode what Gatling appended, send the due windows.

When a window is due (live mode): once the log holds a record at least GRACE_MS past its end
(records arrive nearly in time order), or at the latest `max_delay` seconds after its end by the
clock, so quiet periods still produce windows as Gatling's timer did. The clock-driven windows
stop IDLE_CAP_MS after the last record, so a stale log never produces an endless tail of empty
windows. A window that later receives a record is re-sent (aggregate.py).

At the end of a complete run (Gatling wrote its report, or --once) it also sends the run's
whole-run summary (summary.py), from which the operator judges a LoadtestRun. With Gatling <= 3.11
Gatling's own Graphite writer already sends the live lines: the forwarder then sends only the
summary (`--live auto` reads the version from the log header; `--live off` forces it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtest_monitor.forward.aggregate import DEFAULT_MAX_SERIES, Aggregator, Payload, WindowSettings
from loadtest_monitor.forward.conf import ForwardSettings
from loadtest_monitor.forward.follow import LogFollower, find_logs
from loadtest_monitor.forward.logformat import Decoder, choose_decoder
from loadtest_monitor.forward.records import LogFormatError, RunHeader
from loadtest_monitor.forward.sender import GraphiteSender
from loadtest_monitor.forward.summary import RunSummary, SummarySettings
from loadtest_monitor.graphite import DEFAULT_RUNNER, simulation_id_of_class, simulation_id_of_run_folder

log = logging.getLogger("loadtest_monitor.forward")

GRACE_MS = 250
IDLE_CAP_MS = 60_000
# Windows are kept (and corrected when a late record arrives) for this long after they are sent,
# within the memory bound of aggregate.MAX_HISTOGRAM_ENTRIES.
RETENTION_S = 120
#: `--live`: on (send live windows), off (only the end-of-run summary), auto (off for Gatling <= 3.11).
LIVE_MODES = ("auto", "on", "off")
#: The last Gatling line with its own Graphite writer (3.12.0 removed it).
LAST_GRAPHITE_WRITER = (3, 11)


@dataclass(frozen=True)
class ForwardOptions:
    results: Path
    once: bool = False
    max_delay_s: float = 1.0
    tick_s: float = 0.2
    drain_timeout_s: float = 10.0
    allow_untested_version: bool = True  # decode a newer Gatling whose run record passes the layout check
    max_series: int = DEFAULT_MAX_SERIES
    until_sigterm: bool = False  # a native sidecar restarted after exit 0 would forward the run again
    live: str = "auto"  # LIVE_MODES


def has_graphite_writer(gatling_version: str) -> bool:
    """True for Gatling <= 3.11, whose own Graphite writer sends the live lines. A version that
    does not parse counts as a newer one (its binary log decoded means it has no writer)."""
    try:
        major, minor = (int(part) for part in gatling_version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) <= LAST_GRAPHITE_WRITER


class ForwardError(Exception):
    """Ends the forwarder with a one-line message and a non-zero exit."""


def simulation_id(header: RunHeader, run_folder: Path) -> str:
    """Text logs name it; binary logs do not, but the run folder `<id>-<timestamp>` does."""
    if header.simulation_id:
        return header.simulation_id
    return simulation_id_of_run_folder(run_folder.name) or simulation_id_of_class(header.simulation_class)


class Forwarder:
    def __init__(
        self,
        settings: ForwardSettings,
        options: ForwardOptions,
        sender: GraphiteSender,
        stop: threading.Event,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.settings = settings
        self.options = options
        self.sender = sender
        self.stop = stop
        self._clock_ms = clock_ms
        self.follower: LogFollower | None = None
        self.decoder: Decoder | None = None
        self.aggregator: Aggregator | None = None
        self.summary: RunSummary | None = None
        self.live = options.live != "off"
        self.summary_sent = False
        self.windows_sent = 0
        self.windows_resent = 0
        self._head = b""  # first bytes, until they tell the format

    # -- phases ------------------------------------------------------------------------------------

    def run(self) -> int:
        if not self._wait_for_log():
            log.warning("stopped before a simulation.log appeared under %s: nothing to forward", self.options.results)
            return 0
        assert self.follower is not None
        while True:
            stopping = self.stop.is_set()
            complete = self.options.once or self.follower.complete(self.options.results)
            self._read_all()
            if complete or stopping:
                code = self._finish(complete)
                if complete and not stopping and self.options.until_sigterm:
                    log.info("the run is complete; idle until SIGTERM (--until-sigterm)")
                    self.stop.wait()
                return code
            self._send(self._due(by_clock=True))
            self.sender.pump()
            self.stop.wait(self.options.tick_s)

    def _wait_for_log(self) -> bool:
        announced = False
        while True:
            logs = find_logs(self.options.results)
            if logs:
                self.follower = LogFollower(logs[-1])
                log.info("following %s", self.follower.path)
                return True
            if self.options.once:
                raise ForwardError(f"--results {self.options.results}: no simulation.log found (searched 3 levels)")
            if not announced:
                log.info("waiting for a simulation.log under %s", self.options.results)
                announced = True
            if self.stop.wait(self.options.tick_s):
                return False

    def _read_all(self) -> None:
        """Everything appended so far, a piece at a time: the windows a piece completes are sent
        before the next is read, so a long log (a restart mid-run, --once) never sits in memory."""
        assert self.follower is not None
        while data := self.follower.read():
            self._read(data)
            self._send(self._due(by_clock=False))
            self.sender.pump()

    def _read(self, data: bytes) -> None:
        if self.decoder is None:
            if not data:
                return
            self._head += data
            decoder = choose_decoder(self._head, self.settings.encoding, self.options.allow_untested_version)
            if decoder is None:
                return
            self.decoder, data, self._head = decoder, self._head, b""
        records = self.decoder.feed(data)
        if self.summary is None:
            header = self.decoder.header
            if header is None:
                return
            self._start(header)
        assert self.summary is not None
        self.summary.add(records)
        if self.aggregator is not None:
            self.aggregator.add(records)

    def _start(self, header: RunHeader) -> None:
        assert self.follower is not None
        sim = simulation_id(header, self.follower.run_folder)
        runner = self.settings.runner or DEFAULT_RUNNER
        self.summary = RunSummary(SummarySettings(runner, sim, self.options.max_series), header.start_ms)
        if self.options.live == "auto" and has_graphite_writer(header.gatling_version):
            self.live = False
        if not self.live:
            log.info(
                "Gatling %s %s log of %s; live lines %s: only the whole-run summary goes to %s at the end",
                header.gatling_version, header.log_format, header.simulation_class,
                "are Gatling's own (its Graphite writer)" if self.options.live == "auto" else "off (--live off)",
                self.sender.address,
            )
            return
        window = WindowSettings(
            prefix=self.settings.prefix,
            simulation_id=sim,
            write_period_ms=self.settings.write_period_s * 1000,
            light=self.settings.light,
            percentiles=self.settings.percentiles,
            max_series=self.options.max_series,
        )
        log.info(
            "Gatling %s %s log of %s; sending every %d s to %s under %s.%s",
            header.gatling_version, header.log_format, header.simulation_class,
            self.settings.write_period_s, self.sender.address, self.settings.prefix, sim,
        )
        retention = max(RETENTION_S // self.settings.write_period_s, 2)
        self.aggregator = Aggregator(window, header, retention_windows=retention)

    def _due(self, by_clock: bool) -> list[Payload]:
        agg = self.aggregator
        if agg is None or agg.watermark is None:
            return []
        due_ms = agg.watermark - GRACE_MS
        if by_clock:
            late_ms = self._clock_ms() - agg.start_ms - int(self.options.max_delay_s * 1000)
            due_ms = max(due_ms, min(late_ms, agg.watermark + IDLE_CAP_MS))
        return agg.take(due_ms // agg.settings.write_period_ms - 1)

    def _send(self, payloads: list[Payload]) -> None:
        for payload in payloads:
            log.debug(
                "window %d (epoch %d): %d lines%s",
                payload.window, payload.epoch, payload.lines, " (re-sent with late records)" if payload.resend else "",
            )
            self.sender.put(payload.data)
            if payload.resend:
                self.windows_resent += 1
            else:
                self.windows_sent += 1
            if self.options.once and self.sender.buffered_bytes > self.sender.max_buffer_bytes // 2:
                self._drain_or_fail()

    def _drain_or_fail(self) -> None:
        if not self.sender.drain(self.options.drain_timeout_s):
            raise ForwardError(
                f"Graphite {self.sender.address} was unreachable for {self.options.drain_timeout_s:.0f} s: "
                f"{self.sender.pending} windows were not delivered (--drain-timeout waits longer)"
            )

    def _finish(self, complete: bool) -> int:
        assert self.follower is not None
        if self.aggregator is not None:
            self._send(self.aggregator.finish())
        if complete and self.summary is not None:
            # Only a complete run: a summary of part of a run would be judged as the whole run.
            for payload in self.summary.payloads():
                self.sender.put(payload)
            self.summary_sent = True
        if self.options.once:
            self._drain_or_fail()
        elif not self.sender.drain(self.options.drain_timeout_s):
            # Live: the run is over either way; say what was lost rather than fail the pod.
            log.warning(
                "Graphite %s still unreachable after %.0f s: %d windows were not delivered",
                self.sender.address, self.options.drain_timeout_s, self.sender.pending,
            )
        agg = self.aggregator
        log.info(
            "done: %d records, %d windows sent, %d re-sent with late records, %d dropped while Graphite was down; "
            "whole-run summary %s",
            agg.records if agg else 0, self.windows_sent, self.windows_resent, self.sender.dropped_payloads,
            f"of {self.summary.responses} responses sent" if self.summary_sent and self.summary else "not sent",
        )
        if agg is None and self.summary is not None and self.summary.overflowed:
            log.warning("%d responses of names beyond --max-series %d were counted in the summary's '_other'",
                        self.summary.overflowed, self.options.max_series)
        if agg is not None and agg.overflowed:
            log.warning("%d records of names beyond --max-series %d were counted in the series '_other'",
                        agg.overflowed, self.options.max_series)
        if agg is not None and agg.folded_late:
            log.warning("%d records arrived after their window was forgotten and were counted in a later one",
                        agg.folded_late)
        if self.decoder is None:
            if complete:
                raise ForwardError(f"{self.follower.path}: empty, Gatling wrote nothing")
            return 0
        try:
            self.decoder.check_complete()
        except LogFormatError as err:
            if complete:
                raise
            log.warning("%s: %s (stopped while Gatling was writing it)", self.follower.path, err)
        return 0
