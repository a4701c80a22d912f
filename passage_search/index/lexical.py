"""The lexical retriever: BM25 (bm25s) over stemmed, spelling-folded words of each passage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from passage_search.analysis import Vocabulary, analyze, corpus_word_counts
from passage_search.passage import Passage

if TYPE_CHECKING:
    import bm25s

WORDS_FILE = "words.json"


def lexical_text(passage: Passage, heading_weight: int = 1) -> str:
    return "\n".join([passage.breadcrumb] * heading_weight + [passage.text])


class LexicalIndex:
    """BM25 over passages; row i is passage i, as in the vector index."""

    def __init__(self, bm25: bm25s.BM25, word_counts: dict[str, int]) -> None:
        self.bm25 = bm25
        self.word_counts = word_counts

    @classmethod
    def build(cls, passages: Sequence[Passage], vocabulary: Vocabulary, *, heading_weight: int = 1) -> LexicalIndex:
        import bm25s

        texts = [lexical_text(p, heading_weight) for p in passages]
        bm25 = bm25s.BM25()
        # A passage with no indexable word still needs its row so row numbers match the vectors.
        bm25.index([analyze(t, vocabulary) or [""] for t in texts], show_progress=False)
        return cls(bm25, corpus_word_counts(texts, vocabulary))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.bm25.save(str(folder), show_progress=False)
        (folder / WORDS_FILE).write_text(json.dumps(self.word_counts, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        bm25 = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
        counts = json.loads((folder / WORDS_FILE).read_text("utf-8"))
        return cls(bm25, counts)

    @property
    def size(self) -> int:
        return int(self.bm25.scores["num_docs"])

    @cached_property
    def document_frequencies(self) -> dict[str, int]:
        """Each index term's number of passages (title and headings included, as BM25 indexes them)."""
        # bm25s keeps a sparse matrix by term: column t's entries are the passages containing term t.
        frequency = np.diff(np.asarray(self.bm25.scores["indptr"]))
        return {term: int(frequency[i]) for term, i in self.bm25.vocab_dict.items() if term and i < len(frequency)}

    def search(self, terms: Sequence[str], k: int, *, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` best (row, score) pairs for already analysed ``terms``; rows with no match left out.

        ``within``: if given, only these rows can be returned.
        """
        ids = self.bm25.get_tokens_ids(list(terms))
        if not ids or k <= 0:
            return []
        scores = np.asarray(self.bm25.get_scores_from_ids(ids), dtype=np.float32)
        if within is not None:
            mask = np.zeros_like(scores)
            mask[within] = 1.0
            scores = scores * mask
        k = min(k, int(np.count_nonzero(scores > 0)))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        order = sorted(top.tolist(), key=lambda r: (-float(scores[r]), r))
        return [(int(r), float(scores[r])) for r in order]
