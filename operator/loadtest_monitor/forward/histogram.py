"""Response-time statistics exactly as Gatling 3.11.5's Graphite writer computed them.

Gatling recorded each response time (at least 1 ms) in an HdrHistogram `IntCountsHistogram(2)`
(2 significant digits, version 2.2.1) and sent, per window: count, min, max, mean, stdDev and four
percentiles, each cut to an int. Those values are not the raw times: they are the histogram's
bucket values. With 2 significant digits there are 256 sub-buckets: times below 256 ms are exact,
from 256 to 511 ms buckets are 2 ms wide, then 4 ms, 8 ms and so on. The facts used here (from
HdrHistogram 2.2.1's AbstractHistogram):

- bucket of v: b = 0 for v < 256, else bit_length(v) - 8; lowest equivalent value (v >> b) << b,
  range size 1 << b, highest equivalent = lowest + size - 1, median equivalent = lowest + size // 2;
- min = lowest equivalent of the smallest value, max = highest equivalent of the largest;
- mean = sum(median equivalent x count) / total, summed in value order, as doubles;
- stdDev = sqrt(sum((median equivalent - mean)^2 x count) / total);
- percentile p: count = max(1, ceil(nextDown(p) x total / 100)), then the highest equivalent value
  of the first bucket (in value order) where the running count reaches it.

A histogram here is a dict: lowest equivalent value -> count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Histogram = dict[int, int]


def bucket_of(value: int) -> int:
    """The lowest value equivalent to `value` (a response time in ms, already at least 1)."""
    if value < 256:
        return value
    shift = value.bit_length() - 8
    return (value >> shift) << shift


def _size(lowest: int) -> int:
    return 1 if lowest < 256 else 1 << (lowest.bit_length() - 8)


def record(histogram: Histogram, response_time: int) -> None:
    key = bucket_of(response_time if response_time > 1 else 1)
    histogram[key] = histogram.get(key, 0) + 1


def merged(a: Histogram, b: Histogram) -> Histogram:
    out = dict(a)
    for key, count in b.items():
        out[key] = out.get(key, 0) + count
    return out


@dataclass(frozen=True)
class Metrics:
    count: int
    min: int
    max: int
    mean: int
    std_dev: int
    percentiles: tuple[int, ...]


def metrics(histogram: Histogram, percentiles: tuple[float, ...]) -> Metrics | None:
    """What Gatling sent for one status in one window; None when nothing was recorded."""
    if not histogram:
        return None
    keys = sorted(histogram)
    total = sum(histogram.values())
    mean = _mean(histogram, keys, total)
    deviation_total = 0.0
    for key in keys:
        deviation = float(key + (_size(key) >> 1)) - mean
        deviation_total += (deviation * deviation) * histogram[key]
    std_dev = math.sqrt(deviation_total / total)
    last = keys[-1]
    return Metrics(
        count=total,
        min=keys[0],
        max=last + _size(last) - 1,
        mean=int(mean),
        std_dev=int(std_dev),
        percentiles=tuple(_value_at_percentile(histogram, keys, total, p) for p in percentiles),
    )


def mean(histogram: Histogram) -> float:
    """The mean as HdrHistogram computes it, before Gatling cuts it to an int (0.0 when empty)."""
    if not histogram:
        return 0.0
    return _mean(histogram, sorted(histogram), sum(histogram.values()))


def _mean(histogram: Histogram, keys: list[int], total: int) -> float:
    total_value = 0.0
    for key in keys:
        total_value += (key + (_size(key) >> 1)) * float(histogram[key])
    return (total_value * 1.0) / total


def _value_at_percentile(histogram: Histogram, keys: list[int], total: int, percentile: float) -> int:
    requested = min(max(math.nextafter(percentile, -math.inf), 0.0), 100.0)
    wanted = max(math.ceil((requested * total) / 100.0), 1)
    running = 0
    for key in keys:
        running += histogram[key]
        if running >= wanted:
            return key if percentile == 0.0 else key + _size(key) - 1
    return 0
