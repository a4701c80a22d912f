"""Feasibility of an intent signal: does a question-type classifier trained on MedQuAD questions (no cancer.gov
answer among them) predict the section type of the right cancer.gov passage? (TUNE parts only)

    python experiments/intent_probe.py

Logistic regression over the packaged model's question vectors, at most 400 training questions per type
(the type is the part of a MedQuAD title after " — "). For each tune question, the predicted type is right
when it is the type of a relevant passage's section ("X — Treatment"). "Stages" has no training question.
"""

from __future__ import annotations

import collections
import json
import random
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from passage_search.embed.factory import make_embedder
from passage_search.eval.beir import load_beir

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SHARED = REPO.parent / "shared" / "data"
CANCERGOV = SHARED / "cancergov"


def section_type(title: str) -> str:
    return title.split(" — ")[-1].lower()


def train_classifier() -> tuple[LogisticRegression, object]:
    """The classifier and the embedder it reads (the packaged model)."""
    rng = random.Random(0)
    by_type: dict[str, list[str]] = collections.defaultdict(list)
    with open(SHARED / "train" / "medquad_pairs.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            by_type[section_type(row["title"])].append(row["query"])
    train: list[tuple[str, str]] = []
    for kind, questions in by_type.items():
        rng.shuffle(questions)
        train += [(q, kind) for q in questions[:400]]
    embedder = make_embedder(None)
    classifier = LogisticRegression(max_iter=2000, C=2.0).fit(
        embedder.embed([q for q, _ in train], batch_size=64), [k for _, k in train]
    )
    return classifier, embedder


def main() -> None:
    classifier, embedder = train_classifier()
    with open(CANCERGOV / "corpus.jsonl", encoding="utf-8") as fh:
        types = {doc["_id"]: section_type(doc["title"]) for doc in map(json.loads, fh)}
    corpus = CANCERGOV / "corpus.jsonl"
    sets = [
        ("cancergov_lay", load_beir(DATA / "cancergov_lay", corpus=corpus, split="tune",
                                    splits=DATA / "splits" / "cancergov_lay.tsv")),
        ("cancergov_blind", load_beir(DATA / "cancergov_blind", corpus=corpus, split="tune")),
        ("cancergov_dev", load_beir(CANCERGOV, split="tune", splits=DATA / "splits" / "cancergov_dev.tsv")),
    ]
    for name, dataset in sets:
        asked = list(dataset.queries.items())
        probabilities = classifier.predict_proba(embedder.embed([text for _, text in asked], batch_size=64))
        first = second = 0
        for (qid, _), p in zip(asked, probabilities, strict=True):
            gold = {types[d] for d in dataset.qrels[qid]}
            order = [classifier.classes_[i] for i in np.argsort(-p)]
            first += order[0] in gold
            second += bool(set(order[:2]) & gold)
        n = len(asked)
        print(f"{name} ({n}): predicted type right {first / n:.3f}, in the first two {second / n:.3f}")


if __name__ == "__main__":
    main()
