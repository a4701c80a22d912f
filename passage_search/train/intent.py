"""The intent classifier: which kind of section a question asks for (treatment, symptoms, outlook...).

A multinomial logistic regression over the embedding model's question vectors, trained on MedQuAD questions
(no cancer.gov answer among them): each question's type is the part of its answer's title after " — ".
At most ``per_type`` questions per type, drawn by the seed, so the common types do not drown the rare ones.
The result is two small arrays that ``search/intent.py`` reads with numpy alone; the type of a heading is
read the same way on both sides (``search.intent.section_kind``).
"""

from __future__ import annotations

import collections
import hashlib
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from passage_search.embed.base import Embedder
from passage_search.errors import PassageSearchError
from passage_search.search.intent import INTENT_ARRAYS, INTENT_CARD, section_kind


def questions_by_kind(pairs_file: Path, per_type: int, seed: int) -> list[tuple[str, str]]:
    """(question, type) training rows: at most ``per_type`` per type, drawn by ``seed``, types in sorted order."""
    by_kind: dict[str, list[str]] = collections.defaultdict(list)
    with open(pairs_file, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            kind = section_kind(row["title"])
            if kind:
                by_kind[kind].append(row["query"])
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    for kind in sorted(by_kind):
        questions = by_kind[kind]
        rng.shuffle(questions)
        rows += [(q, kind) for q in questions[:per_type]]
    return rows


def train_intent(
    data: Path, out: Path, embedder: Embedder, *, per_type: int = 400, seed: int = 0, c: float = 2.0
) -> dict[str, Any]:
    """Fit the classifier on ``data``/medquad_pairs.jsonl and write ``out``/intent.npz and intent.json."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # a dependency of sentence-transformers, so normally present
        raise PassageSearchError("Training the intent classifier needs scikit-learn: pip install scikit-learn.") \
            from exc

    pairs = data / "medquad_pairs.jsonl"
    if not pairs.is_file():
        raise PassageSearchError(f"{pairs} is missing; point --data at the training folder.")
    started = time.perf_counter()
    rows = questions_by_kind(pairs, per_type, seed)
    vectors = np.asarray(embedder.embed([q for q, _ in rows], batch_size=64), dtype=np.float32)
    model = LogisticRegression(max_iter=2000, C=c).fit(vectors, [k for _, k in rows])
    out.mkdir(parents=True, exist_ok=True)
    np.savez(
        out / INTENT_ARRAYS,
        weights=np.asarray(model.coef_, dtype=np.float32),
        bias=np.asarray(model.intercept_, dtype=np.float32),
        classes=np.asarray(model.classes_, dtype=str),
    )
    card = {
        "what": "question type classifier (multinomial logistic regression on question vectors)",
        "model": {"name": embedder.name, "fingerprint": embedder.fingerprint},
        "data": {"file": pairs.name, "sha256": hashlib.sha256(pairs.read_bytes()).hexdigest()},
        "per_type": per_type, "seed": seed, "C": c,
        "counts": dict(collections.Counter(k for _, k in rows)),
        "training_accuracy": round(float(model.score(vectors, [k for _, k in rows])), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / INTENT_CARD).write_text(json.dumps(card, indent=2) + "\n", "utf-8")
    return card
