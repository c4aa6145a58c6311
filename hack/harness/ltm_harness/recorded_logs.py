"""Recorded real Gatling logs (tests/unit/data/forward: one simulation.log per Gatling version, with
the totals of Gatling's own report of the same run), and the same logs moved in time, for every test
layer that feeds the forwarder a real log without running Gatling."""

from __future__ import annotations

import json
import struct

from ltm_harness.repo import REPO_ROOT

DATA = REPO_ROOT / "tests" / "unit" / "data" / "forward"
TEXT_VERSIONS = ("3.11.5", "3.12.0")
BINARY_VERSIONS = ("3.13.5", "3.14.9", "3.15.1")


def real_log(version: str) -> bytes:
    """simulation.log of DataPathSimulation (the harness's gatling-project), run with that Gatling."""
    return (DATA / version / "simulation.log").read_bytes()


def report_totals(version: str) -> dict[str, object]:
    """All-requests totals from Gatling's own HTML report of the same run, and its run folder."""
    return dict(json.loads((DATA / version / "report-totals.json").read_text()))


def binary_log_started_at(data: bytes, start_ms: int) -> bytes:
    """The same binary log with another run start (times in records are relative to it)."""
    pos = 1
    for _ in range(2):  # gatlingVersion, simulationClass: int length, bytes, coder byte
        length = struct.unpack_from(">i", data, pos)[0]
        pos += 4 + (length + 1 if length else 0)
    return data[:pos] + struct.pack(">q", start_ms) + data[pos + 8 :]


_TEXT_TIME_FIELDS = {"RUN": (3,), "USER": (3,), "REQUEST": (3, 4), "GROUP": (2, 3), "ERROR": (2,)}


def text_log_started_at(data: bytes, start_ms: int) -> bytes:
    """The same text log moved in time so that its run starts at `start_ms`."""
    lines = data.decode().split("\n")
    run = next(line for line in lines if line.startswith("RUN\t"))
    shift = start_ms - int(run.split("\t")[3])
    out = []
    for line in lines:
        fields = line.split("\t")
        for i in _TEXT_TIME_FIELDS.get(fields[0], ()):
            fields[i] = str(int(fields[i]) + shift)
        out.append("\t".join(fields))
    return "\n".join(out).encode()
