"""Expected statistics computed from RAW response times, independently of the product's histogram
code: HdrHistogram 2.2.1 with 2 significant digits, as Gatling records times (at least 1 ms).
Buckets are exact below 256 ms, then 2, 4, 8 ... ms wide (a power of two per doubling)."""

from __future__ import annotations

import math


def _width(value: int) -> int:
    return 1 if value < 256 else 1 << (value.bit_length() - 8)


def _lowest(value: int) -> int:
    return (value // _width(value)) * _width(value)


def percentile(raw: list[int], p: float) -> int:
    """The value of rank ceil(p% x n) (at least 1), widened to the highest value of its bucket."""
    values = sorted(max(t, 1) for t in raw)
    rank = max(1, math.ceil(math.nextafter(p, 0) * len(values) / 100))
    v = values[rank - 1]
    return _lowest(v) + _width(v) - 1


def minimum(raw: list[int]) -> int:
    return _lowest(max(min(raw), 1))


def maximum(raw: list[int]) -> int:
    v = max(max(raw), 1)
    return _lowest(v) + _width(v) - 1


def mean(raw: list[int]) -> float:
    """Each time counts as the middle of its bucket."""
    return sum(_lowest(max(t, 1)) + _width(max(t, 1)) // 2 for t in raw) / len(raw)
