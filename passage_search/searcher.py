"""The searcher: a loaded index plus the model that embeds questions the same way."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from .embedder import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder
from .errors import IndexMismatchError, QueryError
from .index import BUILD_HINT, LoadedIndex, Manifest, load_index
from .passage import Hit, Passage
from .topk import knn

MAX_QUERY_CHARS = 1000


def clean_query(query: str) -> str:
    """The question as it will be searched: control characters dropped, white space folded, bounded."""
    if not isinstance(query, str):
        raise QueryError("The question must be text.")
    text = "".join(" " if unicodedata.category(ch) in {"Cc", "Cs"} else ch for ch in query)
    text = " ".join(text.split())
    if not text:
        raise QueryError("Type a question to search.")
    return text[:MAX_QUERY_CHARS]


def embedder_for(index: LoadedIndex, model: str | None) -> SentenceTransformerEmbedder:
    """The configured model, or the one recorded in the index when none is configured."""
    if model is None:
        info = index.manifest.model
        model = None if info.name == DEFAULT_MODEL else (info.path or info.name)
    return SentenceTransformerEmbedder(model)


def check_compatible(index: LoadedIndex, embedder: Embedder, root: Path) -> None:
    info = index.manifest.model
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


class Searcher:
    """Search one index folder. Thread-safe for concurrent ``search`` calls."""

    def __init__(self, index_dir: Path | str, *, embedder: Embedder | None = None, model: str | None = None):
        self.root = Path(index_dir)
        self.index = load_index(self.root)
        self.embedder: Embedder = embedder or embedder_for(self.index, model)
        check_compatible(self.index, self.embedder, self.root)

    @property
    def passages(self) -> list[Passage]:
        return self.index.passages

    @property
    def manifest(self) -> Manifest:
        return self.index.manifest

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` passages most relevant to ``query``, best first.

        Raises:
            QueryError: the question is empty once cleaned.
        """
        text = clean_query(query)
        if k < 1:
            return []
        vector = self.embedder.embed([self.manifest.query_prefix + text])
        rows = knn(self.index.vectors, vector, k)[0]
        return [Hit(self.passages[row], score, rank, {"dense": rank}) for rank, (row, score) in enumerate(rows, 1)]
