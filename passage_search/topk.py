"""Top-k search as pure functions over arrays (no model, no files), testable with random vectors."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class VectorIndex(Protocol):
    ntotal: int

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def knn(index: VectorIndex, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """The ``k`` best (row, score) pairs per query, best first.

    k is clamped to the index size, and FAISS's -1 padding ids (returned when fewer than k vectors
    qualify) are dropped.
    """
    k = min(int(k), int(index.ntotal))
    if k <= 0 or len(queries) == 0:
        return [[] for _ in range(len(queries))]
    scores, rows = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return [
        [(int(r), float(s)) for r, s in zip(row_ids, row_scores, strict=True) if r != -1]
        for row_ids, row_scores in zip(rows, scores, strict=True)
    ]


def exact_top_k(queries: np.ndarray, corpus: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """Exact inner-product top-k with numpy: the reference the FAISS indexes are checked against."""
    k = min(int(k), len(corpus))
    if k <= 0 or len(queries) == 0:
        return [[] for _ in range(len(queries))]
    scores = queries @ corpus.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    results = []
    for qi, cand in enumerate(top):
        # Ties broken by row so the order is deterministic.
        order = sorted(cand.tolist(), key=lambda r: (-scores[qi, r], r))
        results.append([(int(r), float(scores[qi, r])) for r in order])
    return results
