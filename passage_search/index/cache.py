"""The embedding cache: the previous index generation's vectors, keyed by the text the model saw.

A vector depends only on the model and the exact text it embedded (heading path and prefix included, see
``splitter.embedding_text``), so a rebuild looks every text up by its sha256 and embeds only the ones the
previous generation did not hold. Nothing is stored besides the index itself: its plain vector arrays (or
its FAISS files), reached only through ``previous.Previous``, are the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from passage_search.embed.base import Embedder
from passage_search.index.previous import Previous
from passage_search.passage import embedding_text, text_hash


@dataclass
class VectorCache:
    """Vectors of one model, looked up by ``text_hash`` of the text embedded."""

    fingerprint: str = ""
    dimension: int = 0
    rows: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        for text, vector in zip(texts, vectors, strict=True):
            self.rows[text_hash(text)] = vector


@dataclass(frozen=True)
class Embedded:
    """Vectors in text order, and which texts were embedded now rather than taken from the cache."""

    vectors: np.ndarray
    fresh: np.ndarray  # one bool a text: True when the model embedded it in this call

    @property
    def embedded(self) -> int:
        return int(self.fresh.sum())

    @property
    def reused(self) -> int:
        return len(self.fresh) - self.embedded

    def part(self, start: int, stop: int) -> Embedded:
        """The vectors and counts of texts ``start:stop`` only."""
        return Embedded(self.vectors[start:stop], self.fresh[start:stop])


class EmbedEngine(Protocol):
    """How the texts the cache lacks get embedded: in this process (``local_engine``) or elsewhere
    (``distributed.RayEngine``). Everything around it (the cache, the build) is the same code for both."""

    def __call__(self, emb: Embedder, texts: list[str], *, batch_size: int, progress: bool) -> np.ndarray: ...


def local_engine(emb: Embedder, texts: list[str], *, batch_size: int, progress: bool) -> np.ndarray:
    """Embed in this process with the embedder itself."""
    return emb.embed(texts, batch_size=batch_size, progress=progress)


def embed_with_cache(
    emb: Embedder,
    texts: Sequence[str],
    cache: VectorCache,
    *,
    batch_size: int = 32,
    progress: bool = False,
    engine: EmbedEngine = local_engine,
) -> Embedded:
    """Vectors for ``texts``: cached ones copied, the rest embedded once each (duplicates share one) by ``engine``."""
    keys = [text_hash(t) for t in texts]
    missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in cache.rows}
    if missing:
        fresh = engine(emb, list(missing.values()), batch_size=batch_size, progress=progress)
        if cache.rows and fresh.shape[1] != cache.dimension:
            # The previous index lied about its vectors' size: trust none of them.
            cache.rows.clear()
            return embed_with_cache(emb, texts, cache, batch_size=batch_size, progress=progress, engine=engine)
        cache.add(list(missing.values()), fresh)
        cache.dimension = int(fresh.shape[1])
    if not texts:
        return Embedded(np.zeros((0, cache.dimension or emb.dimension), dtype=np.float32), np.zeros(0, dtype=bool))
    vectors = np.stack([cache.rows[k] for k in keys]).astype(np.float32, copy=False)
    return Embedded(np.ascontiguousarray(vectors), np.array([k in missing for k in keys], dtype=bool))


def previous_vectors(previous: Previous | None, fingerprint: str) -> VectorCache:
    """The vectors of the previous generation if it was built with the model ``fingerprint``; else an empty cache.

    A missing, foreign or damaged index is no error here: the build then embeds everything.
    """
    cache = VectorCache(fingerprint)
    if previous is None or previous.manifest.model.fingerprint != fingerprint:
        return cache
    m = previous.manifest
    cache.dimension = m.model.dimension
    try:
        texts = [embedding_text(p, with_headings=m.embed_headings, prefix=m.passage_prefix) for p in previous.passages]
        _add_checked(cache, texts, previous.passage_vectors())
    except Exception:  # any damage (files, json, numpy, FAISS) means only that this part is not reused
        cache.rows.clear()
    try:
        _add_checked(cache, [m.passage_prefix + h for h in previous.heading_texts()], previous.heading_vectors())
    except Exception:
        pass
    return cache


def _add_checked(cache: VectorCache, texts: list[str], vectors: np.ndarray) -> None:
    """Add ``vectors`` if they fit ``texts`` and look like L2-normalised vectors; else add nothing."""
    if vectors.ndim != 2 or vectors.shape != (len(texts), cache.dimension):
        raise ValueError(f"vectors of shape {vectors.shape} for {len(texts)} texts of {cache.dimension} dims")
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1)
    # Normalised vectors have length 1 (0 for a text the model maps to nothing); anything else is damage.
    if not np.all(np.isfinite(norms)) or np.any(norms > 1.001):
        raise ValueError("stored vectors are not normalised")
    cache.add(texts, np.array(vectors))
