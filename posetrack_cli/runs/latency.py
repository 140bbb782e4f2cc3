"""Per-frame latency of a live run in constant memory: a histogram of 1 ms bins, so that a run of days keeps its
percentiles without keeping every value."""

from __future__ import annotations

import numpy as np

BIN_MS = 1.0  # resolution of the percentiles
MAX_MS = 120_000.0  # latencies above this count in the last bin (reported as >= MAX_MS)


class LatencyHistogram:
    """Latencies in milliseconds; ``percentile`` reads them back to within ``BIN_MS``."""

    def __init__(self) -> None:
        self.counts = np.zeros(int(MAX_MS / BIN_MS) + 1, np.int64)
        self.count = 0
        self.max_ms = 0.0

    def add(self, ms: float) -> None:
        self.counts[min(len(self.counts) - 1, max(0, int(ms / BIN_MS)))] += 1
        self.count += 1
        self.max_ms = max(self.max_ms, ms)

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) in ms, the upper edge of its bin; None before any value."""
        if not self.count:
            return None
        rank = int(np.ceil(q / 100.0 * self.count))
        index = int(np.searchsorted(np.cumsum(self.counts), max(rank, 1)))
        return round(min((index + 1) * BIN_MS, self.max_ms), 1)

    def summary(self) -> dict:
        """p50/p95/max in ms (None when empty), as written in a live run's end line."""
        p50, p95 = self.percentile(50), self.percentile(95)
        return {"latency_p50_ms": p50, "latency_p95_ms": p95,
                "latency_max_ms": round(self.max_ms, 1) if self.count else None}
