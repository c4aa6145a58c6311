"""Which log the forwarder follows, and when a run counts as finished."""

from __future__ import annotations

import os

import pytest

from loadtest_monitor.forward.follow import LogFollower, find_logs
from loadtest_monitor.forward.records import LogFormatError


def make_log(folder, mtime: float, data: bytes = b"RUN\t"):
    folder.mkdir(parents=True)
    log = folder / "simulation.log"
    log.write_bytes(data)
    os.utime(log, (mtime, mtime))
    return log


def test_the_newest_log_up_to_three_levels_down_is_followed(tmp_path):
    old = make_log(tmp_path / "sim-20260101000000000", 1_000)
    maven = make_log(tmp_path / "target" / "gatling" / "sim-20260102000000000", 2_000)
    make_log(tmp_path / "a" / "b" / "c" / "sim-20260103000000000", 3_000)  # too deep
    assert find_logs(tmp_path) == [old, maven]
    assert find_logs(tmp_path / "missing") == []


def test_a_run_is_finished_once_its_report_exists_or_a_newer_run_starts(tmp_path):
    current = LogFollower(make_log(tmp_path / "sim-20260101000000000", 1_000))
    assert not current.complete(tmp_path)
    make_log(tmp_path / "sim-20260102000000000", 2_000)
    assert current.complete(tmp_path)
    other = LogFollower(make_log(tmp_path / "x" / "sim-20260103000000000", 3_000))
    assert not other.complete(tmp_path)
    (other.run_folder / "index.html").write_text("report")
    assert other.complete(tmp_path)


def test_reads_continue_where_they_stopped_and_a_vanished_log_is_an_error(tmp_path):
    follower = LogFollower(make_log(tmp_path / "run", 1_000, b"abc"))
    assert follower.read(limit=2) == b"ab"
    with follower.path.open("ab") as out:
        out.write(b"def")
    assert follower.read() == b"cdef" and follower.read() == b""
    follower.path.write_bytes(b"x")
    with pytest.raises(LogFormatError, match="shrank from 6 to 1 bytes"):
        follower.read()
    follower.path.unlink()
    with pytest.raises(LogFormatError, match="was the run folder removed"):
        follower.read()
