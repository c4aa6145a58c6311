"""What Grafana does to an InfluxQL dashboard query before sending it, for the variables and
macros our dashboard uses: $timeFilter, $__interval, $__interval_ms and query variables in
regex matches (`=~ /^$var$/`), formatted the way Grafana's InfluxDB data source formats them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

ALL = "$__all"
_REGEX_SPECIALS = re.compile(r"[\\^$*+?.()|\[\]{}/]")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def escape_regex(value: str) -> str:
    """Grafana's escapeRegex for values put into an InfluxQL regex."""
    return _REGEX_SPECIALS.sub(lambda m: "\\" + m.group(0), value)


def format_value(variable: dict[str, Any], selected: list[str], all_values: list[str]) -> str:
    """Grafana's regex formatting of a query variable's current value for the InfluxDB data source."""
    if selected == [ALL]:
        if variable.get("allValue"):
            return str(variable["allValue"])
        selected = all_values
    if not variable.get("multi") and not variable.get("includeAll"):
        return selected[0]
    escaped = [escape_regex(v) for v in selected]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def parse_interval(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r">?(\d+)(ms|s|m|h)", text)
    if not match:
        raise ValueError(text)
    return int(match.group(1)) * units[match.group(2)]


@dataclass
class TimeRange:
    start_ms: int
    end_ms: int
    max_data_points: int = 1000

    def interval_seconds(self, panel: dict[str, Any]) -> int:
        """$__interval: the range over the panel's data points, never below the panel's minimum."""
        raw = (self.end_ms - self.start_ms) / 1000 / self.max_data_points
        minimum = parse_interval(panel["interval"]) if panel.get("interval") else 0
        return max(1, math.ceil(max(raw, minimum)))


def interpolate(query: str, values: dict[str, str], time_range: TimeRange, interval_s: int) -> str:
    """The query as Grafana sends it: macros first, then ${var} / $var from `values`."""
    query = query.replace(
        "$timeFilter", f"time >= {time_range.start_ms}ms and time <= {time_range.end_ms}ms"
    )
    query = query.replace("$__interval_ms", str(interval_s * 1000)).replace("$__interval", f"{interval_s}s")

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"unresolved variable ${name} in {query!r}")
        return values[name]

    return _VARIABLE.sub(substitute, query)
