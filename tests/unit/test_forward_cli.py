"""`loadtest-monitor forward` as a process: a finished log, a log growing while Gatling runs, the
end of a run (report written, or SIGTERM), logs it must refuse, and a Graphite outage of 30 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest_monitor.forward.binlog import BinaryLogDecoder
from loadtest_monitor.forward.cli import LAYOUT_ERRORS_METRIC
from loadtest_monitor.forward.records import RequestRecord
from loadtest_monitor.render.gatling import render_gatling_conf
from loadtest_monitor.spec.monitor import parse_spec
from ltm_harness.gatling_binary_log import BinaryLog
from ltm_harness.ports import free_port
from tests.unit.forward_support import (
    BINARY_VERSIONS,
    TEXT_VERSIONS,
    GraphiteSink,
    binary_log_started_at,
    real_log,
    report_totals,
    text_log_started_at,
)

ALL_COUNT = ".datapathsimulation.allRequests.all.count"


def write_conf(tmp_path: Path, port: int) -> Path:
    conf = tmp_path / "gatling.conf"
    conf.write_text(render_gatling_conf(parse_spec({"gatling": {"writePeriod": 1}}), "127.0.0.1", port))
    return conf


def forward(conf: Path, results: Path, *extra: str, runner: str = "runner.1") -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GATLING_RUNNER", "HOSTNAME")}
    env["GATLING_RUNNER"] = runner
    args = [sys.executable, "-m", "loadtest_monitor.cli", "forward", "--gatling-conf", str(conf),
            "--results", str(results), *extra]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def run_folder(results: Path, version: str) -> Path:
    folder = results / str(report_totals(version)["runFolder"])
    folder.mkdir(parents=True)
    return folder


def counts(sink: GraphiteSink, suffix: str = ALL_COUNT) -> int:
    """The live lines' counts (not the whole-run summary's, whose paths may end alike)."""
    return sum(
        v for (path, _), v in sink.points().items()
        if path.endswith(suffix) and not path.startswith(("run_summary.", "run_span."))
    )


@pytest.fixture
def sink():
    server = GraphiteSink()
    yield server
    server.close()


@pytest.mark.parametrize("version", TEXT_VERSIONS + BINARY_VERSIONS)
def test_a_finished_log_of_each_version_lands_with_gatlings_totals(tmp_path, sink, version):
    (run_folder(tmp_path / "results", version) / "simulation.log").write_bytes(real_log(version))
    # --live on: on 3.11 (auto sends only the summary there, Gatling's writer sends the live lines).
    rc, err = finish(forward(write_conf(tmp_path, sink.port), tmp_path / "results", "--once", "--live", "on"))
    assert rc == 0, err
    totals = report_totals(version)
    # The runner segment is GATLING_RUNNER reduced to one safe segment ("runner.1" -> "runner-1").
    assert counts(sink, "gatling.runner-1" + ALL_COUNT) == totals["total"]
    assert counts(sink, ".datapathsimulation.allRequests.ko.count") == totals["ko"]
    assert counts(sink, ".datapathsimulation.shop.cart.item.all.count") == 32  # 4 users x 8 loops
    assert counts(sink, ".datapathsimulation.search_page.ok.count") == 32
    roots = ("gatling.runner-1.datapathsimulation.", "run_summary.runner-1.datapathsimulation.",
             "run_span.runner-1.datapathsimulation.")
    assert all(path.startswith(roots) for path, _ in sink.points())


@pytest.mark.parametrize("version", ["3.12.0", "3.15.1"])
def test_a_live_log_is_forwarded_as_it_grows_and_the_report_ends_it(tmp_path, sink, version):
    once_sink = GraphiteSink()
    start = int(time.time() * 1000) - 2000
    moved = text_log_started_at if version in TEXT_VERSIONS else binary_log_started_at
    data = moved(real_log(version), start)
    try:
        finished = tmp_path / "finished"
        (run_folder(finished, version) / "simulation.log").write_bytes(data)
        assert finish(forward(write_conf(tmp_path, once_sink.port), finished, "--once"))[0] == 0
        expected = once_sink.points()
    finally:
        once_sink.close()

    results = tmp_path / "results"  # does not exist yet: the forwarder waits for it
    proc = forward(write_conf(tmp_path, sink.port), results)
    try:
        time.sleep(1)
        log = run_folder(results, version) / "simulation.log"
        step = len(data) // 9
        with log.open("wb") as out:
            for i in range(0, len(data), step):  # chunks that end inside records
                out.write(data[i : i + step])
                out.flush()
                time.sleep(0.15)
        assert sink.wait_for(lambda: counts(sink) > 0, timeout=10), "nothing was sent while the log grew"
        assert proc.poll() is None
        (log.parent / "index.html").write_text("<html>report</html>")
        rc, err = finish(proc)
    finally:
        proc.kill()
    assert rc == 0, err
    live = sink.points()
    assert {k: live[k] for k in expected} == expected
    last = max(epoch for _, epoch in expected)
    extra = {k: v for k, v in live.items() if k not in expected}
    # Windows sent by the clock after the last record: later seconds, nothing counted.
    assert all(epoch > last and (v == 0 or not path.endswith(".count")) for (path, epoch), v in extra.items())


def test_sigterm_sends_the_last_window_and_exits_0(tmp_path, sink):
    data = binary_log_started_at(real_log("3.14.9"), int(time.time() * 1000) - 60_000)
    (run_folder(tmp_path / "results", "3.14.9") / "simulation.log").write_bytes(data[: len(data) - 5])
    proc = forward(write_conf(tmp_path, sink.port), tmp_path / "results")
    try:
        assert sink.wait_for(lambda: counts(sink) > 0, timeout=15)
        proc.send_signal(signal.SIGTERM)
        rc, err = finish(proc)
    finally:
        proc.kill()
    assert rc == 0, err
    # The cut record (Gatling was stopped mid-write) is named, and all complete ones were sent.
    assert "incomplete" in err
    complete = BinaryLogDecoder().feed(data[: len(data) - 5])
    assert counts(sink) == sum(isinstance(r, RequestRecord) for r in complete) > 200


def test_sigterm_before_any_log_exits_0(tmp_path, sink):
    proc = forward(write_conf(tmp_path, sink.port), tmp_path / "results")
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the forwarder is up and waiting
    assert "waiting for a simulation.log" in first
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == 0 and "nothing to forward" in err


def test_a_newer_binary_version_with_the_known_layout_is_forwarded_with_a_warning(tmp_path, sink):
    """Issue 14, item 9: a newer Gatling whose log has the known layout is decoded, not refused."""
    log = BinaryLog(version="3.16.0", start_ms=int(time.time() * 1000) - 5000).user(0, True, 10)
    log.request((), "home", 100, 120, True)
    (run_folder(tmp_path / "results", "3.15.1") / "simulation.log").write_bytes(bytes(log.data))
    rc, err = finish(forward(write_conf(tmp_path, sink.port), tmp_path / "results", "--once"))
    assert rc == 0, err
    assert "WARNING" in err and "Gatling 3.16.0" in err and "3.13.0 to 3.15.1" in err
    assert counts(sink) == 1


def test_a_newer_binary_version_whose_layout_differs_fails_loudly_and_sends_nothing(tmp_path, sink):
    log = BinaryLog(version="3.16.0", start_ms=int(time.time() * 1000)).user(0, True, 10)
    log.data += b"\x09\x00\x00"  # a record type the 3.13-3.15 layout does not have
    (run_folder(tmp_path / "results", "3.15.1") / "simulation.log").write_bytes(bytes(log.data))
    rc, err = finish(forward(write_conf(tmp_path, sink.port), tmp_path / "results", "--once"))
    assert rc == 1
    error, metric = err.strip().splitlines()[-2:]
    assert error.startswith("error: ") and "Gatling 3.16.0" in error and "differ from the 3.13.0 to 3.15.1" in error
    assert metric == f"{LAYOUT_ERRORS_METRIC} 1"
    time.sleep(0.3)
    assert counts(sink) == 0


def test_a_corrupt_log_is_refused_with_one_line(tmp_path, sink):
    data = bytearray(real_log("3.13.5"))
    data[4000:4010] = b"\x07" * 10
    (run_folder(tmp_path / "results", "3.13.5") / "simulation.log").write_bytes(bytes(data))
    rc, err = finish(forward(write_conf(tmp_path, sink.port), tmp_path / "results", "--once"))
    assert rc == 1
    assert err.strip().splitlines()[-1].startswith("error: ") and "corrupt: record" in err


def test_a_truncated_finished_log_is_an_error(tmp_path, sink):
    data = real_log("3.12.0")
    folder = run_folder(tmp_path / "results", "3.12.0")
    (folder / "simulation.log").write_bytes(data[:-10])
    (folder / "index.html").write_text("report")
    rc, err = finish(forward(write_conf(tmp_path, sink.port), tmp_path / "results"))
    assert rc == 1 and "truncated" in err.strip().splitlines()[-1]
    # The live windows of what was read went out, but no whole-run summary of a log missing its end.
    assert counts(sink) > 0
    assert not [p for p, _ in sink.points() if p.startswith(("run_summary.", "run_span."))]


def test_a_bad_conf_is_one_line(tmp_path):
    conf = tmp_path / "gatling.conf"
    conf.write_text('include "secrets.conf"\n')
    rc, err = finish(forward(conf, tmp_path))
    assert rc == 1
    assert err.strip() == f"error: {conf} line 1: 'include' is refused (the forwarder never loads other files or URLs)"


def test_a_graphite_port_refusing_for_30_s_loses_nothing(tmp_path):
    port = free_port()
    data = binary_log_started_at(real_log("3.15.1"), int(time.time() * 1000))
    results = tmp_path / "results"
    proc = forward(write_conf(tmp_path, port), results)
    sink = None
    try:
        log = run_folder(results, "3.15.1") / "simulation.log"
        with log.open("wb") as out:
            for i in range(0, len(data), 500):
                out.write(data[i : i + 500])
                out.flush()
                time.sleep(0.3)  # ~5 s of a live run while nobody listens
        time.sleep(max(0.0, 30 - 0.3 * (len(data) // 500 + 1)))
        assert proc.poll() is None, "the forwarder must outlive the outage"
        sink = GraphiteSink(port)
        assert sink.wait_for(lambda: counts(sink) == report_totals("3.15.1")["total"], timeout=15)
        (log.parent / "index.html").write_text("report")
        rc, err = finish(proc)
        assert rc == 0, err
        assert "reachable again" in err
    finally:
        proc.kill()
        if sink is not None:
            sink.close()


def test_until_sigterm_stays_after_a_complete_run_and_exits_0_on_sigterm(tmp_path, sink):
    folder = run_folder(tmp_path / "results", "3.15.1")
    (folder / "simulation.log").write_bytes(real_log("3.15.1"))
    (folder / "index.html").write_text("report")
    proc = forward(write_conf(tmp_path, sink.port), tmp_path / "results", "--until-sigterm")
    try:
        assert sink.wait_for(lambda: counts(sink) == report_totals("3.15.1")["total"], timeout=15)
        time.sleep(1)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        rc, err = finish(proc)
    finally:
        proc.kill()
    assert rc == 0, err
    assert "idle until SIGTERM" in err


def test_sigterm_while_graphite_is_down_says_what_was_not_delivered_and_exits_0(tmp_path):
    data = binary_log_started_at(real_log("3.13.5"), int(time.time() * 1000) - 30_000)
    (run_folder(tmp_path / "results", "3.13.5") / "simulation.log").write_bytes(data)
    proc = forward(write_conf(tmp_path, free_port()), tmp_path / "results", "--drain-timeout", "1")
    try:
        assert proc.stderr is not None
        while "following" not in proc.stderr.readline():
            pass
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        rc, err = finish(proc)
    finally:
        proc.kill()
    assert rc == 0, err
    assert "payloads were not delivered" in err


def test_once_fails_when_graphite_takes_nothing(tmp_path):
    (run_folder(tmp_path / "results", "3.13.5") / "simulation.log").write_bytes(real_log("3.13.5"))
    rc, err = finish(forward(write_conf(tmp_path, free_port()), tmp_path / "results", "--once", "--drain-timeout", "1"))
    assert rc == 1
    assert err.strip().splitlines()[-1].startswith("error: Graphite tcp://127.0.0.1:")
