"""Graphite path names as Gatling 3.11.5's Graphite writer built them (OldGraphitePathPattern).

    <rootPathPrefix>.<simulationId>.users.<scenario|allUsers>.<active|waiting|done>
    <rootPathPrefix>.<simulationId>.allRequests.<ok|ko|all>.<metric>
    <rootPathPrefix>.<simulationId>[.<group>...].<request>.<ok|ko|all>.<metric>

Every segment but the prefix is sanitised: space -> `_`, `.` and `\\` -> `-`.
"""

from __future__ import annotations

import unicodedata

STATUSES = ("ok", "ko", "all")


def sanitize(segment: str) -> str:
    return segment.replace(" ", "_").replace(".", "-").replace("\\", "-")


def _java_double_text(value: float) -> str:
    """Gatling's removeDecimalPart: 95.0 -> "95", 99.9 -> "99.9" (Java prints the shortest form)."""
    return str(int(value)) if value == int(value) else repr(value)


def percentile_names(percentiles: tuple[float, ...]) -> tuple[str, ...]:
    return tuple(sanitize("percentiles" + _java_double_text(p)) for p in percentiles)


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
