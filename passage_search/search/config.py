"""How questions are searched: the retrieval mode, the fusion and its weights, and the query rewrites."""

from __future__ import annotations

from dataclasses import dataclass, replace

from passage_search.errors import QueryError

MODES = ("dense", "lexical", "hybrid")
FUSIONS = ("rrf", "convex", "dbsf")


@dataclass(frozen=True)
class SearchConfig:
    """How questions are searched.

    The fusion defaults were chosen by 5-fold cross-validation on the two development query sets
    (experiments/tune_fusion.py; figures in docs/ranking.md).
    """

    mode: str = "hybrid"
    fusion: str = "rrf"
    rrf_k: float = 30.0
    dense_weight: float = 1.0
    heading_weight: float = 0.25
    lexical_weight: float = 0.25
    candidates: int = 100
    fold_spelling: bool = True
    expand_lexical: bool = True
    expand_dense: bool = True
    correct_spelling: bool = True
    demote_notices: bool = True
    # The cross-encoder reranker (passage_search.rerank): off by default; the fused top ``rerank_depth``
    # hits are rescored and reordered, mixed with their fused rank by ``rerank_blend`` (0: the reranker's
    # order alone). Measured in docs/training.md, "Reranker".
    # The intent boost (search/intent.py, fusion.boost_by_intent): chosen on the tune parts
    # (experiments/intent_boost.py, docs/ranking.md); 0 turns it off.
    intent_weight: float = 0.5
    intent_sure: float = 0.9
    rerank: bool = False
    rerank_depth: int = 20
    rerank_blend: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise QueryError(f"Unknown search mode {self.mode!r}; choose one of {', '.join(MODES)}.")
        if self.fusion not in FUSIONS:
            raise QueryError(f"Unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}.")
        if self.rerank_depth < 1 or self.rerank_blend < 0:
            raise QueryError(f"The rerank depth must be at least 1 and the blend at least 0, got "
                             f"{self.rerank_depth} and {self.rerank_blend}.")

    def as_typed(self) -> SearchConfig:
        """This config searching the words as typed ("Search instead for …", ``exact``): no misspelling repair
        and no lay-term expansion. British spellings are still folded: that is how the index spells every word,
        not a change of word."""
        return replace(self, correct_spelling=False, expand_lexical=False, expand_dense=False)

    @property
    def as_typed_only(self) -> bool:
        """Whether this config searches the words as typed (nothing repaired, nothing added)."""
        return not (self.correct_spelling or self.expand_lexical or self.expand_dense)

    @property
    def weights(self) -> dict[str, float]:
        return {"dense": self.dense_weight, "heading": self.heading_weight, "lexical": self.lexical_weight}
