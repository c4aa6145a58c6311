"""Which decoder a simulation.log needs, from its first bytes."""

from __future__ import annotations

from loadtest_monitor.forward.binlog import BinaryLogDecoder
from loadtest_monitor.forward.records import LogFormatError
from loadtest_monitor.forward.textlog import TextLogDecoder

Decoder = TextLogDecoder | BinaryLogDecoder

# The text log starts with its RUN line, or with ASSERTION lines written before it.
_TEXT_STARTS = (b"RUN\t", b"ASSERTION\t")
_SNIFF_BYTES = max(len(s) for s in _TEXT_STARTS)


def choose_decoder(head: bytes, encoding: str = "utf-8", allow_untested_version: bool = True) -> Decoder | None:
    """The decoder for a log starting with `head`; None while too few bytes tell (wait for more)."""
    if not head:
        return None
    if head[0] == 0:  # a binary run record
        return BinaryLogDecoder(allow_untested_version)
    for start in _TEXT_STARTS:
        if head.startswith(start):
            return TextLogDecoder(encoding)
    if len(head) < _SNIFF_BYTES and any(s.startswith(head) for s in _TEXT_STARTS):
        return None
    raise LogFormatError(
        f"not a Gatling simulation.log: it starts with {head[:12]!r}, neither a binary run record "
        "(Gatling 3.13+) nor a RUN/ASSERTION line (Gatling 3.12 and older)"
    )
