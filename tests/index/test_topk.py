"""Top-k over vectors: k clamped, FAISS padding dropped, and FAISS agrees with exact numpy search."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from passage_search.index.topk import exact_top_k, knn


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def flat(vectors: np.ndarray) -> faiss.IndexFlatIP:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


class PaddedStub:
    """An index that answers like FAISS when fewer than k vectors qualify: -1 ids at the end."""

    ntotal = 10

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        rows = np.full((len(x), k), -1, dtype=np.int64)
        scores = np.full((len(x), k), -3.4e38, dtype=np.float32)
        rows[:, :2] = [7, 3]
        scores[:, :2] = [0.9, 0.5]
        return scores, rows


def test_k_is_clamped_to_the_index_size():
    rng = np.random.default_rng(0)
    corpus = unit_rows(rng, 3, 8)
    result = knn(flat(corpus), unit_rows(rng, 2, 8), k=10)
    assert [len(r) for r in result] == [3, 3]
    assert all(sorted(row for row, _ in r) == [0, 1, 2] for r in result)


def test_padding_ids_are_dropped():
    result = knn(PaddedStub(), np.zeros((2, 4), dtype=np.float32), k=5)
    assert result == [[(7, pytest.approx(0.9)), (3, pytest.approx(0.5))]] * 2


@pytest.mark.parametrize("k", [0, -3])
def test_k_below_one_gives_empty_lists(k):
    rng = np.random.default_rng(1)
    assert knn(flat(unit_rows(rng, 4, 8)), unit_rows(rng, 2, 8), k) == [[], []]


def test_empty_index_gives_empty_lists():
    assert knn(faiss.IndexFlatIP(8), np.ones((1, 8), dtype=np.float32), 5) == [[]]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 5, 50])
def test_faiss_agrees_with_exact_search(seed, k):
    rng = np.random.default_rng(seed)
    corpus, queries = unit_rows(rng, 200, 32), unit_rows(rng, 7, 32)
    got = knn(flat(corpus), queries, k)
    want = exact_top_k(queries, corpus, k)
    for g, w in zip(got, want, strict=True):
        assert [row for row, _ in g] == [row for row, _ in w]
        np.testing.assert_allclose([s for _, s in g], [s for _, s in w], rtol=1e-5, atol=1e-5)
        scores = [s for _, s in g]
        assert scores == sorted(scores, reverse=True)


def test_exact_top_k_is_best_first_and_correct():
    corpus = np.eye(4, dtype=np.float32)
    query = np.array([[0.1, 0.7, 0.0, 0.7]], dtype=np.float32)
    assert exact_top_k(query, corpus, 3) == [
        [(1, pytest.approx(0.7)), (3, pytest.approx(0.7)), (0, pytest.approx(0.1))]
    ]
