"""Dev metrics for a trained model: pure functions over similarity arrays, and one run over the dev data.

- RQE dev accuracy: "does this FAQ's answer answer this question", predicted as cosine >= a threshold,
  at the threshold that is best on the dev pairs themselves (so an optimistic figure, the same for every model).
- MedQuAD held-out MRR@10 and Hit@1: held-out questions ranked among every held-out answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from passage_search.train.data import DevData

Encode = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised vectors, one row each


def best_threshold_accuracy(similarities: np.ndarray, labels: Sequence[bool]) -> tuple[float, float]:
    """(accuracy, threshold) of predicting "true" for similarity >= threshold, at the best threshold."""
    sims = np.asarray(similarities, dtype=np.float64)
    truth = np.asarray(labels, dtype=bool)
    if len(sims) == 0:
        return 0.0, 0.0
    order = np.argsort(-sims, kind="stable")
    sims, truth = sims[order], truth[order]
    # Predicting "true" for the first k pairs: true positives so far, plus the negatives left below the cut.
    tp = np.concatenate([[0], np.cumsum(truth)])
    fp = np.concatenate([[0], np.cumsum(~truth)])
    correct = tp + (int((~truth).sum()) - fp)
    k = int(np.argmax(correct))
    if k == 0:
        threshold = float(sims[0]) + 1e-6
    elif k == len(sims):
        threshold = float(sims[-1])
    else:
        threshold = float((sims[k - 1] + sims[k]) / 2)
    return float(correct[k]) / len(sims), threshold


def ranking_metrics(similarities: np.ndarray, relevant: Sequence[frozenset[int]], k: int = 10) -> dict[str, float]:
    """Mean MRR@k and Hit@1 of each row's ranking of the columns (best first)."""
    if len(relevant) == 0:
        return {f"mrr@{k}": 0.0, "hit@1": 0.0}
    reciprocal, hits = [], []
    for row, wanted in zip(np.asarray(similarities), relevant, strict=True):
        top = np.argsort(-row, kind="stable")[:k]
        rank = next((i for i, col in enumerate(top.tolist(), 1) if col in wanted), None)
        reciprocal.append(1.0 / rank if rank else 0.0)
        hits.append(1.0 if rank == 1 else 0.0)
    return {f"mrr@{k}": float(np.mean(reciprocal)), "hit@1": float(np.mean(hits))}


def dev_metrics(encode: Encode, dev: DevData) -> dict[str, float]:
    """The card's dev figures for one model."""
    out: dict[str, float] = {}
    if dev.questions:
        questions, passages = encode(list(dev.questions)), encode(list(dev.passages))
        ranked = ranking_metrics(questions @ passages.T, dev.relevant)
        out.update({f"medquad_heldout_{name}": round(value, 4) for name, value in ranked.items()})
    if dev.rqe:
        left, right = encode([q for q, _, _ in dev.rqe]), encode([f for _, f, _ in dev.rqe])
        accuracy, threshold = best_threshold_accuracy((left * right).sum(axis=1), [lab for *_, lab in dev.rqe])
        out.update({"rqe_dev_accuracy": round(accuracy, 4), "rqe_dev_threshold": round(threshold, 4)})
    return out
