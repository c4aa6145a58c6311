"""Forwarder benchmark (a command, not a test: `make bench-forward`).

1. Throughput on one core: a synthetic run in each log format (Gatling 3.12's text layout and
   3.13-3.15's binary layout, written by this script as Gatling's LogFileDataWriter writes them:
   2 scenarios, 12 request paths in groups up to two deep, 1 in 8 responses KO, users starting and
   ending, group records) is decoded in 64 KiB reads, aggregated and rendered window by window,
   exactly the work of `loadtest-monitor forward`, in this one process. Reported: log records
   (all types) per second, and responses per second.
2. The forwarder as a sidecar at 2,000 requests/s: a binary log written live at that rate (appended
   every 100 ms, as a flushing runner would), `loadtest-monitor forward` following it and sending to
   a Graphite sink on 127.0.0.1; reported: its CPU (user+system seconds per second) and peak RSS.

3. Many distinct names (issue 14, item 4): a binary log whose every request has its own name
   (100,000 names over 10 windows, as a request named after an id gives), forwarded by the real
   `loadtest-monitor forward --once` into a sink; reported: its peak RSS and the lines of its
   largest window (bounded by --max-series, default 1000, not by the names).

Results are printed and written to bench/results/forward-<date>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from loadtest_monitor.forward.aggregate import Aggregator, WindowSettings
from loadtest_monitor.forward.logformat import choose_decoder
from loadtest_monitor.forward.records import RequestRecord
from loadtest_monitor.forward.run import GRACE_MS
from ltm_harness.gatling_binary_log import BinaryLog

ROOT = Path(__file__).resolve().parent.parent

SCENARIOS = ("browse", "checkout")
PATHS: tuple[tuple[tuple[str, ...], str], ...] = (
    ((), "home"), ((), "search page"), ((), "item"), ((), "broken"),
    (("shop",), "item"), (("shop",), "flaky"), (("shop",), "list"),
    (("shop", "cart"), "item"), (("shop", "cart"), "pay"),
    (("checkout",), "item"), (("checkout",), "confirm"), (("checkout",), "address"),
)
START_MS = 1_800_000_000_000


def synthetic_events(responses: int, rate: int) -> list[tuple[Any, ...]]:
    """(kind, ...) events of a run at `rate` responses/s: one user per 6 responses, a group record
    per 4 responses; times in ms after the run start."""
    events: list[tuple[Any, ...]] = []
    for i in range(responses):
        t = i * 1000 // rate
        groups, name = PATHS[i % len(PATHS)]
        if i % 6 == 0:
            events.append(("user", i // 6 % 2, True, t))
        events.append(("request", groups, name, t, t + 5 + (i * 7919) % 400, i % 8 != 0))
        if i % 4 == 3 and groups:
            events.append(("group", groups, t - 100, t + 10, 90, True))
        if i % 6 == 5:
            events.append(("user", i // 6 % 2, False, t + 20))
    return events


def text_log(events: list[tuple[Any, ...]]) -> bytes:
    lines = [f"RUN\tbench.Sim\tsim\t{START_MS}\t \t3.12.0"]
    for e in events:
        if e[0] == "user":
            lines.append(f"USER\t{SCENARIOS[e[1]]}\t{'START' if e[2] else 'END'}\t{START_MS + e[3]}")
        elif e[0] == "request":
            status, message = ("OK", " ") if e[5] else ("KO", "status.find.in(200), found 500")
            times = f"{START_MS + e[3]}\t{START_MS + e[4]}"
            lines.append(f"REQUEST\t{','.join(e[1])}\t{e[2]}\t{times}\t{status}\t{message}")
        else:
            lines.append(f"GROUP\t{','.join(e[1])}\t{START_MS + e[2]}\t{START_MS + e[3]}\t{e[4]}\tOK")
    return ("\n".join(lines) + "\n").encode()


def _binary_writer(start_ms: int) -> BinaryLog:
    return BinaryLog("3.15.1", start_ms, SCENARIOS, simulation_class="bench.Sim")


def _write(writer: BinaryLog, e: tuple[Any, ...]) -> None:
    if e[0] == "user":
        writer.user(e[1], e[2], e[3])
    elif e[0] == "request":
        writer.request(e[1], e[2], e[3], e[4], e[5], "" if e[5] else "status.find.in(200), found 500")
    else:
        writer.group(e[1], e[2], e[3], e[4], e[5])


def binary_log(events: list[tuple[Any, ...]]) -> bytes:
    writer = _binary_writer(START_MS)
    for e in events:
        _write(writer, e)
    return bytes(writer.data)


def throughput(data: bytes) -> dict[str, float]:
    """Decode + aggregate + render, as the forwarder does, on this one thread."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    decoder = choose_decoder(data)
    assert decoder is not None
    agg: Aggregator | None = None
    records = responses = windows = lines = 0
    for i in range(0, len(data), 1 << 16):
        batch = decoder.feed(data[i : i + (1 << 16)])
        records += len(batch)
        responses += sum(1 for r in batch if type(r) is RequestRecord)
        if agg is None and decoder.header is not None:
            agg = Aggregator(WindowSettings("gatling.bench", "sim"), decoder.header, retention_windows=120)
        assert agg is not None
        agg.add(batch)
        for p in agg.take(((agg.watermark or 0) - GRACE_MS) // 1000 - 1):  # the forwarder's rule
            windows += 1
            lines += p.lines
    assert agg is not None
    for p in agg.finish():
        windows += 1
        lines += p.lines
    decoder.check_complete()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "records": records, "responses": responses, "payloads": windows, "graphite_lines": lines,
        "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
        "records_per_s": round(records / cpu), "responses_per_s": round(responses / cpu),
    }


