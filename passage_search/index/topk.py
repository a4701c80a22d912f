"""Top-k search as pure functions over arrays (no model, no files), testable with random vectors."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class VectorIndex(Protocol):
    ntotal: int

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def knn(index: VectorIndex, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """The ``k`` best (row, score) pairs per query, best first.

    k is clamped to the index size, and FAISS's -1 padding ids (returned when fewer than k vectors
    qualify, or an IVF index's probed lists hold fewer than k) are dropped. An HNSW index is searched
    with efSearch raised to k for this call only (its beam must hold k results; the index itself is not
    changed, so concurrent searches with different k are safe).
    """
    k = min(int(k), int(index.ntotal))
    if k <= 0 or len(queries) == 0:
        return [[] for _ in range(len(queries))]
    x = np.ascontiguousarray(queries, dtype=np.float32)
    hnsw = getattr(index, "hnsw", None)
    if hnsw is not None and int(hnsw.efSearch) < k:
        import faiss  # only an HNSW index gets here, so FAISS is already loaded

        hnsw_index: Any = index  # a FAISS index: its search takes SWIG search parameters
        scores, rows = hnsw_index.search(x, k, params=faiss.SearchParametersHNSW(efSearch=k))  # type: ignore[attr-defined]
    else:
        scores, rows = index.search(x, k)
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
