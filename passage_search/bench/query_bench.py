"""Query figures: warm end-to-end latency per mode with its stages, against a baseline, one client thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from passage_search.bench.common import percentiles, ratio

STAGES = ("analyze", "encode", "dense", "heading", "lexical", "fusion", "rerank")
RERANKED = "hybrid+rerank"


def run_queries(index: Path, questions: list[str], *, k: int = 10, backend: str | None = None,
                reranker: Path | None = None, rerank_depth: int = 20) -> dict[str, Any]:
    """Every mode's latency; with ``reranker``, also hybrid with the reranker on its fused top ``rerank_depth``."""
    import faiss
    import numpy as np

    from passage_search.embed.model_folder import default_model_path
    from passage_search.search.config import MODES, SearchConfig
    from passage_search.search.model import serve_one_question_at_a_time
    from passage_search.search.searcher import Searcher

    serve_one_question_at_a_time()
    searcher = Searcher(index, backend=backend, reranker=reranker, config=SearchConfig(rerank_depth=rerank_depth))
    for q in questions[:10]:
        searcher.search(q, k, rerank=reranker is not None)  # warm: the first encodes and BM25 calls are slow
    out: dict[str, Any] = {"questions": len(questions), "k": k, "passages": len(searcher.passages)}
    if reranker is not None:
        out["reranker"] = {"folder": str(reranker), "depth": rerank_depth}
    for mode in (*MODES, RERANKED) if reranker is not None else MODES:
        cfg = SearchConfig(rerank=mode == RERANKED, rerank_depth=rerank_depth)
        totals: list[float] = []
        stages: dict[str, list[float]] = {s: [] for s in STAGES}
        for q in questions:
            timings: dict[str, float] = {}
            start = time.perf_counter()
            searcher.search_batch([q], k, mode=mode.removesuffix("+rerank"), config=cfg, timings=timings)
            totals.append((time.perf_counter() - start) * 1000)
            for name, ms in timings.items():
                stages[name].append(ms)
        out[mode] = {
            "total_ms": percentiles(totals),
            "stages_ms": {name: percentiles(v) for name, v in stages.items() if v},
        }

    # The baseline a newcomer would write: sentence-transformers' encode with torch's default threads,
    # then FAISS Flat over the same passage vectors.
    from sentence_transformers import SentenceTransformer

    vectors = searcher.index.vectors
    flat = faiss.IndexFlatIP(vectors.d)
    flat.add(_all_vectors(index, vectors))
    model = SentenceTransformer(str(default_model_path()), device="cpu")
    for q in questions[:10]:
        flat.search(model.encode([q], normalize_embeddings=True), k)
    totals = []
    for q in questions:
        start = time.perf_counter()
        query = np.ascontiguousarray(model.encode([q], normalize_embeddings=True), dtype=np.float32)
        flat.search(query, k)
        totals.append((time.perf_counter() - start) * 1000)
    out["baseline"] = {"total_ms": percentiles(totals)}
    # How much of the exact neighbourhood the index type chosen for this size returns, on real questions.
    depth = min(100, flat.ntotal)
    queries = np.ascontiguousarray(model.encode(questions, normalize_embeddings=True), dtype=np.float32)
    _, exact = flat.search(queries, depth)
    _, found = vectors.search(queries, depth)
    out["vector_recall_vs_exact"] = {
        "index_type": searcher.manifest.index_type,
        "index_params": searcher.manifest.index_params,
        "recall@10": round(float(np.mean([len(set(e[:10]) & set(f[:10])) / 10 for e, f in zip(exact, found)])), 4),
        f"recall@{depth}": round(float(np.mean([len(set(e) & set(f)) / depth for e, f in zip(exact, found)])), 4),
    }
    out["ratio_hybrid_p50"] = ratio(out["hybrid"]["total_ms"]["p50"], out["baseline"]["total_ms"]["p50"])
    out["ratio_hybrid_p95"] = ratio(out["hybrid"]["total_ms"]["p95"], out["baseline"]["total_ms"]["p95"])
    return out


def _all_vectors(index: Path, vectors: Any) -> Any:
    """Every passage vector: the plain array beside the index if there is one, else FAISS's copy."""
    import numpy as np

    from passage_search.index.manifest import VECTOR_ARRAY, resolve
    from passage_search.index.store import plain_vectors

    return np.ascontiguousarray(plain_vectors(vectors, resolve(index) / VECTOR_ARRAY), dtype=np.float32)
