"""Five-field cron expressions (UTC): parsing with a clear error, and the next time one fires.

Small on purpose: `*`, numbers, `a-b` ranges, `,` lists and `/n` steps, the subset every cron
user writes. Day-of-month and day-of-week follow classic cron: when both are restricted, a day
matching either fires. Names (MON, JAN) and `@daily` shortcuts are refused with the fix.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# (name, lowest, highest) of each field, in order.
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
#: A schedule that never fires within this many days is refused (30 February, say); leap days fit.
SEARCH_DAYS = 366 * 8


class CronError(ValueError):
    """Why an expression is not a usable five-field cron schedule (one sentence with the fix)."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 is folded into 0)
    any_day: bool  # day of month is '*'
    any_weekday: bool  # day of week is '*'

    def day_matches(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        day_ok = day.day in self.days
        weekday_ok = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def next_after(self, t: dt.datetime) -> dt.datetime:
        """The first whole minute strictly after `t` (aware) at which the schedule fires, in UTC."""
        start = t.astimezone(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        for offset in range(SEARCH_DAYS):
            day = start.date() + dt.timedelta(days=offset)
            if not self.day_matches(day):
                continue
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    candidate = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
                    if candidate >= start:
                        return candidate
        raise CronError("the schedule never fires (a day that does not exist, such as 30 2 for 30 February?)")


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"the {name} field has step {step_text!r}: a step is a whole number above 0")
            step = int(step_text)
        if body == "*":
            first, last = low, high
        else:
            first_text, dash, last_text = body.partition("-")
            if not first_text.isdigit() or (dash and not last_text.isdigit()):
                raise CronError(
                    f"the {name} field has {part!r}: use '*', numbers, ranges a-b, lists a,b and steps /n "
                    "(no names such as MON or JAN)"
                )
            first = int(first_text)
            last = int(last_text) if dash else (high if step_text else first)
        if not (low <= first <= high and low <= last <= high and first <= last):
            raise CronError(f"the {name} field has {part!r}: values go from {low} to {high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> Cron:
    parts = expression.split()
    if len(parts) != len(FIELDS) or expression != " ".join(parts):
        raise CronError(
            f"{expression!r} is not a five-field cron expression: write 'minute hour day-of-month month "
            "day-of-week' separated by single spaces, such as '0 */6 * * *'"
        )
    sets = [_field(text, name, low, high) for text, (name, low, high) in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    cron = Cron(sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] == "*", parts[4] == "*")
    cron.next_after(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))  # refuses a schedule that never fires
    return cron
