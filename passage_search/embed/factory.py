"""Choosing an embedding backend for a model: torch, ONNX Runtime fp32 (the default) or int8."""

from __future__ import annotations

import os

from passage_search.embed.base import BACKEND_ENV, BACKENDS, DEFAULT_BACKEND, Embedder
from passage_search.errors import ModelError


def resolve_backend(backend: str | None = None, *, recorded: str = "") -> str:
    """The backend to use: ``backend``, else $PASSAGE_SEARCH_BACKEND, else one that makes the vectors an index
    ``recorded`` (int8 for an int8 index, fp32 ONNX for a torch or fp32 one), else the default."""
    compatible = {"onnx-int8": "onnx-int8", "onnx": "onnx", "torch": "onnx"}.get(recorded, DEFAULT_BACKEND)
    chosen = backend or os.environ.get(BACKEND_ENV) or compatible
    if chosen not in BACKENDS:
        raise ModelError(f"Unknown embedding backend {chosen!r}; choose one of {', '.join(BACKENDS)}.")
    return chosen


def make_embedder(model: str | None = None, *, backend: str | None = None, threads: int | None = None) -> Embedder:
    """The embedder for ``model`` (a local folder, or None for the packaged default) on ``backend``.

    Args:
        backend: "torch", "onnx" or "onnx-int8"; None: $PASSAGE_SEARCH_BACKEND, else ``DEFAULT_BACKEND``.
        threads: inference threads; None: the count given to ``set_threads``, else the library default.
    """
    chosen = resolve_backend(backend)
    # Imported here: the torch backend needs no onnxruntime, the ONNX one no torch.
    if chosen == "torch":
        from passage_search.embed.torch_backend import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(model, threads=threads)
    from passage_search.embed.onnx_backend import OnnxEmbedder

    return OnnxEmbedder(model, quantized=chosen == "onnx-int8", threads=threads)
