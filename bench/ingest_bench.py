"""Graphite ingest benchmark of the rendered InfluxDB config (a command, not a test: `make bench`).

Starts real influxd processes (Debian's InfluxDB 1.x) on free loopback ports with the operator's
rendered influxdb.conf, and next to it the same config without the batch-* keys (InfluxDB's
built-in Graphite batch settings), then measures, for each:

- sustained ingest over TCP: Gatling-shaped windows (50 requests, light=false) blasted over
  several connections for the whole duration; TCP back-pressure makes the achieved rate the
  capacity. Loss = lines sent - points written (`pointsTx` of the graphite service, the counter
  InfluxDB's monitor stores in `_internal`).
- sustained ingest over UDP: Gatling sends one datagram per flush, so windows are cut to what a
  datagram can carry; a short search finds the highest paced rate with zero loss, then it is held
  for the whole duration.
- freshness: a probe runner emits one window per second (stamped with the current second, as
  Gatling does); the time from emission until its last point is returned by a query, p50/p95,
  with InfluxDB otherwise idle and under a background of 10 runners.

and translates the TCP capacity into Gatling runners per monitor. Results are printed and written
to bench/results/ingest-<date>.md and .json. Everything stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest_monitor.render.influxdb import render_influxdb_conf
from loadtest_monitor.spec.monitor import MonitorSpec, parse_spec
from ltm_harness.influx_bootstrap import Credentials, run_bootstrap
from ltm_harness.influxd import Influxd, Ports, influxd_version, with_rpc_bind

ROOT = Path(__file__).resolve().parent.parent

TOKEN = b"@@TS@@@@@@"  # 10 bytes, the width of an epoch second
METRICS = ("count", "min", "max", "mean", "stdDev", "percentiles50", "percentiles75", "percentiles95", "percentiles99")
UDP_MAX_PAYLOAD = 65_507  # IPv4: 65535 - 8 (UDP header) - 20 (IP header)
BATCH_KEYS = re.compile(r"^\s*batch-(size|pending|timeout)\s*=.*\n", re.MULTILINE)


# --- Gatling-shaped windows ---------------------------------------------------------------------


@dataclass(frozen=True)
class WindowShape:
    """One runner's payload for one writePeriod at light=false (Gatling 3.11 Graphite writer)."""

    requests: int = 50
    scenarios: int = 1
    ko_empty: bool = False  # a status without responses sends only `count 0`

    def lines(self, prefix: str, runner: str, simulation: str = "benchsimulation") -> list[bytes]:
        root = f"{prefix}.{runner}.{simulation}"
        out: list[str] = []
        for scenario in [*(f"scenario{i}" for i in range(self.scenarios)), "allUsers"]:
            out += [f"{root}.users.{scenario}.{f} 3" for f in ("active", "waiting", "done")]
        for request in [*(f"request_{i:02d}" for i in range(self.requests)), "allRequests"]:
            for status in ("ok", "ko", "all"):
                metrics = ("count",) if status == "ko" and self.ko_empty else METRICS
                out += [f"{root}.{request}.{status}.{m} {17 + len(m)}" for m in metrics]
        return [line.encode() + b" " + TOKEN + b"\n" for line in out]

    def count(self) -> int:
        per_status = len(METRICS)
        ko = 1 if self.ko_empty else per_status
        return 3 * (self.scenarios + 1) + (self.requests + 1) * (2 * per_status + ko)


@dataclass
class Template:
    payload: bytes
    lines: int

    def at(self, ts: int) -> bytes:
        return self.payload.replace(TOKEN, b"%010d" % ts)


def templates(prefix: str, shape: WindowShape, runners: list[str]) -> list[Template]:
    out = []
    for runner in runners:
        lines = shape.lines(prefix, runner)
        out.append(Template(b"".join(lines), len(lines)))
    return out


# --- influxd variants -----------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    describe: str
    transform: Callable[[str], str]


