"""`loadtest-monitor forward`: the command line of the forwarder."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from loadtest_monitor.forward.aggregate import DEFAULT_MAX_SERIES
from loadtest_monitor.forward.binlog import LayoutChangedError, UnsupportedVersionError
from loadtest_monitor.forward.conf import ConfError, load_settings
from loadtest_monitor.forward.records import LogFormatError
from loadtest_monitor.forward.run import LIVE_MODES, Forwarder, ForwardError, ForwardOptions
from loadtest_monitor.forward.sender import DEFAULT_BUFFER_BYTES, GraphiteSender
from loadtest_monitor.graphite import OVERFLOW

log = logging.getLogger("loadtest_monitor.forward")

#: Printed (Prometheus text form) when a log's binary layout is not the one this forwarder decodes.
LAYOUT_ERRORS_METRIC = "loadtest_monitor_forward_layout_errors_total"

DESCRIPTION = """\
Forwards a Gatling 3.12+ run to Graphite as Gatling 3.11's Graphite writer did: reads the
monitor's gatling.conf (host, port, protocol, rootPathPrefix with ${?GATLING_RUNNER} /
${?HOSTNAME}, writePeriod, light, percentiles), follows the newest simulation.log under
--results as Gatling writes it (3.12 text or 3.13-3.15 binary), and sends one payload per
writePeriod, stamped with the log's own time. Ends with exit 0 on SIGTERM or once the run's
report is written, after sending the run's whole-run histograms (the summary a LoadtestRun's
verdict is computed from); exits 1 with one line on a log it does not understand. For Gatling
3.11 and older (its own Graphite writer sends the live lines) it sends only that summary.
"""

EPILOG = """\
examples:
  loadtest-monitor forward --gatling-conf /etc/gatling/gatling.conf --results /results   # sidecar
  loadtest-monitor forward --gatling-conf gatling.conf --results target/gatling --once  # a finished run
"""


def register(sub: Any) -> None:
    """Adds `forward` to the `loadtest-monitor` sub-commands."""
    p = sub.add_parser(
        "forward",
        help="send a Gatling simulation.log to Graphite live (3.12+), as Gatling 3.11 did, and its whole-run summary",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gatling-conf", required=True, type=Path, help="the gatling.conf the monitor publishes")
    p.add_argument("--results", required=True, type=Path, help="Gatling's results folder (waited for)")
    p.add_argument("--once", action="store_true", help="forward the newest log as it is now and exit")
    p.add_argument(
        "--max-delay", type=float, default=1.0, metavar="SECONDS",
        help="send a window at the latest this long after it ends, even before its records are read "
        "(re-sent when they arrive; default 1)",
    )
    p.add_argument(
        "--buffer-mib", type=int, default=DEFAULT_BUFFER_BYTES >> 20, metavar="MIB",
        help="windows kept while Graphite is unreachable; the oldest go first (default 32)",
    )
    p.add_argument(
        "--drain-timeout", type=float, default=10.0, metavar="SECONDS",
        help="at the end, how long to keep trying to deliver buffered windows (default 10)",
    )
    p.add_argument(
        "--allow-untested-version", action="store_true",
        help="accepted for compatibility: a binary log of a newer Gatling whose run record has the known "
        "layout is now always decoded (with a warning), and one that does not decode is refused",
    )
    p.add_argument(
        "--max-series", type=int, default=DEFAULT_MAX_SERIES, metavar="N",
        help="distinct request paths (and scenarios) with their own series; the records of further names "
        f"are counted in the series '{OVERFLOW}' (default {DEFAULT_MAX_SERIES})",
    )
    p.add_argument(
        "--until-sigterm", action="store_true",
        help="once the run is complete and sent, stay idle until SIGTERM instead of exiting (for a native "
        "sidecar, which the kubelet restarts after any exit while the Gatling container runs)",
    )
    p.add_argument(
        "--live", choices=LIVE_MODES, default="auto",
        help="send the live windows (on), or only the whole-run summary at the end of a complete run (off); "
        "auto (default): off for Gatling <= 3.11, whose own Graphite writer sends the live lines",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every window sent")
    p.set_defaults(func=cmd_forward)


def cmd_forward(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="loadtest-monitor forward: %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if args.buffer_mib < 1 or args.max_series < 1 or args.max_delay < 0 or args.drain_timeout < 0:
        print("error: --buffer-mib and --max-series must be >= 1, --max-delay and --drain-timeout >= 0",
              file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.gatling_conf)
    except ConfError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sender = GraphiteSender(settings.host, settings.port, settings.protocol, args.buffer_mib << 20)
    options = ForwardOptions(
        results=args.results,
        once=args.once,
        max_delay_s=args.max_delay,
        drain_timeout_s=args.drain_timeout,
        until_sigterm=args.until_sigterm,
        max_series=args.max_series,
        live=args.live,
    )
    forwarder = Forwarder(settings, options, sender, stop)
    try:
        return forwarder.run()
    except LogFormatError as err:
        path = forwarder.follower.path if forwarder.follower else args.results
        print(f"error: {path}: {err}", file=sys.stderr)
        if isinstance(err, UnsupportedVersionError | LayoutChangedError):
            # A counter in the runner's log, for log-based alerts: the layout really differs.
            print(f"{LAYOUT_ERRORS_METRIC} 1", file=sys.stderr)
        return 1
    except ForwardError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # one line, never a traceback, in a sidecar's log
        print(f"error: forwarder stopped by an unexpected {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    finally:
        sender.close()