def _sink() -> tuple[socket.socket, list[int]]:
    server = socket.create_server(("127.0.0.1", 0))
    received = [0]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while chunk := conn.recv(1 << 16):
                    received[0] += chunk.count(b"\n")

    threading.Thread(target=serve, daemon=True).start()
    return server, received


def _peak_rss_kib(pid: int) -> int:
    """VmHWM of a running process: its peak RSS since exec (getrusage would count the memory the
    forked child shared with this big parent before exec)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _forward_dirs(tmp: Path, port: int) -> tuple[Path, Path]:
    """The operator's gatling.conf (metrics to the local sink on `port`) and an empty run folder."""
    from loadtest_monitor.render.gatling import render_gatling_conf
    from loadtest_monitor.spec.monitor import parse_spec

    conf = tmp / "gatling.conf"
    conf.write_text(render_gatling_conf(parse_spec({}), "127.0.0.1", port))
    run = tmp / "results" / "sim-20270115000000000"
    run.mkdir(parents=True)
    return conf, run


def sidecar(rate: int, seconds: int) -> dict[str, Any]:
    """The real forwarder process following a binary log written live at `rate` responses/s."""
    server, received = _sink()
    with tempfile.TemporaryDirectory() as tmp:
        conf, run = _forward_dirs(Path(tmp), server.getsockname()[1])
        start = int(time.time() * 1000)
        writer = _binary_writer(start)
        events = synthetic_events(rate * seconds, rate)
        log = (run / "simulation.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "loadtest_monitor.cli", "forward", "--gatling-conf", str(conf),
             "--results", str(Path(tmp) / "results")],
            env={**os.environ, "GATLING_RUNNER": "bench"},
            stderr=subprocess.PIPE, text=True,
        )
        index = 0
        peak_kib = 0
        while index < len(events):  # append what the last 100 ms produced, like a flushing runner
            peak_kib = max(peak_kib, _peak_rss_kib(proc.pid))
            now = int(time.time() * 1000) - start
            while index < len(events) and events[index][3] <= now:
                _write(writer, events[index])
                index += 1
            log.write(writer.data)
            log.flush()
            writer.data.clear()
            time.sleep(0.1)
        log.close()
        time.sleep(2)
        peak_kib = max(peak_kib, _peak_rss_kib(proc.pid))
        (run / "index.html").write_text("done")
        _, err = proc.communicate(timeout=60)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        server.close()
    if proc.returncode != 0:
        raise SystemExit(f"forwarder failed ({proc.returncode}): {err}")
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "rate_per_s": rate, "seconds": seconds, "responses": sum(1 for e in events if e[0] == "request"),
        "cpu_s": round(cpu, 2), "cpu_per_s_of_run": round(cpu / seconds, 3),
        "peak_rss_mib": round(peak_kib / 1024, 1), "graphite_lines_received": received[0],
    }


