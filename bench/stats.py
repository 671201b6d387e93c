"""Percentiles and the summaries the results file holds."""

from __future__ import annotations

import math
from collections.abc import Sequence

ROUND = 3  # figures are kept to the microsecond (ms with three decimals) or the kilobyte


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); ``q`` in 0..100."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """p50/p95/p99/mean/max in milliseconds of durations given in seconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "samples": len(ms),
        "p50_ms": round(percentile(ms, 50), ROUND),
        "p95_ms": round(percentile(ms, 95), ROUND),
        "p99_ms": round(percentile(ms, 99), ROUND),
        "mean_ms": round(sum(ms) / len(ms), ROUND) if ms else math.nan,
        "max_ms": round(max(ms), ROUND) if ms else math.nan,
    }


def difference(a: dict[str, float | int], b: dict[str, float | int]) -> dict[str, float]:
    """``a - b`` for each percentile (the relay's overhead over the direct path)."""
    return {key: round(float(a[key]) - float(b[key]), ROUND) for key in ("p50_ms", "p95_ms", "p99_ms")}
