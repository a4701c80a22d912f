"""Opening a searcher for a face that serves many questions (the page, the HTTP API).

The page opens a new searcher for each index generation; they all share one embedding model (weights,
tokenizer and ONNX Runtime session) instead of loading it again on every rebuild (``shared_embedder``).
"""

from __future__ import annotations

import threading
import weakref
from pathlib import Path

from passage_search.backends.milvus_store import vectors_from_env
from passage_search.embed.base import Embedder
from passage_search.embed.factory import resolve_backend
from passage_search.errors import PassageSearchError
from passage_search.index.manifest import ModelInfo, read_manifest
from passage_search.search.config import SearchConfig
from passage_search.search.model import serve_one_question_at_a_time
from passage_search.search.searcher import Searcher

# (model asked for, backend, the model the index records) -> the embedder a live searcher uses. Weak: once no
# searcher holds a model (its generations were dropped from the page's cache), it is freed with them.
_EmbedderKey = tuple[str, str, ModelInfo]
_embedders: weakref.WeakValueDictionary[_EmbedderKey, Embedder] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def serving_searcher(
    index_dir: Path | str, *, model: str | None = None, backend: str | None = None, searcher: Searcher | None = None,
    config: SearchConfig | None = None, reranker: Path | str | None = None,
) -> Searcher:
    """``searcher``, or the index at ``index_dir`` opened, with serving thread counts set and the model warm.

    The vectors come from the index folder, or from Milvus when PASSAGE_SEARCH_VECTOR_STORE=milvus
    (docs/milvus.md). The model is the one another searcher of this process already uses for the same model
    and backend, if any (``shared_embedder``). The first encode is slow: it is paid here, not on the first
    question.
    """
    serve_one_question_at_a_time()  # several people share two cores; see the function's measurements
    if searcher is None:
        key = _embedder_key(index_dir, model, backend)
        searcher = Searcher(index_dir, model=model, backend=backend, vectors=vectors_from_env, config=config,
                            reranker=reranker, embedder=shared_embedder(key))
        if key is not None:
            with _lock:
                _embedders.setdefault(key, searcher.embedder)  # it loaded the index: this model fits it
    searcher.search("warm up")
    if reranker is not None or searcher.config.rerank:
        searcher.search("warm up", rerank=True)  # the reranker's session starts here, not on a question
    return searcher


def shared_embedder(key: _EmbedderKey | None) -> Embedder | None:
    """The embedder a live searcher of this process uses for ``key`` (None: the new searcher makes its own).

    Each embedder holds the model's weights, tokenizer and ONNX Runtime session: a second one for a rebuilt
    index cost the page 250 MB of RSS (docs/performance.md, "Memory over rebuilds"). The key holds the model
    the index records (name, fingerprint, dimension, backend), so a generation built with another model gets
    its own; ``Searcher`` still checks that the model fits the index.
    """
    if key is None:
        return None
    with _lock:
        return _embedders.get(key)


def _embedder_key(index_dir: Path | str, model: str | None, backend: str | None) -> _EmbedderKey | None:
    try:
        info = read_manifest(Path(index_dir)).model
        return (model or "", resolve_backend(backend, recorded=info.backend), info)
    except PassageSearchError:
        return None  # no index, or a damaged one: Searcher says so in its own words
