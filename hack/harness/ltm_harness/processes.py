"""Child processes of the harness: each in its own process group, optionally killed with its parent,
output appended to a log file; stopped group-wise (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ltm_harness.wait import wait_for

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(
    argv: Sequence[str],
    log: Path,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    die_with_parent: bool = False,
) -> subprocess.Popen[bytes]:
    """Starts ``argv`` in its own process group (away from the terminal's signals), stdin closed,
    stdout and stderr appended to ``log``; with ``die_with_parent`` the kernel SIGKILLs it when
    this process dies, so a crashed test run leaves nothing behind."""
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as dead: it only waits to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _pid_gone(pid: int) -> bool:
    return not pid_alive(pid)


def cmdline0(pid: int) -> str:
    """The program ``pid`` runs, from /proc (empty if it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except OSError:
        return ""


def log_tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file, or ``(no log)``."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Process:
    """A started process group leader: our child (``popen``) or one found again by pid (``exe``:
    the program it must still run, so a reused pid is not taken for it)."""

    name: str
    pid: int
    exe: str | None = None
    log: Path | None = None
    popen: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid) and (self.exe is None or cmdline0(self.pid) == self.exe)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def terminate(procs: Sequence[Process], grace: float = 10.0) -> None:
    """SIGTERM the processes' groups, SIGKILL whatever is left after ``grace`` seconds, and wait
    until each is gone (reaped when it is our child)."""
    for proc in procs:
        if proc.alive():
            _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in procs:
        if proc.alive():
            _signal_group(proc.pid, signal.SIGKILL)
    for proc in procs:
        if proc.popen is not None:
            proc.popen.wait()
        else:  # not our child (``down``): init reaps it; wait until it is gone
            wait_for(functools.partial(_pid_gone, proc.pid), 10.0, f"{proc.name} (pid {proc.pid}) to exit", 0.05)


def kill(proc: Process) -> None:
    """SIGKILL the group at once, as the kernel's OOM killer or a node failure would, and reap it."""
    _signal_group(proc.pid, signal.SIGKILL)
    if proc.popen is not None:
        proc.popen.wait()
