"""Run boundaries on the dashboard, kept in the monitor's InfluxDB (pure line building).

Grafana's own annotations live in Grafana's database, which the monitor's Grafana keeps in an
emptyDir: a restart would lose them. These points live next to the data they describe instead,
and the provisioned dashboard reads them back with an annotation query (render/dashboard.py):

- `run_events`: one point when a run starts and one when it ends, tags `namespace`, `monitor`,
  `run`, `event` (start | end) and, at the end, `verdict`; string fields `title` and `text` (what
  the annotation shows) and `verdict`. When the run ends, its start point also gets the field
  `end_ms` (InfluxDB merges the fields of a point written again at the same series and time), so
  the start annotation becomes a region over the run's whole time range.
- `run_runners`: one point per runner of a run (tags `namespace`, `monitor`, `run`, `runner`), so
  the dashboard's `run` variable can list the runner tags of a run and narrow every panel to them.

The controller calls `start_lines` when the run's runners start and `end_lines` with the verdict,
and sends them with `InfluxClient.write_lines` (runs/influx.py); runners that appear mid-run can be
added with `runner_lines`. Writing the same lines twice is harmless: a point with the same
series and time overwrites itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from loadtest_monitor.render.gatling import TAG_RUNNER

EVENTS_MEASUREMENT = "run_events"
RUNNERS_MEASUREMENT = "run_runners"

TAG_NAMESPACE = "namespace"
TAG_MONITOR = "monitor"
TAG_RUN = "run"
TAG_EVENT = "event"
TAG_VERDICT = "verdict"
EVENT_START = "start"
EVENT_END = "end"

#: The start point's field holding the run's end (epoch ms): Grafana's `timeEndColumn`.
FIELD_END_MS = "end_ms"

#: Longer annotation texts are cut: a message naming every failed criterion stays readable.
MAX_TEXT_CHARS = 1000


def _tag(value: str, what: str) -> str:
    """A tag value in line protocol: `,`, `=` and space escaped; an empty tag is refused, since
    InfluxDB drops empty tags and the point would lose its run."""
    if not value:
        raise ValueError(f"{what} must not be empty (it becomes an InfluxDB tag)")
    if "\n" in value or "\\" in value:
        raise ValueError(f"{what} {value!r}: a Kubernetes name never holds a newline or a backslash")
    return value.replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def _string_field(value: str) -> str:
    """A string field: quotes and backslashes escaped; newlines folded (one point is one line)."""
    text = " ".join(value.split("\n"))[:MAX_TEXT_CHARS]
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _timestamp_ns(at: dt.datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("the event time must carry its time zone (a naive datetime is ambiguous)")
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1_000


def _run_tags(namespace: str, monitor: str, run: str) -> str:
    # Sorted by key, as InfluxDB stores them (saves it the sort).
    return (
        f"{TAG_MONITOR}={_tag(monitor, 'monitor')},{TAG_NAMESPACE}={_tag(namespace, 'namespace')},"
        f"{TAG_RUN}={_tag(run, 'run')}"
    )


def runner_lines(namespace: str, monitor: str, run: str, runners: Iterable[str], at: dt.datetime) -> list[str]:
    """One `run_runners` point per runner (sorted, each once): the run -> runner tags mapping."""
    tags, ts = _run_tags(namespace, monitor, run), _timestamp_ns(at)
    return [
        f"{RUNNERS_MEASUREMENT},{tags},{TAG_RUNNER}={_tag(r, 'runner')} present=1i {ts}" for r in sorted(set(runners))
    ]


def start_lines(
    namespace: str, monitor: str, run: str, at: dt.datetime, runners: Iterable[str] = ()
) -> list[str]:
    """The start annotation, and the runners known at the start (their Graphite runner names)."""
    names = sorted(set(runners))
    text = f"{namespace}/{run} started" + (f" with {len(names)} runner(s): {', '.join(names)}" if names else "")
    event = (
        f"{EVENTS_MEASUREMENT},{TAG_EVENT}={EVENT_START},{_run_tags(namespace, monitor, run)} "
        f"text={_string_field(text)},title={_string_field(f'{run} started')} {_timestamp_ns(at)}"
    )
    return [event, *runner_lines(namespace, monitor, run, names, at)]


def end_lines(
    namespace: str,
    monitor: str,
    run: str,
    at: dt.datetime,
    verdict: str,
    *,
    reason: str = "",
    message: str = "",
    runners: Iterable[str] = (),
    start: dt.datetime | None = None,
) -> list[str]:
    """The end annotation with the verdict ("Passed", "Failed", "Error"), its reason and message.

    `start`: when the run started (the time given to start_lines): its start point gets `end_ms`,
    and the runners are written at that time too. `runners`: every runner that sent data."""
    title = f"{run} {verdict}"
    text = ": ".join(part for part in (verdict, reason, message) if part)
    tags = _run_tags(namespace, monitor, run)
    lines = [
        f"{EVENTS_MEASUREMENT},{TAG_EVENT}={EVENT_END},{tags},{TAG_VERDICT}={_tag(verdict, 'verdict')} "
        f"text={_string_field(text)},title={_string_field(title)},verdict={_string_field(verdict)} "
        f"{_timestamp_ns(at)}"
    ]
    if start is not None:
        if start > at:
            raise ValueError(f"the run's start ({start.isoformat()}) is after its end ({at.isoformat()})")
        end_ms = _timestamp_ns(at) // 1_000_000
        start_point = f"{EVENTS_MEASUREMENT},{TAG_EVENT}={EVENT_START},{tags}"
        lines.append(f"{start_point} {FIELD_END_MS}={end_ms}i {_timestamp_ns(start)}")
    return [*lines, *runner_lines(namespace, monitor, run, runners, start or at)]
