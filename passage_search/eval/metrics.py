"""Ranking metrics per query, in plain Python: nDCG@k, MRR@k, Recall@k, Hit@k (ranx's names and definitions);
the mean recall curve and the latency percentiles.

ranx computes the same numbers, but through numba: its first call in a fresh process compiled for 210 s on
a busy two-core machine (and reloading numba's cache still took 44 s), with the evaluate page's bar frozen.
A few thousand rankings of at most a few hundred documents take milliseconds here, with no compiler.
tests/eval/test_metrics.py checks every metric against ranx on fixed runs.

As in ranx (and trec_eval, BEIR): a document is relevant when its grade is at least 1, and nDCG uses the
grade as the gain (Järvelin and Kekäläinen: DCG = sum of grade / log2(rank + 1)).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from math import log2

from passage_search.eval.beir import EvalError

Grades = Mapping[str, int]


def _relevant(grades: Grades) -> dict[str, int]:
    return {doc: g for doc, g in grades.items() if g >= 1}


def ndcg(grades: Grades, ranking: Sequence[str], k: int) -> float:
    """DCG of the top ``k`` over the DCG of the ideal top ``k`` (0 when nothing is relevant)."""
    relevant = _relevant(grades)
    dcg = sum(relevant.get(doc, 0) / log2(i + 2) for i, doc in enumerate(ranking[:k]))
    ideal = sum(g / log2(i + 2) for i, g in enumerate(sorted(relevant.values(), reverse=True)[:k]))
    return dcg / ideal if ideal else 0.0


def mrr(grades: Grades, ranking: Sequence[str], k: int) -> float:
    """1 / the rank of the first relevant document in the top ``k``, 0 if there is none."""
    relevant = _relevant(grades)
    return next((1 / i for i, doc in enumerate(ranking[:k], 1) if doc in relevant), 0.0)


def recall(grades: Grades, ranking: Sequence[str], k: int) -> float:
    """The share of the relevant documents that are in the top ``k``."""
    relevant = _relevant(grades)
    return sum(doc in relevant for doc in ranking[:k]) / len(relevant) if relevant else 0.0


def hit_rate(grades: Grades, ranking: Sequence[str], k: int) -> float:
    """1 if a relevant document is in the top ``k``, else 0."""
    relevant = _relevant(grades)
    return float(any(doc in relevant for doc in ranking[:k]))


FUNCTIONS: dict[str, Callable[[Grades, Sequence[str], int], float]] = {
    "ndcg": ndcg,
    "mrr": mrr,
    "recall": recall,
    "hit_rate": hit_rate,
}


def parse(metric: str) -> tuple[Callable[[Grades, Sequence[str], int], float], int]:
    """``"ndcg@10"`` -> (ndcg, 10); an unknown name or a missing or bad cutoff is refused in one sentence."""
    name, _, cutoff = metric.partition("@")
    if name not in FUNCTIONS or not cutoff.isdigit() or int(cutoff) < 1:
        known = ", ".join(f"{n}@k" for n in FUNCTIONS)
        raise EvalError(f"Unknown metric {metric!r}; use one of {known} with k at least 1.")
    return FUNCTIONS[name], int(cutoff)


def score(
    qrels: Mapping[str, Grades], rankings: Mapping[str, Sequence[str]], metrics: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per-query metrics for document rankings (best first): {query id: {metric: value}}."""
    parsed = [(m, *parse(m)) for m in metrics]
    return {
        qid: {m: fn(qrels.get(qid, {}), docs, k) for m, fn, k in parsed} for qid, docs in rankings.items()
    }


def recall_curve(
    qrels: Mapping[str, Mapping[str, int]], rankings: Mapping[str, Sequence[str]], depth: int
) -> tuple[float, ...]:
    """Mean Recall@1 .. Recall@depth over the queries."""
    totals = [0.0] * depth
    for qid, docs in rankings.items():
        relevant, found = qrels[qid], 0
        for i in range(depth):
            found += i < len(docs) and docs[i] in relevant
            totals[i] += found / len(relevant)
    return tuple(t / max(1, len(rankings)) for t in totals)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between the nearest values (numpy's default); 0 for none."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
