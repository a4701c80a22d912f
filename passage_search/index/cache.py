"""The embedding cache: the previous index generation's vectors, keyed by the text the model saw.

A vector depends only on the model and the exact text it embedded (heading path and prefix included, see
``splitter.embedding_text``), so a rebuild looks every text up by its sha256 and embeds only the ones the
previous generation did not hold. Nothing is stored besides the index itself: ``vectors.npy`` (any index
type) or the flat ``vectors.faiss`` and ``headings.faiss`` are the cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from passage_search.embed.base import Embedder
from passage_search.errors import PassageSearchError
from passage_search.index.manifest import HEADING_ARRAY, HEADING_LIST, HEADINGS, Manifest, read_manifest, resolve
from passage_search.passage import Passage, embedding_text, text_hash


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


def previous_vectors(out: Path, fingerprint: str) -> VectorCache:
    """The vectors of the index at ``out`` if it was built with the model ``fingerprint``; else an empty cache.

    A missing, foreign or damaged index is no error here: the build then embeds everything.
    """
    cache = VectorCache(fingerprint)
    try:
        manifest = read_manifest(out)
        gen = resolve(out)
    except PassageSearchError:
        return cache
    if manifest.model.fingerprint != fingerprint:
        return cache
    cache.dimension = manifest.model.dimension
    try:
        passages = _read_passages(gen / manifest.files["passages"])
        texts = [
            embedding_text(p, with_headings=manifest.embed_headings, prefix=manifest.passage_prefix)
            for p in passages
        ]
        _add_checked(cache, texts, _passage_vectors(gen, manifest))
    except Exception:  # any damage (files, json, numpy, FAISS) means only that this part is not reused
        cache.rows.clear()
    try:
        listed = (gen / manifest.files.get("heading_list", HEADING_LIST)).read_text("utf-8").splitlines()
        headings = [manifest.passage_prefix + str(json.loads(line)) for line in listed if line]
        array = gen / manifest.files.get("heading_array", HEADING_ARRAY)
        stored = (
            np.load(array, allow_pickle=False) if array.is_file()
            else _flat_vectors(gen / manifest.files.get("headings", HEADINGS))
        )
        _add_checked(cache, headings, stored)
    except Exception:
        pass
    return cache


def has_plain_vectors(out: Path) -> bool:
    """Whether the index at ``out`` holds its passage vectors as a readable array of the right shape.

    Only the array's header is read: searching never touches the file, so this is its one cheap check.
    """
    try:
        manifest = read_manifest(out)
        array = np.load(resolve(out) / manifest.files["vector_array"], mmap_mode="r", allow_pickle=False)
    except Exception:  # missing, foreign or damaged: all mean no
        return False
    return bool(array.shape == (manifest.passage_count, manifest.model.dimension) and array.dtype == np.float32)


def _read_passages(path: Path) -> list[Passage]:
    with open(path, encoding="utf-8") as fh:
        return [Passage.from_json(json.loads(line)) for line in fh if line.strip()]


def _passage_vectors(gen: Path, manifest: Manifest) -> np.ndarray:
    array = manifest.files.get("vector_array")
    if array and (gen / array).is_file():
        return np.load(gen / array, mmap_mode="r", allow_pickle=False)
    if manifest.index_type != "flat":
        # An approximate index may hold compressed vectors; reusing those would degrade every rebuild.
        raise ValueError(f"no plain vectors beside a {manifest.index_type} index")
    return _flat_vectors(gen / manifest.files["vectors"])


def _flat_vectors(path: Path) -> np.ndarray:
    import faiss  # imported here, like everywhere: loading FAISS is not free

    index = faiss.read_index(str(path))
    if not isinstance(index, faiss.IndexFlat):
        raise ValueError(f"{path} is not a flat index")
    return index.reconstruct_n(0, index.ntotal)


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
