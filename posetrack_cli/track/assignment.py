"""One-to-one assignment of new poses to tracks from a similarity matrix: Hungarian (lap) or greedy."""

from __future__ import annotations

import lap
import numpy as np


def hungarian(similarity: np.ndarray, min_similarity: float) -> list[tuple[int, int]]:
    """Maximum-total-similarity matching (MDPN: Hungarian instead of greedy) keeping pairs >= ``min_similarity``.

    (N, M) -> list of (row, col) pairs sorted by row. Solved by ``lap.lapjv`` on cost = 1 - similarity with a cost
    limit, so a pair below the minimum is never forced.
    """
    sim = np.asarray(similarity, np.float64)
    if sim.size == 0:
        return []
    _, rows_to_cols, _ = lap.lapjv(1.0 - sim, extend_cost=True, cost_limit=1.0 - min_similarity + 1e-9)
    return [(int(r), int(c)) for r, c in enumerate(rows_to_cols) if c >= 0 and sim[r, c] >= min_similarity]


def greedy(similarity: np.ndarray, min_similarity: float) -> list[tuple[int, int]]:
    """Greedy matching (Xiao et al.): repeatedly take the most similar free pair. Ties go to the lower index."""
    sim = np.asarray(similarity, np.float64)
    if sim.size == 0:
        return []
    order = np.argsort(-sim, axis=None, kind="stable")
    used_rows, used_cols, pairs = set(), set(), []
    for flat in order:
        r, c = divmod(int(flat), sim.shape[1])
        if sim[r, c] < min_similarity:
            break
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
    return sorted(pairs)


MATCHERS = {"hungarian": hungarian, "greedy": greedy}
