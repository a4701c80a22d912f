"""The retrievers: each ranks passage rows for a batch of questions through one interface.

``dense``: the question's vector against the passage vectors; ``heading``: against one vector per heading
path, every passage under a heading taking its score; ``lexical``: BM25 over the analysed words. A filtered
search (``allowed`` rows) is exact over those rows: an approximate index cannot filter well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from passage_search.index.lexical import LexicalIndex
from passage_search.index.store import LoadedIndex
from passage_search.index.topk import VectorIndex, exact_top_k, knn
from passage_search.search.fusion import Ranking
from passage_search.search.query import QueryForms


@dataclass(frozen=True)
class Query:
    """A question ready for retrieval: its analysed forms and, in the dense modes, its vector."""

    forms: QueryForms
    vector: np.ndarray | None = None


class Retriever(Protocol):
    name: str

    def rank(self, queries: Sequence[Query], depth: int, allowed: np.ndarray | None) -> list[Ranking]:
        """The ``depth`` best (row, score) pairs per question, best first; only ``allowed`` rows if given."""
        ...


def _vectors(queries: Sequence[Query]) -> np.ndarray:
    vectors = [q.vector for q in queries]
    if any(v is None for v in vectors):
        raise ValueError("a dense retriever needs every question encoded")
    return np.stack([v for v in vectors if v is not None])


def exact_within(vectors: np.ndarray, rows: np.ndarray, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """Exact top-k over ``vectors[rows]`` only, as (row, score) with the original row numbers."""
    found = exact_top_k(queries, np.asarray(vectors[rows], dtype=np.float32), k)
    return [[(int(rows[i]), s) for i, s in ranking] for ranking in found]


class DenseRetriever:
    name = "dense"

    def __init__(self, index: LoadedIndex, store: VectorIndex) -> None:
        self.index = index
        self.store = store  # the index's FAISS index, or another store of the same rows (Milvus)

    def rank(self, queries: Sequence[Query], depth: int, allowed: np.ndarray | None) -> list[Ranking]:
        vectors = _vectors(queries)
        if allowed is None:
            return list(knn(self.store, vectors, depth))
        return list(exact_within(self.index.vector_array, allowed, vectors, depth))


class HeadingRetriever:
    name = "heading"

    def __init__(self, index: LoadedIndex) -> None:
        self.index = index

    def rank(self, queries: Sequence[Query], depth: int, allowed: np.ndarray | None) -> list[Ranking]:
        vectors = _vectors(queries)
        if allowed is None:
            found = knn(self.index.headings, vectors, depth)
            return [self._rows(f, depth, None) for f in found]
        keep = set(allowed.tolist())
        ids = [h for h, rows in enumerate(self.index.heading_rows) if not keep.isdisjoint(rows)]
        found = exact_within(self.index.heading_array, np.array(ids, dtype=np.int64), vectors, depth)
        return [self._rows(f, depth, keep) for f in found]

    def _rows(self, headings: Ranking, depth: int, keep: set[int] | None) -> list[tuple[int, float]]:
        """Passages in the order of their heading's similarity, document order within a heading."""
        rows: list[tuple[int, float]] = []
        for heading, score in headings:
            under = self.index.heading_rows[heading]
            if keep is not None:
                under = [row for row in under if row in keep]
            rows.extend((row, score) for row in under[: depth - len(rows)])
            if len(rows) >= depth:
                break
        return rows


class LexicalRetriever:
    name = "lexical"

    def __init__(self, lexical: LexicalIndex) -> None:
        self.lexical = lexical

    def rank(self, queries: Sequence[Query], depth: int, allowed: np.ndarray | None) -> list[Ranking]:
        return [self.lexical.search(q.forms.terms, depth, within=allowed) for q in queries]
