"""Fusion of ranked lists from several retrievers, as pure functions over (row, score) lists."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet

Ranking = Sequence[tuple[int, float]]


def _ordered(scores: dict[int, float]) -> list[tuple[int, float]]:
    # Ties broken by row so fusion is deterministic.
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def rrf(rankings: Mapping[str, Ranking], *, k: float = 60.0, weights: Mapping[str, float] | None = None) -> list[
    tuple[int, float]
]:
    """Reciprocal-rank fusion: score(row) = sum over retrievers of weight / (k + rank)."""
    fused: dict[int, float] = {}
    for name, ranking in rankings.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, (row, _score) in enumerate(ranking, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    return _ordered(fused)


def normalized(ranking: Ranking) -> dict[int, float]:
    """Min-max normalise one retriever's scores to [0, 1] over its candidates."""
    if not ranking:
        return {}
    values = [s for _, s in ranking]
    low, high = min(values), max(values)
    span = high - low
    return {row: (s - low) / span if span > 0 else 1.0 for row, s in ranking}


def convex(rankings: Mapping[str, Ranking], *, weights: Mapping[str, float]) -> list[tuple[int, float]]:
    """Weighted sum of min-max normalised scores; a row a retriever did not return scores 0 there."""
    return _weighted_sum(rankings, weights, normalized)


def _weighted_sum(
    rankings: Mapping[str, Ranking], weights: Mapping[str, float], normalise: Callable[[Ranking], dict[int, float]]
) -> list[tuple[int, float]]:
    fused: dict[int, float] = {}
    for name, ranking in rankings.items():
        weight = weights.get(name, 1.0)
        for row, value in normalise(ranking).items():
            fused[row] = fused.get(row, 0.0) + weight * value
    return _ordered(fused)


def distribution_normalized(ranking: Ranking) -> dict[int, float]:
    """Scale one retriever's scores so its mean - 3 sd maps to 0 and mean + 3 sd to 1.

    Unlike min-max, one outlier does not squash the rest: a retriever whose scores are all close
    (no clear winner) contributes little spread, one with a clear winner contributes a lot.
    """
    if not ranking:
        return {}
    values = [s for _, s in ranking]
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    if sd == 0:
        return {row: 1.0 for row, _ in ranking}
    low = mean - 3 * sd
    return {row: (s - low) / (6 * sd) for row, s in ranking}


def dbsf(rankings: Mapping[str, Ranking], *, weights: Mapping[str, float]) -> list[tuple[int, float]]:
    """Distribution-based score fusion: weighted sum of mean/sd-normalised scores (absent rows add 0)."""
    return _weighted_sum(rankings, weights, distribution_normalized)


def fuse(
    rankings: Mapping[str, Ranking], mode: str, fusion: str, weights: Mapping[str, float], *, rrf_k: float
) -> list[tuple[int, float]]:
    """One ranked list from the retrievers' lists; in a single-retriever mode that retriever's list.

    A retriever weighted 0 is left out.
    """
    if mode != "hybrid":
        return list(rankings[mode])
    used = {name: ranking for name, ranking in rankings.items() if weights.get(name, 0.0) > 0}
    if fusion == "rrf":
        return rrf(used, k=rrf_k, weights=weights)
    if fusion == "dbsf":
        return dbsf(used, weights=weights)
    return convex(used, weights=weights)


def demote_notices(
    fused: Sequence[tuple[int, float]], rankings: Mapping[str, Ranking], notice_rows: AbstractSet[int]
) -> list[tuple[int, float]]:
    """Move notice rows (disclaimer, copyright) after every other row.

    The page always shows the disclaimer; as a search result it only pushes answers down, unless several
    retrievers all put it first: then the question is about the notice itself.
    """
    if not notice_rows:
        return list(fused)
    firsts = [ranking[0][0] if ranking else None for ranking in rankings.values()]
    kept = {row for row in notice_rows if len(firsts) > 1 and all(first == row for first in firsts)}
    demoted = notice_rows - kept
    return [x for x in fused if x[0] not in demoted] + [x for x in fused if x[0] in demoted]


def boost_by_intent(
    fused: Ranking, kinds: Sequence[int], probabilities: Sequence[float], *, weight: float, sure: float, rrf_k: float
) -> list[tuple[int, float]]:
    """Raise the rows whose section is of the type the question most likely asks for.

    Only when the classifier is ``sure`` (its most likely type has at least that probability): a row of type
    t gains ``weight`` x p(t) / (rrf_k + 1), as if one more retriever had ranked it first with that confidence.
    ``kinds[row]`` is the row's type index, -1 for a section that names no type (those never move by
    themselves). The result is re-sorted; an unsure question keeps its order.
    """
    if weight <= 0 or not len(probabilities) or max(probabilities) < sure:
        return list(fused)
    unit = weight / (rrf_k + 1)
    boosted = {row: score + (unit * probabilities[kinds[row]] if kinds[row] >= 0 else 0.0) for row, score in fused}
    return _ordered(boosted)
