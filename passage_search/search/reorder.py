"""Reordering the fused top hits with a reranker (a cross-encoder that reads question and passage together).

Only the first ``depth`` hits are scored, in one batch; the rest keep their fused order after them. Each
scored hit gets ``scores["rerank"]`` (the reranker's logit); ``Hit.score`` stays the fused score. With
``blend`` 0 the order is the reranker's alone; above 0 it is a reciprocal-rank mix of the reranker's rank
and the fused rank (``blend`` weighting the fused one), for when pure reranking loses what fusion knew.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from passage_search.passage import Hit, embedding_text
from passage_search.rerank.base import Reranker


def rerank_hits(question: str, hits: Sequence[Hit], reranker: Reranker, *, depth: int, blend: float = 0.0,
                rrf_k: float = 30.0) -> list[Hit]:
    """``hits`` (best first) with the first ``depth`` reordered by ``reranker``; ranks renumbered from 1."""
    head, tail = list(hits[:depth]), list(hits[depth:])
    if not head:
        return list(hits)
    scores = reranker.score(question, [embedding_text(h.passage) for h in head])
    by_rerank = sorted(range(len(head)), key=lambda i: (-float(scores[i]), i))
    rerank_rank = {i: r for r, i in enumerate(by_rerank, 1)}
    if blend > 0:
        def mixed(i: int) -> float:
            return 1.0 / (rrf_k + rerank_rank[i]) + blend / (rrf_k + i + 1)

        order = sorted(range(len(head)), key=lambda i: (-mixed(i), i))
    else:
        order = by_rerank
    out = [replace(head[i], scores={**head[i].scores, "rerank": float(scores[i])}) for i in order] + tail
    return [replace(h, rank=r) for r, h in enumerate(out, 1)]