def variants() -> list[Variant]:
    return [
        Variant("rendered", "the operator's rendered influxdb.conf", lambda c: c),
        Variant(
            "influx-defaults",
            "rendered, batch-* keys removed (InfluxDB's built-in Graphite batching)",
            lambda c: BATCH_KEYS.sub("", c),
        ),
        Variant(
            "candidate-100ms",
            'rendered with batch-timeout = "100ms"',
            lambda c: re.sub(r'batch-timeout\s*=\s*"[^"]*"', 'batch-timeout = "100ms"', c),
        ),
    ]


def start(spec: MonitorSpec, variant: Variant, workdir: Path) -> Influxd:
    ports = Ports.pick()
    credentials = Credentials()
    # As in the pod: the rendered bootstrap prepares the data directory; HTTP then needs a user.
    prepared = run_bootstrap(spec, workdir, ports, credentials)
    if prepared.exit_code != 0 or not prepared.message.startswith("Bootstrapped"):
        raise RuntimeError(f"bootstrap failed: {prepared.message}\n{prepared.output[-2000:]}")
    conf = render_influxdb_conf(
        spec,
        data_dir=str(workdir / "var"),
        http_bind=f"127.0.0.1:{ports.http}",
        graphite_bind=f"127.0.0.1:{ports.graphite}",
    )
    conf = variant.transform(with_rpc_bind(conf, f"127.0.0.1:{ports.rpc}"))
    return Influxd(conf, workdir, ports, auth=credentials.admin).start()


def points_tx(server: Influxd, proto: str) -> int:
    return server.graphite_stats().get(proto, {}).get("pointsTx", 0)


def udp_rcvbuf_errors() -> int | None:
    try:
        rows = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
        return int(dict(zip(rows[0][1:], rows[1][1:], strict=True))["RcvbufErrors"])
    except (OSError, KeyError, IndexError, ValueError):
        return None


# --- measurements ---------------------------------------------------------------------------------


@dataclass
class Trial:
    proto: str
    seconds: float
    sent: int
    written: int
    target_rate: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.sent - self.written

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def tcp_blast(server: Influxd, tpls: list[Template], seconds: float, connections: int = 4) -> Trial:
    """Each connection cycles through its runners' windows, stamping consecutive seconds."""
    before = points_tx(server, "tcp")
    base = int(time.time()) - 6 * 3600
    sent = [0] * connections
    deadline = time.monotonic() + seconds

    def sender(i: int) -> None:
        mine = tpls[i::connections]
        with socket.create_connection(("127.0.0.1", server.ports.graphite)) as sock:
            w = 0
            while time.monotonic() < deadline:
                for t in mine:
                    sock.sendall(t.at(base + w))
                    sent[i] += t.lines
                w += 1

    started = time.monotonic()
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(connections)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - started
    after = server.wait_quiet(lambda: points_tx(server, "tcp"), quiet_seconds=2.0)
    return Trial("tcp", elapsed, sum(sent), after - before)


