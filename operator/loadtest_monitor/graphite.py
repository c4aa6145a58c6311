"""The Graphite contract: one source for the paths, the runner identity, the reserved names and the
one sanitiser of every name that becomes a path segment.

Both sides import it: the InfluxDB templates (render/gatling.py) rely on its layout, and the
forwarder (forward/) builds its lines with it. The paths, as Gatling 3.11.5's Graphite writer wrote
them, with the runner segment the published gatling.conf adds to the prefix:

    <prefix>.<runner>.<simulation>.users.<scenario|allUsers>.<active|waiting|done>
    <prefix>.<runner>.<simulation>.allRequests.<ok|ko|all>.<metric>
    <prefix>.<runner>.<simulation>[.<group>...].<request>.<ok|ko|all>.<metric>

Every segment is one Graphite segment: never empty, never holding the separator, and only
characters a real InfluxDB 1.x stores as they are (`segment`). Gatling <= 3.11's own writer is not
ours: it maps only space -> `_` and `.`/`\\` -> `-` and passes every other character through; this
module keeps that mapping for ordinary names, so the forwarder and Gatling's writer write the same
paths for them.
"""

from __future__ import annotations

import hashlib
import unicodedata

SEPARATOR = "."
STATUSES = ("ok", "ko", "all")

# -- reserved names ------------------------------------------------------------------------------
#: The segment after the simulation that starts a users line (also the users measurement).
USERS = "users"
USER_FIELDS = ("active", "waiting", "done")
#: Gatling's totals: a request or a scenario of that name would write the total's series.
ALL_REQUESTS = "allRequests"
ALL_USERS = "allUsers"
#: Where the forwarder counts the requests and scenarios beyond its cap of distinct names.
OVERFLOW = "_other"
_RESERVED_REQUESTS = frozenset({ALL_REQUESTS, OVERFLOW})
_RESERVED_SCENARIOS = frozenset({ALL_USERS, OVERFLOW})
#: Appended to a name that equals a reserved one, so it keeps its own series.
_RESERVED_SUFFIX = "_"

# -- path layout: segment positions the templates rely on -----------------------------------------
#: `<prefix>.<runner>.<simulation>` come first.
ROOT_SEGMENTS = 3
#: Where `users` stands in a users line, and where its field stands.
USERS_AT = 3
USER_FIELD_AT = 5
#: A request line outside groups: root, request, status, metric.
REQUEST_LINE_SEGMENTS = ROOT_SEGMENTS + 3

# -- whole-run summary: the paths of a run's final histograms ------------------------------------
#: At the end of a complete run the forwarder sends, per runner, its whole-run histograms and the
#: span of its run, under roots of their own (never the rootPathPrefix, which the CRD keeps apart
#: from these names), so each lands in a measurement of its own and no Gatling line can reach it:
#:
#:     run_summary.<runner>.<simulation>.<request>.<ok|ko>.<bucket> <count> <epoch>
#:     run_span.<runner>.<simulation>.<start_ms|end_ms|responses> <value> <epoch>
#:
#: The span lines come last and carry the number of responses the histograms hold: a reader
#: that finds them and the same sum of counts knows the summary arrived whole (UDP may lose lines).
#:
#: `<request>` is ONE segment: the request's group segments and its own segment joined by
#: SUMMARY_PATH_JOINER (escaped inside the parts), so the depth is fixed and one template reads
#: every line, however deep the groups. `<bucket>` (the lowest equivalent value of an HdrHistogram
#: bucket, forward/histogram.py) becomes a FIELD, not a tag: a tag would make a series of every
#: bucket (up to ~1,300 per request and status), a field keeps the series of the summary at one per
#: runner, request and status, fewer than the live lines of the same run already hold.
SUMMARY_ROOT = "run_summary"
SPAN_ROOT = "run_span"
SUMMARY_STATUSES = ("ok", "ko")
SPAN_FIELDS = ("start_ms", "end_ms", "responses")
#: Roots a rootPathPrefix may not take (the CRD refuses them, with `users`).
RESERVED_PREFIXES = frozenset({USERS, SUMMARY_ROOT, SPAN_ROOT})
SUMMARY_PATH_JOINER = "|"
_JOIN_ESCAPES = (("%", "%25"), (SUMMARY_PATH_JOINER, "%7C"))


