"""Opening a searcher for a face that serves many questions (the page, the HTTP API)."""

from __future__ import annotations

from pathlib import Path

from passage_search.backends.milvus_store import vectors_from_env
from passage_search.search.config import SearchConfig
from passage_search.search.model import serve_one_question_at_a_time
from passage_search.search.searcher import Searcher


def serving_searcher(
    index_dir: Path | str, *, model: str | None = None, backend: str | None = None, searcher: Searcher | None = None,
    config: SearchConfig | None = None, reranker: Path | str | None = None,
) -> Searcher:
    """``searcher``, or the index at ``index_dir`` opened, with serving thread counts set and the model warm.

    The vectors come from the index folder, or from Milvus when PASSAGE_SEARCH_VECTOR_STORE=milvus
    (docs/milvus.md). The first encode is slow: it is paid here, not on the first question.
    """
    serve_one_question_at_a_time()  # several people share two cores; see the function's measurements
    if searcher is None:
        searcher = Searcher(index_dir, model=model, backend=backend, vectors=vectors_from_env, config=config,
                            reranker=reranker)
    searcher.search("warm up")
    if reranker is not None or searcher.config.rerank:
        searcher.search("warm up", rerank=True)  # the reranker's session starts here, not on a question
    return searcher
