"""Small statistics helpers: percentiles of samples, medians of repeats."""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence


def percentile(sorted_samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted samples."""
    if not sorted_samples:
        raise ValueError("no samples")
    rank = max(1, min(len(sorted_samples), int(round(q / 100.0 * len(sorted_samples) + 0.5))))
    return float(sorted_samples[rank - 1])


def summarize_ns(samples_ns: Sequence[int]) -> Dict[str, float]:
    """mean/p50/p99 in microseconds of per-op times in nanoseconds, and how many there were (n)."""
    s = sorted(samples_ns)
    return {
        "mean_us": sum(s) / len(s) / 1000.0,
        "p50_us": percentile(s, 50) / 1000.0,
        "p99_us": percentile(s, 99) / 1000.0,
        "n": len(s),
    }


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def median_of(dicts: List[Dict[str, float]]) -> Dict[str, float]:
    """Field-wise median of repeats that share keys."""
    return {k: median([d[k] for d in dicts]) for k in dicts[0]}


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None or b is None or b == 0:
        return None
    return a / b