def udp_paced(server: Influxd, tpls: list[Template], rate: float, seconds: float) -> Trial:
    """One datagram per window (as Gatling sends a flush), paced to `rate` lines/s."""
    before = points_tx(server, "udp")
    drops_before = udp_rcvbuf_errors()
    base = int(time.time()) - 12 * 3600 + int(rate) % 3600
    lines_per = tpls[0].lines
    interval = lines_per / rate
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        addr = ("127.0.0.1", server.ports.graphite)
        started = time.monotonic()
        next_at = started
        i = 0
        while True:
            now = time.monotonic()
            if now - started >= seconds:
                break
            if next_at > now:
                time.sleep(next_at - now)
            t = tpls[i % len(tpls)]
            sock.sendto(t.at(base + i // len(tpls)), addr)
            sent += t.lines
            i += 1
            next_at += interval
        elapsed = time.monotonic() - started
    after = server.wait_quiet(lambda: points_tx(server, "udp"), quiet_seconds=2.0)
    drops_after = udp_rcvbuf_errors()
    extra = {}
    if drops_before is not None and drops_after is not None:
        extra["kernel_udp_rcvbuf_errors"] = drops_after - drops_before
    return Trial("udp", elapsed, sent, after - before, target_rate=rate, extra=extra)


def udp_search(server: Influxd, tpls: list[Template], start_rate: float, duration: float, probes: int) -> list[Trial]:
    """Short paced probes climb while loss-free; the sustained run then holds a margin below the best
    probe (losses come in bursts, when the listener's reader is descheduled while the small socket
    buffer holds only a few Gatling-sized datagrams) and steps down once more if it still loses."""
    trials: list[Trial] = []
    rate, best = start_rate, 0.0
    for _ in range(probes):
        trial = udp_paced(server, tpls, rate, 5)
        trial.extra["probe"] = True
        trials.append(trial)
        if trial.lost:
            break
        best = rate
        rate *= 1.5
    sustained_rate = 0.6 * (best or start_rate * 0.5)
    for _ in range(2):
        final = udp_paced(server, tpls, sustained_rate, duration)
        trials.append(final)
        if final.lost == 0:
            break
        sustained_rate *= 0.6
    return trials


@dataclass
class Freshness:
    background_lines_per_s: int
    samples: list[float]

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def freshness(server: Influxd, shape: WindowShape, prefix: str, db: str, background: int, samples: int) -> Freshness:
    """Probe windows stamped with the current second; polls until the window's last line is queryable."""
    probe = templates(prefix, shape, ["probe"])[0]
    bg = templates(prefix, shape, [f"bg{i:03d}" for i in range(background)])
    stop = threading.Event()

    def background_load() -> None:
        with socket.create_connection(("127.0.0.1", server.ports.graphite)) as sock:
            while not stop.is_set():
                second = int(time.time())
                for t in bg:
                    sock.sendall(t.at(second))
                stop.wait(max(0.0, second + 1 - time.time()))

    loader = threading.Thread(target=background_load, daemon=True)
    if background:
        loader.start()
        time.sleep(2)
    results: list[float] = []
    query = (
        f'SELECT "percentiles99" FROM "{prefix}" WHERE "runner" = \'probe\' AND "request" = \'allRequests\' '
        "AND \"status\" = 'all' AND time = {ts}s"
    )
    with socket.create_connection(("127.0.0.1", server.ports.graphite)) as sock:
        for _ in range(samples):
            # Emit shortly after a second boundary, the way Gatling's timer does at some phase.
            time.sleep(1.0 - (time.time() % 1.0) + 0.05)
            ts = int(time.time())
            emitted = time.time()
            sock.sendall(probe.at(ts))
            while time.time() - emitted < 10:
                if server.series(query.format(ts=ts), db):
                    results.append(time.time() - emitted)
                    break
                time.sleep(0.01)
            else:
                results.append(float("inf"))
    stop.set()
    if background:
        loader.join(timeout=5)
    return Freshness(background * probe.lines, results)


# --- report -----------------------------------------------------------------------------------------


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of each sustained run (default 60)")
    parser.add_argument("--fresh-samples", type=int, default=10)
    parser.add_argument("--udp-probes", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    t_start = time.monotonic()
    spec = parse_spec({})
    prefix = spec.gatling.root_path_prefix
    db = spec.influxdb.database
    shape = WindowShape(requests=50)
    per_runner = shape.count()
    per_runner_typical = WindowShape(requests=50, ko_empty=True).count()
    tcp_tpls = templates(prefix, shape, [f"runner-{i:03d}" for i in range(40)])
    # UDP: the largest window that fits one datagram (Gatling never splits a flush).
    udp_requests = max(
        r for r in range(1, 60) if len(templates(prefix, WindowShape(r), ["runner-000"])[0].at(0)) <= UDP_MAX_PAYLOAD
    )
    udp_tpls = templates(prefix, WindowShape(udp_requests), [f"runner-{i:03d}" for i in range(40)])
    window_bytes_50 = len(tcp_tpls[0].at(int(time.time())))
    udp_50_error = ""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(tcp_tpls[0].at(int(time.time())), ("127.0.0.1", 9))
        except OSError as exc:
            udp_50_error = f"{type(exc).__name__}: {exc}"

    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_at_start": os.getloadavg()},
        "influxdb": influxd_version(),
        "duration_s": args.duration,
        "window": {
            "requests": 50,
            "lines_per_runner_per_period_worst": per_runner,
            "lines_per_runner_per_period_ko_empty": per_runner_typical,
            "bytes_50_requests": window_bytes_50,
            "udp_send_50_requests": udp_50_error or "sent",
            "udp_max_requests_per_datagram": udp_requests,
            "udp_lines_per_datagram": udp_tpls[0].lines,
        },
        "variants": {},
    }
    print(
        f"InfluxDB: {report['influxdb']}; window of 50 requests = {per_runner} lines, {window_bytes_50} bytes; "
        f"over UDP: {udp_50_error or 'sent'}; UDP carries at most {udp_requests} requests per window"
    )

    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        for variant in variants():
            full = variant.name != "candidate-100ms"
            server = start(spec, variant, Path(tmp) / variant.name)
            try:
                result: dict[str, Any] = {"describe": variant.describe}
                tcp = tcp_blast(server, tcp_tpls, args.duration if full else min(args.duration, 15))
                result["tcp"] = asdict(tcp) | {"rate": tcp.rate, "lost": tcp.lost}
                print(
                    f"[{variant.name}] TCP {fmt_rate(tcp.rate)} lines/s for {tcp.seconds:.0f}s, "
                    f"sent {tcp.sent}, written {tcp.written}, lost {tcp.lost}"
                )
                if full:
                    trials = udp_search(server, udp_tpls, tcp.rate * 0.2, args.duration, args.udp_probes)
                    result["udp_trials"] = [asdict(t) | {"rate": t.rate, "lost": t.lost} for t in trials]
                    sustained = [t for t in trials if "probe" not in t.extra]
                    ok = [t for t in sustained if t.lost == 0]
                    best = max(ok, key=lambda t: t.rate) if ok else None
                    result["udp"] = asdict(best) | {"rate": best.rate, "lost": 0} if best else None
                    for t in trials:
                        kind = "probe" if "probe" in t.extra else "sustained"
                        print(
                            f"[{variant.name}] UDP {kind} {fmt_rate(t.rate)} lines/s for {t.seconds:.0f}s: "
                            f"lost {t.lost} of {t.sent} {t.extra.get('kernel_udp_rcvbuf_errors', '')}"
                        )
                for background in (0, 10):
                    f = freshness(server, shape, prefix, db, background, args.fresh_samples)
                    key = "freshness_idle" if background == 0 else "freshness_loaded"
                    result[key] = {
                        "background_lines_per_s": f.background_lines_per_s,
                        "p50_s": f.pct(0.5),
                        "p95_s": f.pct(0.95),
                        "samples": f.samples,
                    }
                    print(
                        f"[{variant.name}] freshness with {f.background_lines_per_s} lines/s background: "
                        f"p50 {f.pct(0.5):.3f}s p95 {f.pct(0.95):.3f}s"
                    )
                result["graphite_stats"] = server.graphite_stats()
                report["variants"][variant.name] = result
            finally:
                server.stop()

    rendered, defaults = report["variants"]["rendered"], report["variants"]["influx-defaults"]
    cap = rendered["tcp"]["rate"]
    report["summary"] = {
        "tcp_rate_rendered": cap,
        "tcp_rate_defaults": defaults["tcp"]["rate"],
        "tcp_ratio_rendered_over_defaults": cap / defaults["tcp"]["rate"],
        "udp_rate_rendered": (rendered["udp"] or {}).get("rate"),
        "udp_rate_defaults": (defaults["udp"] or {}).get("rate"),
        "runners_at_capacity": cap / per_runner,
        "runners_with_50pct_headroom": cap / per_runner / 2,
        "runners_at_capacity_ko_empty": cap / per_runner_typical,
        "elapsed_s": time.monotonic() - t_start,
    }
    if rendered["udp"] and defaults["udp"]:
        report["summary"]["udp_ratio_rendered_over_defaults"] = rendered["udp"]["rate"] / defaults["udp"]["rate"]
    write_reports(report, args.out)
    return 0


def write_reports(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    day = report["date"][:10]
    (out / f"ingest-{day}.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    s, w = report["summary"], report["window"]
    lines = [
        f"# Graphite ingest benchmark, {report['date']}",
        "",
        f"Command: `python -m bench.ingest_bench --duration {report['duration_s']:g}` (`make bench`). "
        f"InfluxDB `{report['influxdb']}`, {report['machine']['cpus']} CPUs shared by influxd and the sender, "
        f"load average at start {report['machine']['loadavg_at_start'][0]:.1f}.",
        "",
        "| config | TCP lines/s (lost) | UDP lines/s, zero loss | fresh p50 / p95 idle | fresh p50 / p95 loaded |",
        "|---|---|---|---|---|",
    ]
    for name, v in report["variants"].items():
        udp = v.get("udp")
        udp_text = "not measured" if "udp_trials" not in v else (fmt_rate(udp["rate"]) if udp else "loss at every rate")
        fi, fl = v["freshness_idle"], v["freshness_loaded"]
        lines.append(
            f"| {name}: {v['describe']} | {fmt_rate(v['tcp']['rate'])} ({v['tcp']['lost']}) | {udp_text} | "
            f"{fi['p50_s']:.2f} s / {fi['p95_s']:.2f} s | {fl['p50_s']:.2f} s / {fl['p95_s']:.2f} s |"
        )
    lines += [
        "",
        f"- TCP ratio rendered / defaults: {s['tcp_ratio_rendered_over_defaults']:.2f}"
        + (
            f"; UDP ratio: {s['udp_ratio_rendered_over_defaults']:.2f}"
            if "udp_ratio_rendered_over_defaults" in s
            else ""
        ),
        f"- A Gatling runner with 50 request names at light=false sends {w['lines_per_runner_per_period_worst']} "
        f"lines per writePeriod when ok, ko and all all have responses "
        f"({w['lines_per_runner_per_period_ko_empty']} when no KO), i.e. per second at writePeriod = 1.",
        f"- One monitor (TCP, rendered config) carries about {s['runners_at_capacity']:.0f} such runners at "
        f"capacity, {s['runners_with_50pct_headroom']:.0f} with 50 % headroom "
        f"({s['runners_at_capacity_ko_empty']:.0f} at capacity when no KO).",
        f"- UDP: Gatling sends a whole flush as one datagram. 50 requests = {w['bytes_50_requests']} bytes > "
        f"{UDP_MAX_PAYLOAD}: `{w['udp_send_50_requests']}` — nothing arrives. At most "
        f"{w['udp_max_requests_per_datagram']} request names ({w['udp_lines_per_datagram']} lines) fit; the UDP "
        "rates above use such windows.",
        "- UDP runs (paced, one Gatling-sized datagram per window): "
        + "; ".join(
            f"{name} {'probe' if t['extra'].get('probe') else 'sustained'} {fmt_rate(t['rate'])}/s "
            f"{t['seconds']:.0f} s lost {t['lost']}"
            for name, v in report["variants"].items()
            for t in v.get("udp_trials", [])
        )
        + ". The zero-loss figure is the sustained run (60 % of the best loss-free 5 s probe): a lower bound "
        "of the UDP capacity, limited by the 208 KiB default socket buffer (a few 57 KiB datagrams).",
        "- Freshness: time from sending a window (stamped with the current second) until its last line is "
        "returned by a query; 'loaded' = 10 runners of background.",
        f"- Total bench time {s['elapsed_s']:.0f} s.",
        "",
    ]
    (out / f"ingest-{day}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
