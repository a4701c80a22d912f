"""How questions are searched: the retrieval mode, the fusion and its weights, and the query rewrites."""

from __future__ import annotations

from dataclasses import dataclass

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

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise QueryError(f"Unknown search mode {self.mode!r}; choose one of {', '.join(MODES)}.")
        if self.fusion not in FUSIONS:
            raise QueryError(f"Unknown fusion {self.fusion!r}; choose one of {', '.join(FUSIONS)}.")

    @property
    def weights(self) -> dict[str, float]:
        return {"dense": self.dense_weight, "heading": self.heading_weight, "lexical": self.lexical_weight}