def summary_request(groups: tuple[str, ...], name: str) -> str:
    """The one segment naming a request with its groups: `shop|cart|pay`. Each part is sanitised
    like the live paths' parts; `%` and the joiner inside a part are escaped so the parts split back."""
    parts = [*(segment(g) for g in groups), request_segment(name)]
    escaped = []
    for part in parts:
        for raw, code in _JOIN_ESCAPES:
            part = part.replace(raw, code)
        escaped.append(part)
    return SUMMARY_PATH_JOINER.join(escaped)


def summary_request_parts(value: str) -> tuple[str, ...]:
    """The sanitised groups and request of a summary request segment (inverse of the joining)."""
    out = []
    for part in value.split(SUMMARY_PATH_JOINER):
        for raw, code in reversed(_JOIN_ESCAPES):
            part = part.replace(code, raw)
        out.append(part)
    return tuple(out)


# -- runner identity -----------------------------------------------------------------------------
#: Where the runner name comes from, weakest first: HOCON keeps the last defined value, and an
#: undefined `${?VAR}` leaves the earlier one in place. Pod hostnames are single DNS labels.
RUNNER_ENV_VARS = ("HOSTNAME", "GATLING_RUNNER")
RUNNER_KEY = "loadtest-monitor.runner"
DEFAULT_RUNNER = "local"
MAX_RUNNER_CHARS = 63
_RUNNER_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def runner_segment(name: str) -> str:
    """Every byte outside `[A-Za-z0-9_-]` becomes `-`, at most 63 of them, empty -> `local`.

    Byte by byte, as the runner image's run.sh does with `tr`/`cut` in the C locale (a non-ASCII
    character of N UTF-8 bytes becomes N dashes), so the runner image and the forwarder always
    agree. The result is also a fixed point of `segment`.
    """
    try:
        raw = name.encode("utf-8", "surrogateescape")  # environment values are bytes on Linux
    except UnicodeEncodeError:  # a surrogate that no environment byte gives
        raw = name.encode("utf-8", "surrogatepass")
    reduced = "".join(chr(b) if b in _RUNNER_BYTES else "-" for b in raw[:MAX_RUNNER_CHARS])
    return reduced or DEFAULT_RUNNER


# -- the one sanitiser ---------------------------------------------------------------------------
#: Longer names are cut and get a digest of the whole name, so they stay apart; well below
#: InfluxDB's 64 KiB series key even for 8 groups of 4-byte characters.
MAX_SEGMENT_CHARS = 200
_DIGEST_CHARS = 8
#: What an empty name becomes (an empty segment would drop the tag, or shift the path).
EMPTY = "_"
#: Gatling 3.11.5's own mapping, kept for ordinary names.
_GATLING_MAP = {" ": "_", ".": "-", "\\": "-"}
#: Printable ASCII that InfluxDB's Graphite parser, templates and series keys keep as it is
#: (space, `.` and `\\` excepted: Gatling's mapping). Proven by tests/e2e/test_graphite_names.py.
_ASCII_KEPT = frozenset(chr(c) for c in range(0x21, 0x7F)) - {".", "\\"}
#: Outside ASCII: letters, marks and digits only, and only those assigned as such already in
#: Unicode 3.2, so that any InfluxDB build keeps them: with `validate-keys = true` InfluxDB drops
#: a line whose measurement or tags hold a character its Go tables do not call printable
#: (models.ValidKeyToken), and a character newer than its tables is not printable there.
_KEPT_CATEGORIES = ("L", "M", "N")


def _kept(char: str) -> bool:
    if char < "\x80":
        return char in _ASCII_KEPT
    return (
        unicodedata.category(char)[0] in _KEPT_CATEGORIES
        and unicodedata.ucd_3_2_0.category(char)[0] in _KEPT_CATEGORIES
    )


