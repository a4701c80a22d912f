"""Loading a reranker: the folder given, else the packaged one (``base.reranker_folder``), run by ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

from passage_search.rerank.base import Reranker, reranker_folder
from passage_search.rerank.onnx_reranker import OnnxReranker


def load_reranker(path: str | Path | None = None, *, threads: int | None = None) -> Reranker:
    """The reranker in ``path`` (None: the packaged folder); ModelError in one sentence if it cannot be used."""
    return OnnxReranker(reranker_folder(path), threads=threads)
