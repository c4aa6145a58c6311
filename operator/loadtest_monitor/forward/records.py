"""What the decoders produce: the records of a simulation.log, both formats alike.

Times are milliseconds relative to the run start (the binary format stores them that way; the
text format's epoch milliseconds are converted), so windows are computed the same way for both.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A name the binary decoder no longer holds (its string cache is bounded): counted in `_other`.
#: U+FFFE is a noncharacter; a real name made of it alone would be counted there too.
FORGOTTEN = "\ufffe"


@dataclass(frozen=True, slots=True)
class RunHeader:
    """The first record of a log: who wrote it and when the run started."""

    log_format: str  # "text" (3.12 and older) or "binary" (3.13+)
    gatling_version: str
    simulation_class: str
    simulation_id: str | None  # text logs carry it; binary logs do not (the run folder name does)
    start_ms: int  # epoch milliseconds
    scenarios: tuple[str, ...] | None  # binary logs list every scenario up front; text logs do not


@dataclass(frozen=True, slots=True)
class UserRecord:
    scenario: str
    start: bool  # True: the user started, False: it ended
    time: int


@dataclass(frozen=True, slots=True)
class RequestRecord:
    groups: tuple[str, ...]  # outermost group first
    name: str
    start: int
    end: int
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class GroupRecord:
    groups: tuple[str, ...]
    start: int
    end: int
    cumulated_response_time: int
    ok: bool


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    message: str
    time: int


Record = UserRecord | RequestRecord | GroupRecord | ErrorRecord


class LogFormatError(Exception):
    """The log is not something we can decode faithfully: stop rather than send garbage."""


def sanitize_text(value: str) -> str:
    """What Gatling's own log reader does to names: line breaks and tabs become spaces."""
    if "\n" in value or "\r" in value or "\t" in value:
        return value.replace("\n", " ").replace("\r", " ").replace("\t", " ")
    return value
