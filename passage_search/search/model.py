"""The model that embeds questions the way the index embedded its passages, and the threads it serves on."""

from __future__ import annotations

import os
from pathlib import Path

from passage_search.embed.base import DEFAULT_MODEL, Embedder
from passage_search.embed.factory import make_embedder, resolve_backend
from passage_search.errors import IndexMismatchError
from passage_search.index.manifest import BUILD_HINT
from passage_search.index.store import LoadedIndex


def serve_one_question_at_a_time() -> None:
    """Thread counts for every face that serves questions: one torch and one FAISS thread, two for ONNX Runtime.

    On two cores, more torch or FAISS threads per question only contend as soon as anything else runs, while
    ONNX Runtime's pool (not spinning) shares work out as threads come free (figures: docs/performance.md).
    """
    from passage_search.embed.base import set_threads
    from passage_search.index.ann import set_threads as set_faiss_threads

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    set_threads(1, onnx=min(2, cpus))
    set_faiss_threads(1)


def embedder_for(index: LoadedIndex, model: str | None, backend: str | None = None) -> Embedder:
    """The configured model and backend, or those recorded in the index when none is configured."""
    info = index.manifest.model
    if model is None:
        model = None if info.name == DEFAULT_MODEL else (info.path or info.name)
    return make_embedder(model, backend=resolve_backend(backend, recorded=info.backend))


def check_compatible(index: LoadedIndex, embedder: Embedder, root: Path) -> None:
    """Refuse, in one sentence naming the fix, a model whose vectors cannot be compared with the index's."""
    info = index.manifest.model
    if embedder.fingerprint != info.fingerprint and _same_model(embedder.fingerprint, info.fingerprint):
        built, configured = info.backend or "torch", getattr(embedder, "backend", "torch")
        raise IndexMismatchError(
            f"The index at {root} was built with the {built} backend, whose vectors differ from the {configured} "
            f"backend's; search it with --backend {built}, or rebuild it with: {BUILD_HINT} --backend {configured}"
        )
    if embedder.fingerprint != info.fingerprint:
        raise IndexMismatchError(
            f"The index at {root} was built with model {info.name} ({info.fingerprint}) but the configured "
            f"model is {embedder.name} ({embedder.fingerprint}); rebuild it with: {BUILD_HINT} --model ..."
        )
    if embedder.dimension != info.dimension:
        raise IndexMismatchError(
            f"The index at {root} holds {info.dimension}-d vectors but the model {embedder.name} makes "
            f"{embedder.dimension}-d ones; rebuild it with: {BUILD_HINT}"
        )


def _same_model(a: str, b: str) -> bool:
    """Whether two fingerprints name one model run by backends with different vectors (fp32 / int8)."""
    return a.removesuffix("-int8") == b.removesuffix("-int8")