def _mapped(char: str) -> str:
    """The replacement of a character outside the allow-list: any whitespace (InfluxDB's Graphite
    parser splits a line on every Unicode form of it, strings.Fields) -> `_` as Gatling maps a
    space; anything else -> `-`."""
    gatling = _GATLING_MAP.get(char)
    if gatling is not None:
        return gatling
    return "_" if char.isspace() or unicodedata.category(char)[0] == "Z" else "-"


def segment(name: str) -> str:
    """One safe Graphite segment for any name (simulation, prefix part, group, request, scenario).

    Allow-list: printable ASCII but space, `.` and `\\`; outside ASCII, letters, marks and digits.
    Every other character is mapped (whitespace -> `_`, anything else -> `-`; so ordinary names
    get exactly Gatling 3.11.5's mapping). Never empty, never longer than MAX_SEGMENT_CHARS, and
    idempotent: segment(segment(x)) == segment(x).
    """
    if name.isascii() and name.isalnum() and len(name) <= MAX_SEGMENT_CHARS:
        return name  # the usual case, without a character loop
    out = "".join(char if _kept(char) else _mapped(char) for char in name)
    if len(out) > MAX_SEGMENT_CHARS:
        digest = hashlib.blake2s(out.encode("utf-8"), digest_size=_DIGEST_CHARS // 2).hexdigest()
        out = f"{out[: MAX_SEGMENT_CHARS - _DIGEST_CHARS - 1]}-{digest}"
    return out or EMPTY


def request_segment(name: str) -> str:
    """A request (or group) name's segment; a request called like Gatling's total or like our
    overflow series is kept apart from it (`allRequests` -> `allRequests_`)."""
    out = segment(name)
    return out + _RESERVED_SUFFIX if out in _RESERVED_REQUESTS else out


def scenario_segment(name: str) -> str:
    """A scenario's segment; a scenario called `allUsers` (or `_other`) is kept apart from it."""
    out = segment(name)
    return out + _RESERVED_SUFFIX if out in _RESERVED_SCENARIOS else out


def prefix_path(prefix: str) -> str:
    """The root path prefix as sent: each of its dot-separated parts made one safe segment (the
    published prefix `<rootPathPrefix>.<runner>` is already safe and stays as it is)."""
    return SEPARATOR.join(segment(part) for part in prefix.split(SEPARATOR))


# -- names Gatling derives -----------------------------------------------------------------------


def _java_double_text(value: float) -> str:
    """Gatling's removeDecimalPart: 95.0 -> "95", 99.9 -> "99.9" (Java prints the shortest form)."""
    return str(int(value)) if value == int(value) else repr(value)


def percentile_names(percentiles: tuple[float, ...]) -> tuple[str, ...]:
    return tuple(segment("percentiles" + _java_double_text(p)) for p in percentiles)


def simulation_id_of_class(class_name: str) -> str:
    """Gatling's default simulation id: the class' simple name, lower-cased, accents to `-`,
    every other character outside [a-zA-Z0-9-] to `-` (StringHelper.clean)."""
    simple = class_name.rsplit(".", 1)[-1].rsplit("$", 1)[-1]
    decomposed = unicodedata.normalize("NFD", simple).lower()
    out = []
    in_marks = False
    for char in decomposed:
        if unicodedata.combining(char):
            if not in_marks:
                out.append("-")
            in_marks = True
            continue
        in_marks = False
        out.append(char if char.isascii() and (char.isalnum() or char == "-") else "-")
    return "".join(out)


def simulation_id_of_run_folder(folder_name: str) -> str | None:
    """The run folder is `<simulationId>-<yyyyMMddHHmmssSSS>` (RunMessage.runId)."""
    head, sep, stamp = folder_name.rpartition("-")
    if sep and len(stamp) == 17 and stamp.isdigit() and head:
        return head
    return None