def distinct_names(names: int, windows: int = 10) -> dict[str, Any]:
    """The real forwarder on a finished log whose every request has its own name."""
    server, received = _sink()
    with tempfile.TemporaryDirectory() as tmp:
        conf, run = _forward_dirs(Path(tmp), server.getsockname()[1])
        writer = _binary_writer(START_MS)
        per_window = names // windows
        for i in range(names):
            t = (i // per_window) * 1000 + 10
            writer.request((), f"GET /items/{i:08d}", t, t + 5 + i % 50, i % 8 != 0, "")
        (run / "simulation.log").write_bytes(bytes(writer.data))
        proc = subprocess.Popen(
            [sys.executable, "-m", "loadtest_monitor.cli", "forward", "--gatling-conf", str(conf),
             "--results", str(Path(tmp) / "results"), "--once", "-v"],
            env={**os.environ, "GATLING_RUNNER": "bench"}, stderr=subprocess.PIPE, text=True,
        )
        peak_kib = 0
        while proc.poll() is None:
            peak_kib = max(peak_kib, _peak_rss_kib(proc.pid))
            time.sleep(0.02)
        _, err = proc.communicate(timeout=60)
        time.sleep(0.5)
        server.close()
    if proc.returncode != 0:
        raise SystemExit(f"forwarder failed ({proc.returncode}): {err}")
    window_lines = [int(m) for m in re.findall(r"window \d+ \(epoch \d+\): (\d+) lines", err)]
    return {
        "distinct_names": names, "windows": len(window_lines), "max_lines_per_window": max(window_lines),
        "peak_rss_mib": round(peak_kib / 1024, 1), "graphite_lines_received": received[0],
        "overflow_warning": "'_other'" in err,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=300_000, help="responses in the throughput logs")
    parser.add_argument("--rate", type=int, default=2000, help="responses/s of the sidecar run")
    parser.add_argument("--seconds", type=int, default=60, help="length of the sidecar run")
    parser.add_argument("--names", type=int, default=100_000, help="distinct request names of case 3")
    parser.add_argument("--only-names", action="store_true", help="run case 3 alone")
    args = parser.parse_args()
    if args.only_names:
        return _report({"distinct names": _names_case(args.names)})

    events = synthetic_events(args.responses, rate=2000)
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
    }
    for name, build in (("text (Gatling 3.12)", text_log), ("binary (Gatling 3.13-3.15)", binary_log)):
        data = build(events)
        figures = throughput(data)
        figures["log_mib"] = round(len(data) / (1 << 20), 1)
        results[name] = figures
        print(f"{name}: {figures['records_per_s']:,} records/s ({figures['responses_per_s']:,} responses/s) "
              f"on one core; {figures['records']:,} records, {figures['log_mib']} MiB, "
              f"{figures['payloads']} payloads (windows + re-sends), {figures['cpu_s']} s CPU")
    side = sidecar(args.rate, args.seconds)
    results["sidecar"] = side
    print(f"sidecar at {side['rate_per_s']:,} responses/s for {side['seconds']} s: "
          f"{side['cpu_per_s_of_run']:.3f} CPU s per s, peak RSS {side['peak_rss_mib']} MiB, "
          f"{side['graphite_lines_received']:,} Graphite lines received")
    results["distinct names"] = _names_case(args.names)
    return _report(results)


def _names_case(names: int) -> dict[str, Any]:
    case = distinct_names(names)
    print(f"{case['distinct_names']:,} distinct request names: peak RSS {case['peak_rss_mib']} MiB, "
          f"at most {case['max_lines_per_window']:,} lines per window ({case['windows']} windows)")
    return case


def _report(results: dict[str, Any]) -> int:
    results.setdefault("date", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    results.setdefault("python", platform.python_version())
    out = ROOT / "bench" / "results" / f"forward-{dt.date.today().isoformat()}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
